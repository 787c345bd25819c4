//! ST7789 and ILI9341 TFTs over SPI (the `mipidsi` crate): each changed region is one
//! address window and its RGB565 pixels. A monochrome frame is shown white on black.

use std::path::Path;

use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType, OutputPin};
use embedded_hal::spi::SpiDevice;
use mipidsi::interface::{Interface, InterfaceKind};
use mipidsi::models::{ILI9341Rgb565, ST7789};
use mipidsi::options::{ColorInversion, Orientation, Rotation};
use serde::{Deserialize, Serialize};

use crate::display::{Frame, Layout, Panel};
use crate::error::{BoardError, Result};
use crate::gpio::GpioLine;

/// Supported controllers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MipiModel {
    St7789,
    Ili9341,
}

/// Panel geometry and options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MipiOptions {
    pub model: MipiModel,
    /// Native (portrait) size, e.g. 240×320.
    pub width: u16,
    pub height: u16,
    /// Offset of the visible area in controller memory (some 240×240 ST7789 modules).
    pub offset_x: u16,
    pub offset_y: u16,
    /// 0, 90, 180 or 270 degrees; 90/270 swap the logical width and height.
    pub rotation: u16,
    /// Most ST7789 modules need inverted colours.
    pub invert: bool,
}

/// SPI plus a data/command pin as a mipidsi interface, with its own buffer.
pub struct SpiDc<SPI, DC> {
    spi: SPI,
    dc: DC,
    buf: Vec<u8>,
}

impl<SPI, DC> SpiDc<SPI, DC> {
    pub fn new(spi: SPI, dc: DC) -> Self {
        SpiDc {
            spi,
            dc,
            buf: vec![0; 4096],
        }
    }
}

/// Interface errors.
#[derive(Debug)]
pub enum SpiDcError<S, D> {
    Spi(S),
    Dc(D),
}

impl<SPI: SpiDevice, DC: OutputPin> Interface for SpiDc<SPI, DC> {
    type Word = u8;
    type Error = SpiDcError<SPI::Error, DC::Error>;
    const KIND: InterfaceKind = InterfaceKind::Serial4Line;

    fn send_command(&mut self, command: u8, args: &[u8]) -> core::result::Result<(), Self::Error> {
        self.dc.set_low().map_err(SpiDcError::Dc)?;
        self.spi.write(&[command]).map_err(SpiDcError::Spi)?;
        self.dc.set_high().map_err(SpiDcError::Dc)?;
        self.spi.write(args).map_err(SpiDcError::Spi)
    }

    fn send_pixels<const N: usize>(
        &mut self,
        pixels: impl IntoIterator<Item = [u8; N]>,
    ) -> core::result::Result<(), Self::Error> {
        let mut len = 0;
        for px in pixels {
            if len + N > self.buf.len() {
                self.spi.write(&self.buf[..len]).map_err(SpiDcError::Spi)?;
                len = 0;
            }
            self.buf[len..len + N].copy_from_slice(&px);
            len += N;
        }
        if len > 0 {
            self.spi.write(&self.buf[..len]).map_err(SpiDcError::Spi)?;
        }
        Ok(())
    }

    fn send_repeated_pixel<const N: usize>(
        &mut self,
        pixel: [u8; N],
        count: u32,
    ) -> core::result::Result<(), Self::Error> {
        self.send_pixels((0..count).map(|_| pixel))
    }
}

/// An output pin that may be absent (panels without a wired reset line).
pub struct MaybePin<P>(pub Option<P>);

impl<P: OutputPin> ErrorType for MaybePin<P> {
    type Error = P::Error;
}

impl<P: OutputPin> OutputPin for MaybePin<P> {
    fn set_low(&mut self) -> core::result::Result<(), P::Error> {
        self.0.as_mut().map_or(Ok(()), |p| p.set_low())
    }

    fn set_high(&mut self) -> core::result::Result<(), P::Error> {
        self.0.as_mut().map_or(Ok(()), |p| p.set_high())
    }
}

/// Sleeps for display init delays.
pub struct SleepDelay;

impl DelayNs for SleepDelay {
    fn delay_ns(&mut self, ns: u32) {
        std::thread::sleep(std::time::Duration::from_nanos(ns.into()));
    }
}

