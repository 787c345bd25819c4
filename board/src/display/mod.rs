//! Displays. The firmware draws with embedded-graphics into an in-memory frame ([`Canvas`])
//! and calls [`Display::flush`]; only regions that changed since the last flush go to the
//! [`Panel`] (SSD1306 over I2C, ST7789/ILI9341 over SPI, a Linux framebuffer, the simulator).
//!
//! Two layouts exist: monochrome (`BinaryColor`, e.g. 128×64 OLED) and colour (`Rgb565`,
//! e.g. 240×320 TFT). embedded-graphics converts between `BinaryColor` and `Rgb565`, so a
//! renderer generic over `C: PixelColor + From<BinaryColor>` serves both.
//!
//! On real hardware the panel runs behind a [`background::BackgroundPanel`]: the bus is driven
//! from a thread of its own, so a flush never holds up the caller.

pub mod background;
mod color;
pub mod fbdev;
pub mod mipi;
mod mono;
pub mod render;
pub mod ssd1306;

pub use color::ColorFrame;
pub use mono::MonoFrame;

use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Pixel format and size of a display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Layout {
    /// 1 bit per pixel (`BinaryColor`), height a multiple of 8.
    Mono { width: u32, height: u32 },
    /// RGB565 (`Rgb565`).
    Color { width: u32, height: u32 },
}

impl Layout {
    /// The SSD1306 OLED of the Pi Zero 2 W reference build.
    pub const OLED_128X64: Layout = Layout::Mono {
        width: 128,
        height: 64,
    };
    /// The ST7789 TFT of the Pi 4 reference build, portrait.
    pub const TFT_240X320: Layout = Layout::Color {
        width: 240,
        height: 320,
    };

    pub fn size(self) -> Size {
        match self {
            Layout::Mono { width, height } | Layout::Color { width, height } => {
                Size::new(width, height)
            }
        }
    }
}

/// A frame in either layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Mono(MonoFrame),
    Color(ColorFrame),
}

impl Frame {
    /// A blank frame for a layout.
    pub fn new(layout: Layout) -> Self {
        match layout {
            Layout::Mono { width, height } => Frame::Mono(MonoFrame::new(width, height)),
            Layout::Color { width, height } => Frame::Color(ColorFrame::new(width, height)),
        }
    }

    pub fn layout(&self) -> Layout {
        match self {
            Frame::Mono(f) => Layout::Mono {
                width: f.width(),
                height: f.height(),
            },
            Frame::Color(f) => Layout::Color {
                width: f.width(),
                height: f.height(),
            },
        }
    }

    pub fn size(&self) -> Size {
        self.layout().size()
    }

    /// Regions that differ from `shown` (everything when the layouts differ).
    pub fn changed_regions(&self, shown: &Frame) -> Vec<Rectangle> {
        match (self, shown) {
            (Frame::Mono(a), Frame::Mono(b)) if a.size() == b.size() => a.changed_regions(b),
            (Frame::Color(a), Frame::Color(b)) if a.size() == b.size() => a.changed_regions(b),
            _ => vec![Rectangle::new(Point::zero(), self.size())],
        }
    }

    /// A pixel as 8-bit RGB (mono: lit = white).
    pub fn rgb888(&self, x: u32, y: u32) -> [u8; 3] {
        match self {
            Frame::Mono(f) => {
                if f.pixel(x, y) {
                    [255; 3]
                } else {
                    [0; 3]
                }
            }
            Frame::Color(f) => {
                let c = f.pixel(x, y);
                // Expand 5/6-bit channels to 8 bits, replicating the high bits.
                let (r, g, b) = (c.r(), c.g(), c.b());
                [
                    (r << 3) | (r >> 2),
                    (g << 2) | (g >> 4),
                    (b << 3) | (b >> 2),
                ]
            }
        }
    }
}

/// Where the firmware draws: the frame of the display's layout.
pub enum Canvas<'a> {
    Mono(&'a mut MonoFrame),
    Color(&'a mut ColorFrame),
}

/// A display controller or device that can show regions of a frame.
pub trait Panel: Send {
    /// For logs and errors, e.g. `ssd1306 /dev/i2c-1@0x3c`.
    fn name(&self) -> &str;
    /// The layout this panel shows.
    fn layout(&self) -> Layout;
    /// Sends `regions` of `frame` (which has this panel's layout) to the panel.
    fn write_regions(&mut self, frame: &Frame, regions: &[Rectangle]) -> Result<()>;
    /// A short text description of what is on screen, for simulators and logs. Real panels
    /// ignore it.
    fn set_summary(&mut self, _text: &str) {}
}

/// What one flush sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushStats {
    pub regions: usize,
    pub pixels: u32,
}

/// A display: an in-memory frame the firmware draws into, and the panel it is flushed to.
pub struct Display {
    frame: Frame,
    /// What the panel shows; `None` when unknown (start, after an error): flush everything.
    shown: Option<Frame>,
    panel: Box<dyn Panel>,
    summary: String,
}

impl Display {
    /// A display for `panel`, with a blank frame of the panel's layout.
    pub fn new(panel: Box<dyn Panel>) -> Self {
        Display {
            frame: Frame::new(panel.layout()),
            shown: None,
            panel,
            summary: String::new(),
        }
    }

    pub fn layout(&self) -> Layout {
        self.frame.layout()
    }

    pub fn panel_name(&self) -> &str {
        self.panel.name()
    }

    /// The frame to draw on. Nothing reaches the panel until [`Display::flush`].
    pub fn canvas(&mut self) -> Canvas<'_> {
        match &mut self.frame {
            Frame::Mono(f) => Canvas::Mono(f),
            Frame::Color(f) => Canvas::Color(f),
        }
    }

    /// The frame as drawn so far.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// Sends the changed regions to the panel. On error the panel's content is taken as
    /// unknown and the next flush sends the whole frame.
    pub fn flush(&mut self) -> Result<FlushStats> {
        let regions = match &self.shown {
            Some(shown) => self.frame.changed_regions(shown),
            None => vec![Rectangle::new(Point::zero(), self.frame.size())],
        };
        if regions.is_empty() {
            return Ok(FlushStats::default());
        }
        if let Err(e) = self.panel.write_regions(&self.frame, &regions) {
            self.shown = None;
            return Err(e);
        }
        match &mut self.shown {
            Some(shown) => shown.clone_from(&self.frame),
            None => self.shown = Some(self.frame.clone()),
        }
        Ok(FlushStats {
            regions: regions.len(),
            pixels: regions.iter().map(|r| r.size.width * r.size.height).sum(),
        })
    }

    /// Forgets what the panel shows, so the next flush sends everything (after a panel reset).
    pub fn invalidate(&mut self) {
        self.shown = None;
    }

    /// Describes what is on screen in words (`"Calling 555 0100"`): logged by the simulator,
    /// checked by `expect screen` in scripts, ignored by real panels.
    pub fn set_summary(&mut self, text: &str) {
        if self.summary != text {
            self.summary = text.to_owned();
            self.panel.set_summary(text);
        }
    }

    pub fn summary(&self) -> &str {
        &self.summary
    }
}

/// A panel that shows nothing (boards without a display).
pub struct NullPanel {
    layout: Layout,
}

impl NullPanel {
    pub fn new(layout: Layout) -> Self {
        NullPanel { layout }
    }
}

impl Panel for NullPanel {
    fn name(&self) -> &str {
        "none"
    }

    fn layout(&self) -> Layout {
        self.layout
    }

    fn write_regions(&mut self, _frame: &Frame, _regions: &[Rectangle]) -> Result<()> {
        Ok(())
    }
}
