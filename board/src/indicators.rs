//! Outputs the firmware switches: LEDs and the ringer.
//!
//! [`Indicators`] is what the firmware calls. [`OutputCore`] is the sans-IO timing (blink
//! phases, ring cadence); [`IndicatorThread`] is the hardware shell, a thread that owns the
//! output lines and sleeps until the next edge.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use embedded_hal::digital::OutputPin;

use crate::cadence::Cadence;
use crate::error::{BoardError, Result};
use crate::led::{Led, LedMode};

/// LEDs and ringer, as the firmware sees them. Calls never block on hardware.
pub trait Indicators: Send {
    fn set_led(&mut self, led: Led, mode: LedMode);
    /// `Some(cadence)` rings with that cadence; `None` silences the ringer.
    fn set_ringer(&mut self, cadence: Option<Cadence>);
}

/// Something that can be switched on and off: an LED, an active buzzer, a PWM channel.
pub trait Switch: Send {
    fn set(&mut self, on: bool) -> Result<()>;
    fn name(&self) -> &str;
}

/// An embedded-hal output pin as a [`Switch`], active high or low.
pub struct PinSwitch<P> {
    name: String,
    pin: P,
    active_low: bool,
}

impl<P: OutputPin + Send> PinSwitch<P> {
    pub fn new(name: impl Into<String>, pin: P, active_low: bool) -> Self {
        PinSwitch {
            name: name.into(),
            pin,
            active_low,
        }
    }
}

