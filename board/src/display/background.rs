//! A panel driven from a thread of its own, so that a slow bus never holds up the phone's main
//! loop: a full 128×64 frame takes 23 ms over I2C at 400 kHz, a 240×320 one longer over SPI.
//!
//! [`BackgroundPanel::write_regions`] only hands the newest frame over and returns. The thread
//! sends what changed between that frame and the last one it wrote, so a frame that a newer
//! one replaced before it was sent is skipped without losing any of its changes. A write that
//! fails is reported by the next call, and the thread then sends the whole frame again.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use embedded_graphics::prelude::Point;
use embedded_graphics::primitives::Rectangle;

use super::{Frame, Layout, Panel};
use crate::error::{BoardError, Result};

/// What the caller hands over, and what the thread reports back.
#[derive(Default)]
struct Mailbox {
    /// The newest frame not yet taken by the thread.
    frame: Option<Frame>,
    /// The last write's failure, not yet reported to the caller.
    failure: Option<String>,
    /// A frame is being written (already taken out of `frame`).
    writing: bool,
    /// Frames sent to the panel (for tests and logs).
    written: u64,
    stop: bool,
}

struct Shared {
    mailbox: Mutex<Mailbox>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A [`Panel`] whose writes happen on a thread of its own.
pub struct BackgroundPanel {
    name: String,
    layout: Layout,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundPanel {
    /// Moves `panel` to a new thread that writes the frames handed to it.
    pub fn spawn(mut panel: Box<dyn Panel>) -> Result<BackgroundPanel> {
        let name = panel.name().to_string();
        let layout = panel.layout();
        let shared = Arc::new(Shared {
            mailbox: Mutex::new(Mailbox::default()),
            wake: Condvar::new(),
        });
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("display".into())
            .spawn(move || write_frames(panel.as_mut(), &theirs))
            .map_err(|e| BoardError::Display {
                panel: name.clone(),
                message: format!("cannot start its thread: {e}"),
            })?;
        Ok(BackgroundPanel {
            name,
            layout,
            shared,
            thread: Some(thread),
        })
    }

    /// How many frames the thread has written to the panel.
    pub fn frames_written(&self) -> u64 {
        self.shared.lock().written
    }

    /// Waits until every frame handed over has been written (or has failed).
    pub fn wait_idle(&self) {
        let mut mailbox = self.shared.lock();
        while (mailbox.frame.is_some() || mailbox.writing) && !mailbox.stop {
            mailbox = self
                .shared
                .wake
                .wait(mailbox)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The thread: takes the newest frame, sends what changed since the last one written.
fn write_frames(panel: &mut dyn Panel, shared: &Shared) {
    let mut shown: Option<Frame> = None;
    loop {
        let frame = {
            let mut mailbox = shared.lock();
            loop {
                if mailbox.stop {
                    return;
                }
                if let Some(frame) = mailbox.frame.take() {
                    mailbox.writing = true;
                    break frame;
                }
                mailbox = shared.wake.wait(mailbox).unwrap_or_else(|p| p.into_inner());
            }
        };
        let regions = match &shown {
            Some(shown) => frame.changed_regions(shown),
            None => vec![Rectangle::new(Point::zero(), frame.size())],
        };
        let written = if regions.is_empty() {
            Ok(())
        } else {
            panel.write_regions(&frame, &regions)
        };
        let mut mailbox = shared.lock();
        mailbox.writing = false;
        match written {
            Ok(()) => {
                shown = Some(frame);
                mailbox.written += 1;
            }
            Err(e) => {
                // What the panel shows is unknown now: the next frame goes whole.
                shown = None;
                mailbox.failure = Some(e.to_string());
            }
        }
        drop(mailbox);
        // Wakes wait_idle.
        shared.wake.notify_all();
    }
}

impl Panel for BackgroundPanel {
    fn name(&self) -> &str {
        &self.name
    }

    fn layout(&self) -> Layout {
        self.layout
    }

    /// Hands `frame` to the thread (replacing one it has not taken yet) and returns at once.
    /// `regions` are not needed: the thread compares with what it last wrote.
    fn write_regions(&mut self, frame: &Frame, _regions: &[Rectangle]) -> Result<()> {
        let failure = {
            let mut mailbox = self.shared.lock();
            match &mut mailbox.frame {
                Some(pending) => pending.clone_from(frame),
                None => mailbox.frame = Some(frame.clone()),
            }
            mailbox.failure.take()
        };
        self.shared.wake.notify_all();
        match failure {
            Some(message) => Err(BoardError::Display {
                panel: self.name.clone(),
                message,
            }),
            None => Ok(()),
        }
    }
}

impl Drop for BackgroundPanel {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::MonoFrame;
    use embedded_graphics::pixelcolor::BinaryColor;
    use embedded_graphics::prelude::{Drawable, Pixel, PointsIter};
    use std::time::{Duration, Instant};

    /// A panel on a slow bus that keeps what its glass shows, and can be made to fail once.
    struct SlowPanel {
        glass: Arc<Mutex<MonoFrame>>,
        fail_next: Arc<Mutex<bool>>,
        per_write: Duration,
    }

    impl Panel for SlowPanel {
        fn name(&self) -> &str {
            "slow"
        }
        fn layout(&self) -> Layout {
            Layout::Mono {
                width: 128,
                height: 64,
            }
        }
        fn write_regions(&mut self, frame: &Frame, regions: &[Rectangle]) -> Result<()> {
            std::thread::sleep(self.per_write);
            if std::mem::take(&mut *self.fail_next.lock().unwrap()) {
                return Err(BoardError::Display {
                    panel: "slow".into(),
                    message: "I2C write failed".into(),
                });
            }
            let Frame::Mono(from) = frame else {
                unreachable!("a mono panel")
            };
            // Only the regions sent change on the glass.
            let mut glass = self.glass.lock().unwrap();
            for r in regions {
                for p in r.points() {
                    let on = from.pixel(p.x as u32, p.y as u32);
                    let _ = Pixel(p, BinaryColor::from(on)).draw(&mut *glass);
                }
            }
            Ok(())
        }
    }

    fn lit(points: &[(i32, i32)]) -> MonoFrame {
        let mut f = MonoFrame::new(128, 64);
        for &(x, y) in points {
            let _ = Pixel(Point::new(x, y), BinaryColor::On).draw(&mut f);
        }
        f
    }

    #[test]
    fn writes_return_at_once_and_the_glass_ends_up_showing_the_newest_frame() {
        let glass = Arc::new(Mutex::new(MonoFrame::new(128, 64)));
        let fail_next = Arc::new(Mutex::new(false));
        let mut panel = BackgroundPanel::spawn(Box::new(SlowPanel {
            glass: glass.clone(),
            fail_next: fail_next.clone(),
            per_write: Duration::from_millis(25),
        }))
        .unwrap();
        // Ten frames, each lighting one more pixel, handed over far faster than the bus.
        let mut points = Vec::new();
        let started = Instant::now();
        for i in 0..10 {
            points.push((i * 10, i * 5));
            panel
                .write_regions(&Frame::Mono(lit(&points)), &[])
                .unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_millis(25 * 5),
            "the caller waited for the bus: {:?}",
            started.elapsed()
        );
        panel.wait_idle();
        assert!(
            *glass.lock().unwrap() == lit(&points),
            "every change arrived"
        );
        assert!(
            panel.frames_written() < 10,
            "frames replaced before they went were skipped"
        );

        // A failed write is reported by the next call, and after it the frame goes whole.
        *fail_next.lock().unwrap() = true;
        points.push((127, 63));
        panel
            .write_regions(&Frame::Mono(lit(&points)), &[])
            .unwrap();
        panel.wait_idle();
        // The panel was reset meanwhile (its glass is blank): only a whole frame restores it.
        *glass.lock().unwrap() = MonoFrame::new(128, 64);
        let reported = panel.write_regions(&Frame::Mono(lit(&points)), &[]);
        assert!(
            reported.is_err_and(|e| e.to_string().contains("I2C write failed")),
            "the failure is reported"
        );
        panel.wait_idle();
        assert!(
            *glass.lock().unwrap() == lit(&points),
            "the whole frame went again"
        );
    }
}
