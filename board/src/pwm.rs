//! A Linux PWM channel through sysfs (`/sys/class/pwm/pwmchipN/pwmM`), for a passive
//! buzzer: switched on and off with the ring cadence at a fixed tone frequency.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{BoardError, Result};
use crate::indicators::Switch;

/// One exported PWM channel.
pub struct SysfsPwm {
    dir: PathBuf,
    name: String,
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| BoardError::Device {
        path: path.into(),
        message: format!("writing {value:?}: {e}"),
    })
}

impl SysfsPwm {
    /// Opens channel `channel` of `pwmchip{chip}` under `/sys/class/pwm`.
    pub fn open(chip: u32, channel: u32, frequency_hz: u32, duty_percent: u8) -> Result<SysfsPwm> {
        Self::open_at(
            Path::new("/sys/class/pwm"),
            chip,
            channel,
            frequency_hz,
            duty_percent,
        )
    }

    /// Same, under another sysfs root (tests).
    pub fn open_at(
        root: &Path,
        chip: u32,
        channel: u32,
        frequency_hz: u32,
        duty_percent: u8,
    ) -> Result<SysfsPwm> {
        let chip_dir = root.join(format!("pwmchip{chip}"));
        if !chip_dir.is_dir() {
            return Err(BoardError::Device {
                path: chip_dir,
                message: "PWM chip not found (enable it, e.g. dtoverlay=pwm-2chan on a Pi)".into(),
            });
        }
        let dir = chip_dir.join(format!("pwm{channel}"));
        if !dir.is_dir() {
            write(&chip_dir.join("export"), &channel.to_string())?;
            // udev may take a moment to create the directory and fix its permissions.
            let deadline = Instant::now() + Duration::from_secs(1);
            while !dir.join("enable").exists() {
                if Instant::now() >= deadline {
                    return Err(BoardError::Device {
                        path: dir,
                        message: "PWM channel did not appear after export".into(),
                    });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let period = 1_000_000_000 / u64::from(frequency_hz.clamp(20, 100_000));
        let duty = period * u64::from(duty_percent.min(100)) / 100;
        write(&dir.join("enable"), "0")?;
        // The duty cycle must never exceed the period, so shrink it first.
        write(&dir.join("duty_cycle"), "0")?;
        write(&dir.join("period"), &period.to_string())?;
        write(&dir.join("duty_cycle"), &duty.to_string())?;
        Ok(SysfsPwm {
            name: format!("pwmchip{chip}/pwm{channel}"),
            dir,
        })
    }
}

impl Switch for SysfsPwm {
    fn set(&mut self, on: bool) -> Result<()> {
        write(&self.dir.join("enable"), if on { "1" } else { "0" })
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configures_and_switches_a_channel() {
        let root = tempfile::tempdir().unwrap();
        let ch = root.path().join("pwmchip0/pwm1");
        std::fs::create_dir_all(&ch).unwrap();
        std::fs::write(ch.join("enable"), "0").unwrap();
        let mut pwm = SysfsPwm::open_at(root.path(), 0, 1, 2000, 50).unwrap();
        assert_eq!(
            std::fs::read_to_string(ch.join("period")).unwrap(),
            "500000"
        );
        assert_eq!(
            std::fs::read_to_string(ch.join("duty_cycle")).unwrap(),
            "250000"
        );
        pwm.set(true).unwrap();
        assert_eq!(std::fs::read_to_string(ch.join("enable")).unwrap(), "1");
        pwm.set(false).unwrap();
        assert_eq!(std::fs::read_to_string(ch.join("enable")).unwrap(), "0");
    }

    #[test]
    fn a_missing_chip_is_a_clear_error() {
        let root = tempfile::tempdir().unwrap();
        let err = SysfsPwm::open_at(root.path(), 3, 0, 2000, 50)
            .err()
            .unwrap();
        assert!(err.to_string().contains("pwmchip3"), "{err}");
    }
}