impl<P: OutputPin + Send> Switch for PinSwitch<P> {
    fn set(&mut self, on: bool) -> Result<()> {
        let high = on != self.active_low;
        let r = if high {
            self.pin.set_high()
        } else {
            self.pin.set_low()
        };
        r.map_err(|e| BoardError::pin(self.name.as_str(), e))
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// A ring sound that keeps its own time (a ring tone on a playback device).
pub trait RingTone: Send {
    fn start(&mut self, cadence: &Cadence) -> Result<()>;
    fn stop(&mut self) -> Result<()>;
}

/// How the ringer is driven.
pub enum RingerDrive {
    /// No ringer fitted.
    None,
    /// Switched on and off with the cadence (active buzzer on a GPIO, PWM channel).
    Switch(Box<dyn Switch>),
    /// Plays its own cadence (ring tone on a playback device).
    Tone(Box<dyn RingTone>),
}

/// Sans-IO output state: which LEDs and ringer are on at a given time.
#[derive(Debug, Clone, Default)]
pub struct OutputCore {
    leds: BTreeMap<Led, (LedMode, Instant)>,
    ringer: Option<(Cadence, Instant)>,
}

impl OutputCore {
    pub fn new() -> Self {
        OutputCore::default()
    }

    /// Sets an LED's mode; setting the current mode again keeps the blink phase.
    pub fn set_led(&mut self, led: Led, mode: LedMode, now: Instant) {
        if self.leds.get(&led).map(|(m, _)| *m) != Some(mode) {
            self.leds.insert(led, (mode, now));
        }
    }

    /// Starts, changes or stops ringing; the same cadence again keeps its phase.
    pub fn set_ringer(&mut self, cadence: Option<Cadence>, now: Instant) {
        match cadence {
            None => self.ringer = None,
            Some(c) => {
                if self.ringer.as_ref().map(|(r, _)| r) != Some(&c) {
                    self.ringer = Some((c, now));
                }
            }
        }
    }

    pub fn led_mode(&self, led: Led) -> LedMode {
        self.leds.get(&led).map_or(LedMode::Off, |(m, _)| *m)
    }

    pub fn led_lit(&self, led: Led, now: Instant) -> bool {
        self.leds
            .get(&led)
            .is_some_and(|(mode, since)| mode.is_lit(*since, now))
    }

    /// The cadence the ringer is ringing with.
    pub fn ringer(&self) -> Option<&Cadence> {
        self.ringer.as_ref().map(|(c, _)| c)
    }

    /// Whether the ringer sounds at `now` (inside an "on" segment).
    pub fn ringer_sounding(&self, now: Instant) -> bool {
        self.ringer
            .as_ref()
            .is_some_and(|(c, since)| c.is_on(now.saturating_duration_since(*since)))
    }

    /// The next instant any output changes by itself.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let leds = self
            .leds
            .values()
            .filter_map(|(mode, since)| mode.next_change(*since, now));
        let ringer = self
            .ringer
            .as_ref()
            .and_then(|(c, since)| c.next_change(*since, now));
        leds.chain(ringer).min()
    }
}

enum Command {
    Led(Led, LedMode),
    Ringer(Option<Cadence>),
}

/// Drives LED and ringer outputs from a thread; implements [`Indicators`].
///
/// Output errors are logged once per line (an LED failing must not stop the phone).
/// Dropping it turns every output off.
pub struct IndicatorThread {
    tx: Option<mpsc::Sender<Command>>,
    handle: Option<JoinHandle<()>>,
}

impl IndicatorThread {
    pub fn spawn(leds: Vec<(Led, Box<dyn Switch>)>, ringer: RingerDrive) -> Result<Self> {
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("indicators".into())
            .spawn(move || run_indicators(rx, leds, ringer))
            .map_err(|e| BoardError::io("spawning the indicator thread", e))?;
        Ok(IndicatorThread {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    fn send(&self, cmd: Command) {
        if let Some(tx) = &self.tx
            && tx.send(cmd).is_err()
        {
            tracing::error!("indicator thread has stopped");
        }
    }
}

impl Indicators for IndicatorThread {
    fn set_led(&mut self, led: Led, mode: LedMode) {
        self.send(Command::Led(led, mode));
    }

    fn set_ringer(&mut self, cadence: Option<Cadence>) {
        self.send(Command::Ringer(cadence));
    }
}

impl Drop for IndicatorThread {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

struct Line {
    switch: Box<dyn Switch>,
    level: Option<bool>,
    failed: bool,
}

impl Line {
    fn apply(&mut self, on: bool) {
        if self.level == Some(on) {
            return;
        }
        match self.switch.set(on) {
            Ok(()) => {
                self.level = Some(on);
                self.failed = false;
            }
            Err(e) => {
                if !self.failed {
                    tracing::error!("output {}: {e}", self.switch.name());
                }
                self.failed = true;
            }
        }
    }
}

fn run_indicators(
    rx: mpsc::Receiver<Command>,
    leds: Vec<(Led, Box<dyn Switch>)>,
    ringer: RingerDrive,
) {
    let mut core = OutputCore::new();
    let mut lines: Vec<(Led, Line)> = leds
        .into_iter()
        .map(|(led, switch)| {
            (
                led,
                Line {
                    switch,
                    level: None,
                    failed: false,
                },
            )
        })
        .collect();
    let (mut ring_line, mut tone) = match ringer {
        RingerDrive::None => (None, None),
        RingerDrive::Switch(switch) => (
            Some(Line {
                switch,
                level: None,
                failed: false,
            }),
            None,
        ),
        RingerDrive::Tone(tone) => (None, Some(tone)),
    };
    let mut tone_playing: Option<Cadence> = None;
    loop {
        let now = Instant::now();
        for (led, line) in lines.iter_mut() {
            line.apply(core.led_lit(*led, now));
        }
        if let Some(line) = ring_line.as_mut() {
            line.apply(core.ringer_sounding(now));
        }
        if let Some(tone) = tone.as_mut()
            && core.ringer() != tone_playing.as_ref()
        {
            let result = match core.ringer() {
                Some(c) => tone.start(c),
                None => tone.stop(),
            };
            if let Err(e) = result {
                tracing::error!("ring tone: {e}");
            }
            tone_playing = core.ringer().cloned();
        }
        let cmd = match core.next_deadline(now) {
            Some(deadline) => match rx.recv_timeout(deadline.saturating_duration_since(now)) {
                Ok(cmd) => Some(cmd),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(cmd) => Some(cmd),
                Err(_) => break,
            },
        };
        let now = Instant::now();
        match cmd {
            Some(Command::Led(led, mode)) => core.set_led(led, mode, now),
            Some(Command::Ringer(c)) => core.set_ringer(c, now),
            None => {}
        }
    }
    // Shutting down: everything off.
    for (_, line) in lines.iter_mut() {
        line.apply(false);
    }
    if let Some(line) = ring_line.as_mut() {
        line.apply(false);
    }
    if let Some(tone) = tone.as_mut()
        && tone_playing.is_some()
        && let Err(e) = tone.stop()
    {
        tracing::error!("ring tone: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn core_follows_cadence_and_blink() {
        let t0 = Instant::now();
        let mut core = OutputCore::new();
        core.set_led(Led::Message, LedMode::blink(1000), t0);
        core.set_ringer(Some(Cadence::uk()), t0);
        assert!(core.led_lit(Led::Message, t0));
        assert!(core.ringer_sounding(t0));
        assert_eq!(
            core.next_deadline(t0),
            Some(t0 + Duration::from_millis(400))
        );
        let t1 = t0 + Duration::from_millis(450);
        assert!(!core.ringer_sounding(t1));
        // Setting the same cadence again keeps the phase.
        core.set_ringer(Some(Cadence::uk()), t1);
        assert!(!core.ringer_sounding(t1));
        core.set_ringer(None, t1);
        assert!(!core.ringer_sounding(t0 + Duration::from_millis(700)));
        assert!(!core.led_lit(Led::Mute, t1));
    }
}