enum Driver<DI: Interface<Word = u8>, RST: OutputPin> {
    St7789(mipidsi::Display<DI, ST7789, RST>),
    Ili9341(mipidsi::Display<DI, ILI9341Rgb565, RST>),
}

/// A MIPI DCS TFT on SPI.
pub struct MipiPanel<SPI: SpiDevice, DC: OutputPin, RST: OutputPin> {
    driver: Driver<SpiDc<SPI, DC>, RST>,
    layout: Layout,
    name: String,
}

fn err(panel: &str, e: impl std::fmt::Debug) -> BoardError {
    BoardError::Display {
        panel: panel.into(),
        message: format!("{e:?}"),
    }
}

impl<SPI: SpiDevice, DC: OutputPin, RST: OutputPin> MipiPanel<SPI, DC, RST> {
    /// Resets and initialises the controller.
    pub fn new(
        spi: SPI,
        dc: DC,
        reset: RST,
        options: MipiOptions,
        name: impl Into<String>,
    ) -> Result<Self> {
        let name = name.into();
        let rotation = Rotation::try_from_degree(i32::from(options.rotation)).map_err(|_| {
            err(
                &name,
                format!("rotation {} is not 0, 90, 180 or 270", options.rotation),
            )
        })?;
        let orientation = Orientation::new().rotate(rotation);
        let invert = if options.invert {
            ColorInversion::Inverted
        } else {
            ColorInversion::Normal
        };
        let di = SpiDc::new(spi, dc);
        let mut delay = SleepDelay;
        macro_rules! build {
            ($model:expr) => {
                mipidsi::Builder::new($model, di)
                    .display_size(options.width, options.height)
                    .display_offset(options.offset_x, options.offset_y)
                    .orientation(orientation)
                    .invert_colors(invert)
                    .reset_pin(reset)
                    .init(&mut delay)
                    .map_err(|e| err(&name, e))?
            };
        }
        let driver = match options.model {
            MipiModel::St7789 => Driver::St7789(build!(ST7789)),
            MipiModel::Ili9341 => Driver::Ili9341(build!(ILI9341Rgb565)),
        };
        let (w, h) = if rotation.is_vertical() {
            (options.height, options.width)
        } else {
            (options.width, options.height)
        };
        Ok(MipiPanel {
            driver,
            layout: Layout::Color {
                width: u32::from(w),
                height: u32::from(h),
            },
            name,
        })
    }
}

impl MipiPanel<linux_embedded_hal::SpidevDevice, GpioLine, MaybePin<GpioLine>> {
    /// Opens the SPI device and the DC/reset lines; missing devices are clear errors.
    pub fn open(
        spi_path: &Path,
        spi_hz: u32,
        dc_line: &str,
        reset_line: Option<&str>,
        options: MipiOptions,
    ) -> Result<Self> {
        use linux_embedded_hal::spidev::{SpiModeFlags, SpidevOptions};
        let mut spi =
            linux_embedded_hal::SpidevDevice::open(spi_path).map_err(|e| BoardError::Device {
                path: spi_path.into(),
                message: format!("cannot open the SPI device for the display: {e}"),
            })?;
        spi.0
            .configure(
                &SpidevOptions::new()
                    .bits_per_word(8)
                    .max_speed_hz(spi_hz)
                    .mode(SpiModeFlags::SPI_MODE_0)
                    .build(),
            )
            .map_err(|e| BoardError::Device {
                path: spi_path.into(),
                message: format!("configuring SPI at {spi_hz} Hz: {e}"),
            })?;
        let dc = GpioLine::output(dc_line, "display data/command", false, false)?;
        let reset = match reset_line {
            Some(line) => Some(GpioLine::output(line, "display reset", true, false)?),
            None => None,
        };
        let name = format!("{:?} {}", options.model, spi_path.display()).to_lowercase();
        Self::new(spi, dc, MaybePin(reset), options, name)
    }
}

