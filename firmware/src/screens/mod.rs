//! Screens: the view model drawn onto any embedded-graphics display, in a 128×64 monochrome
//! layout and a 240×320 colour layout, plus PNG output for tools and golden tests.

pub mod catalog;
pub mod color;
pub mod framebuffer;
pub mod mono;
mod painter;
pub mod text;

use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};
use embedded_graphics::prelude::*;

use crate::clock::format_duration;
use crate::history::Direction;
use crate::phone::view::{DialHint, HistoryRow, View};
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
    match layout {
        Layout::Mono128x64 => {
            let mut fb = Framebuffer::new(layout.size(), BinaryColor::Off);
            let Ok(()) = mono::render(view, &mut fb);
            Rendered::Mono(fb)
        }
        Layout::Color240x320 => {
            let mut fb = Framebuffer::new(layout.size(), color::background());
            let Ok(()) = color::render(view, &mut fb);
            Rendered::Color(fb)
        }
    }
}

/// `1:05` for a call timer.
fn call_timer(secs: u64) -> String {
    format_duration(std::time::Duration::from_secs(secs))
}

fn dial_hint_text(hint: DialHint) -> &'static str {
    match hint {
        DialHint::Ready => "Enter a number",
        DialHint::Typing => "# to call now",
        DialHint::Invalid => "Number not valid",
        DialHint::Barred => "Number barred",
        DialHint::TimedOut => "Hang up, try again",
    }
}

/// `Some(true)` for placed calls (arrow out), `Some(false)` for received, `None` for missed.
fn direction_outgoing(direction: Direction) -> Option<bool> {
    match direction {
        Direction::Placed => Some(true),
        Direction::Received => Some(false),
        Direction::Missed => None,
    }
}

fn history_detail(row: &HistoryRow) -> String {
    row.detail.clone()
}
