//! Screens: the view model drawn onto any embedded-graphics display, in a 128×64 monochrome
//! layout and a 240×320 colour layout, plus PNG output for tools and golden tests. The words
//! both layouts draw come from [`words`], as do the simulator's description and the systemd
//! status line.

pub mod catalog;
pub mod color;
pub mod framebuffer;
pub mod mono;
mod painter;
pub mod text;
pub mod words;

use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};
use embedded_graphics::prelude::*;

use crate::phone::view::View;
pub use framebuffer::{Framebuffer, PngError};

/// The two screen layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// 128×64 monochrome (SSD1306 and similar OLEDs).
    Mono128x64,
    /// 240×320 colour, portrait (ST7789 / ILI9341).
    Color240x320,
}

impl Layout {
    pub const ALL: [Layout; 2] = [Layout::Mono128x64, Layout::Color240x320];

    pub fn name(self) -> &'static str {
        match self {
            Layout::Mono128x64 => "mono",
            Layout::Color240x320 => "color",
        }
    }

    pub fn size(self) -> Size {
        match self {
            Layout::Mono128x64 => Size::new(mono::WIDTH, mono::HEIGHT),
            Layout::Color240x320 => Size::new(color::WIDTH, color::HEIGHT),
        }
    }
}

/// A rendered screen in either layout.
#[derive(Debug, Clone, PartialEq)]
pub enum Rendered {
    Mono(Framebuffer<BinaryColor>),
    Color(Framebuffer<Rgb565>),
}

impl Rendered {
    pub fn to_png(&self, scale: u32) -> Result<Vec<u8>, PngError> {
        match self {
            Rendered::Mono(fb) => fb.to_png(scale),
            Rendered::Color(fb) => fb.to_png(scale),
        }
    }

    pub fn rgb_bytes(&self) -> (u32, u32, Vec<u8>) {
        match self {
            Rendered::Mono(fb) => fb.rgb_bytes(1),
            Rendered::Color(fb) => fb.rgb_bytes(1),
        }
    }

    /// Pixels drawn off the display's edges (must be zero).
    pub fn clipped_pixels(&self) -> usize {
        match self {
            Rendered::Mono(fb) => fb.clipped_pixels(),
            Rendered::Color(fb) => fb.clipped_pixels(),
        }
    }
}

/// Draws `view` in `layout` into a fresh framebuffer.
pub fn render(view: &View, layout: Layout) -> Rendered {
    render_recording(view, layout, None)
}

/// The strings `layout` draws for `view`, in drawing order, each whole (before it is cut or
/// wrapped to fit): what the screen says, for checking it against [`words`].
pub fn drawn_text(view: &View, layout: Layout) -> Vec<String> {
    let mut drawn = Vec::new();
    render_recording(view, layout, Some(&mut drawn));
    drawn
}

fn render_recording(view: &View, layout: Layout, drawn: Option<&mut Vec<String>>) -> Rendered {
    match layout {
        Layout::Mono128x64 => {
            let mut fb = Framebuffer::new(layout.size(), BinaryColor::Off);
            let Ok(()) = mono::draw(view, &mut painter::Painter::new(&mut fb, drawn));
            Rendered::Mono(fb)
        }
        Layout::Color240x320 => {
            let mut fb = Framebuffer::new(layout.size(), color::background());
            let Ok(()) = color::draw(view, &mut painter::Painter::new(&mut fb, drawn));
            Rendered::Color(fb)
        }
    }
}