impl<SPI, DC, RST> Panel for MipiPanel<SPI, DC, RST>
where
    SPI: SpiDevice + Send,
    DC: OutputPin + Send,
    RST: OutputPin + Send,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn layout(&self) -> Layout {
        self.layout
    }

    fn write_regions(&mut self, frame: &Frame, regions: &[Rectangle]) -> Result<()> {
        let size = self.layout.size();
        for r in regions {
            let Some(r) = clip(*r, size) else { continue };
            let (x0, y0) = (r.top_left.x as u16, r.top_left.y as u16);
            let (x1, y1) = (x0 + r.size.width as u16 - 1, y0 + r.size.height as u16 - 1);
            let pixels: Box<dyn Iterator<Item = Rgb565>> = match frame {
                Frame::Color(f) => Box::new(f.region_pixels(r)),
                Frame::Mono(f) => Box::new(
                    (r.top_left.y..r.top_left.y + r.size.height as i32).flat_map(move |y| {
                        (r.top_left.x..r.top_left.x + r.size.width as i32).map(move |x| {
                            Rgb565::from(BinaryColor::from(f.pixel(x as u32, y as u32)))
                        })
                    }),
                ),
            };
            let result = match &mut self.driver {
                Driver::St7789(d) => d.set_pixels(x0, y0, x1, y1, pixels),
                Driver::Ili9341(d) => d.set_pixels(x0, y0, x1, y1, pixels),
            };
            result.map_err(|e| err(&self.name, e))?;
        }
        Ok(())
    }
}

/// The part of `r` inside a `size` screen, if any.
fn clip(r: Rectangle, size: Size) -> Option<Rectangle> {
    let screen = Rectangle::new(Point::zero(), size);
    let c = r.intersection(&screen);
    (c.size.width > 0 && c.size.height > 0).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::{Canvas, Display};
    use embedded_graphics::primitives::PrimitiveStyle;
    use embedded_hal::spi::{ErrorType as SpiErrorType, Operation};
    use std::sync::{Arc, Mutex};

    /// Counts bytes written while the data/command pin is high (pixel data).
    #[derive(Clone, Default)]
    struct Wire {
        data_mode: Arc<Mutex<bool>>,
        data_bytes: Arc<Mutex<usize>>,
    }

    impl SpiErrorType for Wire {
        type Error = core::convert::Infallible;
    }

    impl SpiDevice for Wire {
        fn transaction(
            &mut self,
            ops: &mut [Operation<'_, u8>],
        ) -> core::result::Result<(), Self::Error> {
            for op in ops {
                if let Operation::Write(w) = op
                    && *self.data_mode.lock().unwrap()
                {
                    *self.data_bytes.lock().unwrap() += w.len();
                }
            }
            Ok(())
        }
    }

    struct DcPin(Arc<Mutex<bool>>);

    impl ErrorType for DcPin {
        type Error = core::convert::Infallible;
    }

    impl OutputPin for DcPin {
        fn set_low(&mut self) -> core::result::Result<(), Self::Error> {
            *self.0.lock().unwrap() = false;
            Ok(())
        }
        fn set_high(&mut self) -> core::result::Result<(), Self::Error> {
            *self.0.lock().unwrap() = true;
            Ok(())
        }
    }

    #[test]
    fn st7789_sends_only_changed_pixels() {
        let wire = Wire::default();
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
            wire.clone(),
            DcPin(wire.data_mode.clone()),
            MaybePin::<DcPin>(None),
            options,
            "st7789 test",
        )
        .unwrap();
        assert_eq!(panel.layout(), Layout::TFT_240X320);
        let mut display = Display::new(Box::new(panel));
        display.flush().unwrap();
        *wire.data_bytes.lock().unwrap() = 0;
        if let Canvas::Color(f) = display.canvas() {
            Rectangle::new(Point::new(10, 20), Size::new(30, 5))
                .into_styled(PrimitiveStyle::with_fill(Rgb565::GREEN))
                .draw(f)
                .unwrap();
        }
        display.flush().unwrap();
        // 150 pixels × 2 bytes, plus the address window arguments (2 × 4 bytes).
        assert_eq!(*wire.data_bytes.lock().unwrap(), 300 + 8);
    }

    #[test]
    fn missing_spi_device_is_a_clear_error() {
        let options = MipiOptions {
            model: MipiModel::Ili9341,
            width: 240,
            height: 320,
            offset_x: 0,
            offset_y: 0,
            rotation: 90,
            invert: false,
        };
        let err = MipiPanel::open(
            Path::new("/dev/spidev9.9"),
            32_000_000,
            "GPIO24",
            None,
            options,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("/dev/spidev9.9"), "{err}");
    }
}
