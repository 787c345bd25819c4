//! Benchmark: time on the wire for display updates, computed from the bytes the real
//! drivers send (recorded on a fake bus), for the SSD1306 on I2C and an ST7789 on SPI.
//!
//! ```text
//! cargo run -p offhook-board --release --example display-bus-time
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use embedded_graphics::mono_font::{MonoTextStyle, ascii::FONT_6X10, ascii::FONT_10X20};
use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use embedded_graphics::text::Text;
use embedded_hal::digital::{ErrorType, OutputPin};
use embedded_hal::i2c::{I2c, Operation as I2cOp, SevenBitAddress};
use embedded_hal::spi::{Operation as SpiOp, SpiDevice};
use offhook_board::display::mipi::{MaybePin, MipiModel, MipiOptions, MipiPanel};
use offhook_board::display::ssd1306::{BusRecorder, Ssd1306Panel};
use offhook_board::display::{Canvas, Display};

#[derive(Clone, Default)]
struct I2cTap(Arc<Mutex<BusRecorder>>);

impl embedded_hal::i2c::ErrorType for I2cTap {
    type Error = core::convert::Infallible;
}

impl I2c<SevenBitAddress> for I2cTap {
    fn transaction(
        &mut self,
        a: SevenBitAddress,
        ops: &mut [I2cOp<'_>],
    ) -> Result<(), Self::Error> {
        self.0.lock().unwrap().transaction(a, ops)
    }
}

/// Counts SPI bytes and transfers.
#[derive(Clone, Default)]
struct SpiTap(Arc<Mutex<(usize, usize)>>);

impl embedded_hal::spi::ErrorType for SpiTap {
    type Error = core::convert::Infallible;
}

impl SpiDevice for SpiTap {
    fn transaction(&mut self, ops: &mut [SpiOp<'_, u8>]) -> Result<(), Self::Error> {
        let mut t = self.0.lock().unwrap();
        for op in ops {
            if let SpiOp::Write(w) = op {
                t.0 += w.len();
                t.1 += 1;
            }
        }
        Ok(())
    }
}

struct NoPin;

impl ErrorType for NoPin {
    type Error = core::convert::Infallible;
}

impl OutputPin for NoPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn ms(d: Duration) -> String {
    format!("{:6.2} ms", d.as_secs_f64() * 1000.0)
}

fn i2c_row(what: &str, rec: &BusRecorder) {
    println!(
        "  {what:<42} {:5} bytes in {:3} transfers   400 kHz: {}   1 MHz: {}",
        rec.bytes(),
        rec.transactions.len(),
        ms(rec.bus_time(400_000)),
        ms(rec.bus_time(1_000_000))
    );
}

fn main() {
    println!(
        "SSD1306 128x64 over I2C (ssd1306 crate, horizontal addressing, one I2C write per region)"
    );
    let tap = I2cTap::default();
    let mut oled = Display::new(Box::new(
        Ssd1306Panel::new(tap.clone(), 0x3c, "ssd1306").unwrap(),
    ));
    let style = MonoTextStyle::new(&FONT_6X10, BinaryColor::On);
    let big = MonoTextStyle::new(&FONT_10X20, BinaryColor::On);
    let mut step = |what: &str, draw: &dyn Fn(&mut offhook_board::display::MonoFrame)| {
        tap.0.lock().unwrap().clear();
        if let Canvas::Mono(f) = oled.canvas() {
            draw(f);
        }
        oled.flush().unwrap();
        i2c_row(what, &tap.0.lock().unwrap());
    };
    step("full frame (first flush, all 1024 bytes)", &|f| {
        f.clear(BinaryColor::On).unwrap();
    });
    step("full frame, every pixel changed", &|f| {
        f.clear(BinaryColor::Off).unwrap();
    });
    step("status line (one 10 px text row)", &|f| {
        Text::new("12:34  Ready", Point::new(0, 8), style)
            .draw(f)
            .unwrap();
    });
    step("one more dialled digit (10x20 font)", &|f| {
        Text::new("5", Point::new(40, 40), big).draw(f).unwrap();
    });
    step("number line rewritten (12 digits)", &|f| {
        Text::new("555 010 0199", Point::new(0, 40), big)
            .draw(f)
            .unwrap();
    });
    step("call timer tick (two digits)", &|f| {
        Text::new("07", Point::new(110, 62), style).draw(f).unwrap();
    });
    step("no change", &|_| {});

    println!();
    println!("ST7789 240x320 over SPI (mipidsi, RGB565)");
    let spi = SpiTap::default();
    let options = MipiOptions {
        model: MipiModel::St7789,
        width: 240,
        height: 320,
        offset_x: 0,
        offset_y: 0,
        rotation: 0,
        invert: true,
    };
    let panel = MipiPanel::new(
        spi.clone(),
        NoPin,
        MaybePin::<NoPin>(None),
        options,
        "st7789",
    )
    .unwrap();
    let mut tft = Display::new(Box::new(panel));
    let mut tft_step = |what: &str, draw: &dyn Fn(&mut offhook_board::display::ColorFrame)| {
        *spi.0.lock().unwrap() = (0, 0);
        if let Canvas::Color(f) = tft.canvas() {
            draw(f);
        }
        tft.flush().unwrap();
        let (bytes, transfers) = *spi.0.lock().unwrap();
        let at = |hz: f64| Duration::from_secs_f64(bytes as f64 * 8.0 / hz);
        println!(
            "  {what:<42} {bytes:6} bytes in {transfers:3} transfers   32 MHz: {}   62.5 MHz: {}",
            ms(at(32e6)),
            ms(at(62.5e6))
        );
    };
    tft_step("full frame", &|f| {
        f.clear(Rgb565::BLUE).unwrap();
    });
    tft_step("one dialled digit (24x32 box)", &|f| {
        Rectangle::new(Point::new(100, 100), Size::new(24, 32))
            .into_styled(PrimitiveStyle::with_fill(Rgb565::WHITE))
            .draw(f)
            .unwrap();
    });
    println!();
    println!("Wire time only: add ~1 syscall per transfer (a few µs each on a Pi).");
}
