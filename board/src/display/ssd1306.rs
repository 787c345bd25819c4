//! SSD1306 128×64 OLED over I2C (the `ssd1306` crate in basic mode, horizontal addressing):
//! each changed region is one address-window command plus its page bytes, sent as a single
//! I2C write ([`I2cBulk`]; the stock interface splits data into 16-byte writes, which costs
//! a start, an address byte and a control byte per 16 bytes).
//!
//! [`BusRecorder`] is an I2C bus that records what the driver sends and computes how long
//! it takes on the wire, for the `display-bus-time` benchmark and the tests.

use std::path::Path;

use display_interface::{DataFormat, DisplayError, WriteOnlyDataCommand};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use embedded_hal::i2c::{I2c, Operation, SevenBitAddress};
use ssd1306::Ssd1306;
use ssd1306::command::AddrMode;
use ssd1306::mode::BasicMode;
use ssd1306::prelude::*;

use crate::display::{Frame, Layout, Panel};
use crate::error::{BoardError, Result};

/// The SSD1306 I2C protocol with whole writes: a control byte (0x00 commands, 0x40 data)
/// followed by all the bytes in one transaction.
pub struct I2cBulk<I2C> {
    i2c: I2C,
    address: u8,
    buf: Vec<u8>,
}

impl<I2C: I2c> I2cBulk<I2C> {
    pub fn new(i2c: I2C, address: u8) -> Self {
        I2cBulk {
            i2c,
            address,
            buf: Vec::with_capacity(1025),
        }
    }

    pub fn release(self) -> I2C {
        self.i2c
    }

    fn write(
        &mut self,
        control: u8,
        data: DataFormat<'_>,
    ) -> core::result::Result<(), DisplayError> {
        self.buf.clear();
        self.buf.push(control);
        match data {
            DataFormat::U8(bytes) => self.buf.extend_from_slice(bytes),
            DataFormat::U8Iter(iter) => self.buf.extend(iter),
            _ => return Err(DisplayError::DataFormatNotImplemented),
        }
        self.i2c
            .write(self.address, &self.buf)
            .map_err(|_| DisplayError::BusWriteError)
    }
}

impl<I2C: I2c> WriteOnlyDataCommand for I2cBulk<I2C> {
    fn send_commands(&mut self, cmd: DataFormat<'_>) -> core::result::Result<(), DisplayError> {
        self.write(0x00, cmd)
    }

    fn send_data(&mut self, buf: DataFormat<'_>) -> core::result::Result<(), DisplayError> {
        self.write(0x40, buf)
    }
}

/// An SSD1306 on any embedded-hal I2C bus.
pub struct Ssd1306Panel<I2C> {
    display: Ssd1306<I2cBulk<I2C>, DisplaySize128x64, BasicMode>,
    name: String,
}

fn display_err(panel: &str, e: impl std::fmt::Debug) -> BoardError {
    BoardError::Display {
        panel: panel.into(),
        message: format!("{e:?}"),
    }
}

impl<I2C: I2c> Ssd1306Panel<I2C> {
    /// Initialises the controller at `address` (usually 0x3C, or 0x3D).
    pub fn new(i2c: I2C, address: u8, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let interface = I2cBulk::new(i2c, address);
        let mut display = Ssd1306::new(interface, DisplaySize128x64, DisplayRotation::Rotate0);
        display
            .init_with_addr_mode(AddrMode::Horizontal)
            .map_err(|e| display_err(&name, e))?;
        Ok(Ssd1306Panel { display, name })
    }

    /// Gives the bus back (for the bus-time benchmark).
    pub fn release(self) -> I2C {
        self.display.release().release()
    }
}

impl Ssd1306Panel<linux_embedded_hal::I2cdev> {
    /// Opens `/dev/i2c-N` and initialises the display; a missing bus is a clear error.
    pub fn open(bus: &Path, address: u8) -> Result<Self> {
        let i2c = linux_embedded_hal::I2cdev::new(bus).map_err(|e| BoardError::Device {
            path: bus.into(),
            message: format!("cannot open the I2C bus for the SSD1306: {e}"),
        })?;
        Self::new(
            i2c,
            address,
            format!("ssd1306 {}@{address:#04x}", bus.display()),
        )
    }
}

impl<I2C: I2c + Send> Panel for Ssd1306Panel<I2C> {
    fn name(&self) -> &str {
        &self.name
    }

    fn layout(&self) -> Layout {
        Layout::OLED_128X64
    }

    fn write_regions(&mut self, frame: &Frame, regions: &[Rectangle]) -> Result<()> {
        let Frame::Mono(mono) = frame else {
            return Err(display_err(&self.name, "needs a monochrome frame"));
        };
        if mono.size() != Size::new(128, 64) {
            return Err(display_err(&self.name, "needs a 128×64 frame"));
        }
        let mut bytes = Vec::with_capacity(1024);
        for r in regions {
            // Page-align and clip to the panel (regions from MonoFrame already are).
            let x0 = r.top_left.x.clamp(0, 128) as u32;
            let x1 = (x0 + r.size.width).min(128);
            let p0 = (r.top_left.y.clamp(0, 64) as u32) / 8;
            let p1 = ((r.top_left.y.max(0) as u32 + r.size.height).div_ceil(8)).min(8);
            if x1 <= x0 || p1 <= p0 {
                continue;
            }
            bytes.clear();
            for page in p0..p1 {
                bytes.extend_from_slice(mono.page_slice(page, x0, x1));
            }
            self.display
                .set_draw_area((x0 as u8, (p0 * 8) as u8), (x1 as u8, (p1 * 8) as u8))
                .map_err(|e| display_err(&self.name, e))?;
            self.display
                .draw(&bytes)
                .map_err(|e| display_err(&self.name, e))?;
        }
        Ok(())
    }
}

/// An I2C bus that accepts every write and records it, to measure what a driver sends.
#[derive(Debug, Default, Clone)]
pub struct BusRecorder {
    /// Bytes of each write transaction (address byte not included).
    pub transactions: Vec<Vec<u8>>,
}

impl BusRecorder {
    pub fn clear(&mut self) {
        self.transactions.clear();
    }

    /// Bytes sent, excluding address bytes.
    pub fn bytes(&self) -> usize {
        self.transactions.iter().map(Vec::len).sum()
    }

    /// Time on the wire at `clock_hz`: per transaction a start, the address byte, the data
    /// bytes (9 clocks each, with ACK) and a stop.
    pub fn bus_time(&self, clock_hz: u32) -> std::time::Duration {
        const START_STOP_CLOCKS: u64 = 2;
        let clocks: u64 = self
            .transactions
            .iter()
            .map(|t| START_STOP_CLOCKS + 9 * (1 + t.len() as u64))
            .sum();
        std::time::Duration::from_nanos(clocks * 1_000_000_000 / clock_hz.max(1) as u64)
    }
}

impl embedded_hal::i2c::ErrorType for BusRecorder {
    type Error = core::convert::Infallible;
}

impl I2c<SevenBitAddress> for BusRecorder {
    fn transaction(
        &mut self,
        _address: SevenBitAddress,
        operations: &mut [Operation<'_>],
    ) -> core::result::Result<(), Self::Error> {
        let mut bytes = Vec::new();
        for op in operations {
            match op {
                Operation::Write(w) => bytes.extend_from_slice(w),
                Operation::Read(r) => r.fill(0),
            }
        }
        self.transactions.push(bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::{Canvas, Display};
    use embedded_graphics::mono_font::{MonoTextStyle, ascii::FONT_6X10};
    use embedded_graphics::pixelcolor::BinaryColor;
    use embedded_graphics::text::Text;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A recorder shared with the test while the panel owns it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<BusRecorder>>);

    impl embedded_hal::i2c::ErrorType for Shared {
        type Error = core::convert::Infallible;
    }

    impl I2c<SevenBitAddress> for Shared {
        fn transaction(
            &mut self,
            a: SevenBitAddress,
            ops: &mut [Operation<'_>],
        ) -> core::result::Result<(), Self::Error> {
            self.0.lock().unwrap().transaction(a, ops)
        }
    }

    #[test]
    fn flushes_only_changed_pages_and_times_the_bus() {
        let bus = Shared::default();
        let panel = Ssd1306Panel::new(bus.clone(), 0x3c, "test").unwrap();
        let mut display = Display::new(Box::new(panel));
        bus.0.lock().unwrap().clear();

        // First flush: everything (1024 bytes of pixels).
        display.flush().unwrap();
        let full = bus.0.lock().unwrap().clone();
        let data: usize = full
            .transactions
            .iter()
            .filter(|t| t.first() == Some(&0x40))
            .map(|t| t.len() - 1)
            .sum();
        assert_eq!(data, 1024);
        let full_time = full.bus_time(400_000);
        assert!(
            full_time > Duration::from_millis(20),
            "a full frame cannot beat the wire: {full_time:?}"
        );

        // A line of text: only its pages and columns.
        bus.0.lock().unwrap().clear();
        if let Canvas::Mono(f) = display.canvas() {
            Text::new(
                "555 0100",
                Point::new(0, 30),
                MonoTextStyle::new(&FONT_6X10, BinaryColor::On),
            )
            .draw(f)
            .unwrap();
        }
        let stats = display.flush().unwrap();
        let partial = bus.0.lock().unwrap().clone();
        let data: usize = partial
            .transactions
            .iter()
            .filter(|t| t.first() == Some(&0x40))
            .map(|t| t.len() - 1)
            .sum();
        assert_eq!(data as u32, stats.pixels / 8);
        assert!(data < 200, "{data} bytes for one text line");
        assert!(partial.bus_time(400_000) < Duration::from_millis(6));

        // Nothing changed: nothing sent.
        bus.0.lock().unwrap().clear();
        display.flush().unwrap();
        assert!(bus.0.lock().unwrap().transactions.is_empty());
    }

    #[test]
    fn a_missing_bus_is_a_clear_error() {
        let err = Ssd1306Panel::open(Path::new("/dev/i2c-99"), 0x3c)
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(
            text.contains("/dev/i2c-99") && text.contains("SSD1306"),
            "{text}"
        );
    }
}
