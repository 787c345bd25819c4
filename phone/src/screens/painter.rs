//! Drawing helpers shared by both layouts: text that always fits, boxes, bars and icons.

use embedded_graphics::mono_font::{MonoFont, MonoTextStyleBuilder};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{
    Circle, Line, PrimitiveStyle, PrimitiveStyleBuilder, Rectangle, RoundedRectangle, Triangle,
};
use embedded_graphics::text::{Alignment, Baseline, Text, TextStyleBuilder};

use super::text::{ellipsize, wrap};

/// Where a line of text sits horizontally within its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Center,
    Right,
}

pub struct Painter<'a, D> {
    pub target: &'a mut D,
    /// Every string asked for, whole, when someone wants to know what was drawn.
    drawn: Option<&'a mut Vec<String>>,
}

impl<'a, D> Painter<'a, D> {
    pub fn new(target: &'a mut D, drawn: Option<&'a mut Vec<String>>) -> Self {
        Painter { target, drawn }
    }

    fn record(&mut self, text: &str) {
        if let Some(drawn) = self.drawn.as_mut() {
            drawn.push(text.to_string());
        }
    }
}

impl<D, C> Painter<'_, D>
where
    D: DrawTarget<Color = C>,
    C: PixelColor,
{
    /// Characters of `font` that fit in `width` pixels.
    pub fn chars_in(font: &MonoFont<'_>, width: u32) -> usize {
        let step = font.character_size.width + font.character_spacing;
        if step == 0 {
            return 0;
        }
        ((width + font.character_spacing) / step) as usize
    }

    /// Width in pixels of `text` in `font` (after folding to the font's characters).
    pub fn width_of(font: &MonoFont<'_>, text: &str) -> u32 {
        let n = super::text::fold(text).chars().count() as u32;
        if n == 0 {
            return 0;
        }
        n * (font.character_size.width + font.character_spacing) - font.character_spacing
    }

    /// The first of `preferred` and then `smaller` in which `text` fits `width`, else the
    /// smallest.
    pub fn fitting<'f>(
        preferred: &'f MonoFont<'f>,
        smaller: &[&'f MonoFont<'f>],
        text: &str,
        width: u32,
    ) -> &'f MonoFont<'f> {
        std::iter::once(preferred)
            .chain(smaller.iter().copied())
            .find(|font| Self::width_of(font, text) <= width)
            .or(smaller.last().copied())
            .unwrap_or(preferred)
    }

    /// One line of text in the box `x..x+width` with its top at `y`, cut with `...` to fit.
    #[allow(clippy::too_many_arguments)]
    pub fn text(
        &mut self,
        text: &str,
        font: &MonoFont<'_>,
        color: C,
        background: Option<C>,
        x: i32,
        y: i32,
        width: u32,
        align: Align,
    ) -> Result<(), D::Error> {
        self.record(text);
        self.line_of_text(text, font, color, background, x, y, width, align)
    }

    #[allow(clippy::too_many_arguments)]
    fn line_of_text(
        &mut self,
        text: &str,
        font: &MonoFont<'_>,
        color: C,
        background: Option<C>,
        x: i32,
        y: i32,
        width: u32,
        align: Align,
    ) -> Result<(), D::Error> {
        let fitted = ellipsize(text, Self::chars_in(font, width));
        if fitted.is_empty() {
            return Ok(());
        }
        let mut style = MonoTextStyleBuilder::new().font(font).text_color(color);
        if let Some(bg) = background {
            style = style.background_color(bg);
        }
        let (anchor_x, alignment) = match align {
            Align::Left => (x, Alignment::Left),
            Align::Center => (x + width as i32 / 2, Alignment::Center),
            Align::Right => (x + width as i32 - 1, Alignment::Right),
        };
        let text_style = TextStyleBuilder::new()
            .alignment(alignment)
            .baseline(Baseline::Top)
            .build();
        Text::with_text_style(&fitted, Point::new(anchor_x, y), style.build(), text_style)
            .draw(self.target)?;
        Ok(())
    }

    /// Word-wrapped text from `y` down, at most `max_lines`; returns the y after the last line.
    #[allow(clippy::too_many_arguments)]
    pub fn paragraph(
        &mut self,
        text: &str,
        font: &MonoFont<'_>,
        color: C,
        x: i32,
        y: i32,
        width: u32,
        max_lines: usize,
        line_height: i32,
        align: Align,
    ) -> Result<i32, D::Error> {
        self.record(text);
        let mut at = y;
        for line in wrap(text, Self::chars_in(font, width), max_lines) {
            self.line_of_text(&line, font, color, None, x, at, width, align)?;
            at += line_height;
        }
        Ok(at)
    }

    pub fn fill(&mut self, x: i32, y: i32, w: u32, h: u32, color: C) -> Result<(), D::Error> {
        Rectangle::new(Point::new(x, y), Size::new(w, h))
            .into_styled(PrimitiveStyle::with_fill(color))
            .draw(self.target)
    }

    pub fn outline(&mut self, x: i32, y: i32, w: u32, h: u32, color: C) -> Result<(), D::Error> {
        Rectangle::new(Point::new(x, y), Size::new(w, h))
            .into_styled(PrimitiveStyle::with_stroke(color, 1))
            .draw(self.target)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn rounded(
        &mut self,
        x: i32,
        y: i32,
        w: u32,
        h: u32,
        radius: u32,
        fill: Option<C>,
        stroke: Option<C>,
    ) -> Result<(), D::Error> {
        let mut style = PrimitiveStyleBuilder::new();
        if let Some(f) = fill {
            style = style.fill_color(f);
        }
        if let Some(s) = stroke {
            style = style.stroke_color(s).stroke_width(1);
        }
        RoundedRectangle::with_equal_corners(
            Rectangle::new(Point::new(x, y), Size::new(w, h)),
            Size::new(radius, radius),
        )
        .into_styled(style.build())
        .draw(self.target)
    }

    pub fn line(&mut self, from: (i32, i32), to: (i32, i32), color: C) -> Result<(), D::Error> {
        Line::new(Point::new(from.0, from.1), Point::new(to.0, to.1))
            .into_styled(PrimitiveStyle::with_stroke(color, 1))
            .draw(self.target)
    }

    /// Signal-style bars, bottom-aligned in a box of `height`, `filled` of `total` lit.
    #[allow(clippy::too_many_arguments)]
    pub fn bars(
        &mut self,
        x: i32,
        y: i32,
        height: u32,
        bar_width: u32,
        filled: u8,
        total: u8,
        on: C,
        off: C,
    ) -> Result<(), D::Error> {
        for i in 0..u32::from(total) {
            let h = (height * (i + 1) / u32::from(total)).max(1);
            let bx = x + (i * (bar_width + 1)) as i32;
            let by = y + (height - h) as i32;
            if i < u32::from(filled) {
                self.fill(bx, by, bar_width, h, on)?;
            } else {
                self.fill(bx, y + height as i32 - 1, bar_width, 1, off)?;
            }
        }
        Ok(())
    }

    /// A level meter: an outlined box with the first `level / max` filled.
    #[allow(clippy::too_many_arguments)]
    pub fn meter(
        &mut self,
        x: i32,
        y: i32,
        w: u32,
        h: u32,
        level: u8,
        max: u8,
        on: C,
        frame: C,
    ) -> Result<(), D::Error> {
        self.outline(x, y, w, h, frame)?;
        if max > 0 && w > 4 && h > 4 {
            let inner = w - 4;
            let filled = inner * u32::from(level.min(max)) / u32::from(max);
            if filled > 0 {
                self.fill(x + 2, y + 2, filled, h - 4, on)?;
            }
        }
        Ok(())
    }

    /// An envelope (missed calls), `w`×`h`.
    pub fn envelope(&mut self, x: i32, y: i32, w: u32, h: u32, color: C) -> Result<(), D::Error> {
        self.outline(x, y, w, h, color)?;
        let mid = x + w as i32 / 2;
        self.line((x, y), (mid, y + h as i32 / 2), color)?;
        self.line((x + w as i32 - 1, y), (mid, y + h as i32 / 2), color)
    }

    /// The voicemail sign (two reels joined along the bottom), `w` wide; it is `w` × 2/5
    /// tall.
    pub fn voicemail(&mut self, x: i32, y: i32, w: u32, color: C) -> Result<(), D::Error> {
        let d = (w * 2 / 5).max(3);
        let right = x + w as i32 - d as i32;
        self.dot(x, y, d, color, false)?;
        self.dot(right, y, d, color, false)?;
        let bottom = y + d as i32 - 1;
        let r = d as i32 / 2;
        self.line((x + r, bottom), (right + r, bottom), color)
    }

    /// A loudspeaker, `size` tall.
    pub fn speaker(&mut self, x: i32, y: i32, size: u32, color: C) -> Result<(), D::Error> {
        let s = size as i32;
        self.fill(
            x,
            y + s / 3,
            (s / 3).max(1) as u32,
            (s / 3).max(1) as u32,
            color,
        )?;
        Triangle::new(
            Point::new(x + s / 3, y + s / 3),
            Point::new(x + s * 2 / 3, y),
            Point::new(x + s * 2 / 3, y + s - 1),
        )
        .into_styled(PrimitiveStyle::with_fill(color))
        .draw(self.target)?;
        Triangle::new(
            Point::new(x + s / 3, y + s * 2 / 3 - 1),
            Point::new(x + s * 2 / 3, y),
            Point::new(x + s * 2 / 3, y + s - 1),
        )
        .into_styled(PrimitiveStyle::with_fill(color))
        .draw(self.target)
    }

    pub fn dot(
        &mut self,
        x: i32,
        y: i32,
        diameter: u32,
        color: C,
        filled: bool,
    ) -> Result<(), D::Error> {
        let style = if filled {
            PrimitiveStyle::with_fill(color)
        } else {
            PrimitiveStyle::with_stroke(color, 1)
        };
        Circle::new(Point::new(x, y), diameter)
            .into_styled(style)
            .draw(self.target)
    }

    /// A cross, `size`×`size`.
    pub fn cross(&mut self, x: i32, y: i32, size: u32, color: C) -> Result<(), D::Error> {
        let s = size as i32 - 1;
        self.line((x, y), (x + s, y + s), color)?;
        self.line((x + s, y), (x, y + s), color)
    }

    /// An arrow for the call history: outgoing points up-right, incoming down-left.
    pub fn arrow(
        &mut self,
        x: i32,
        y: i32,
        size: u32,
        outgoing: bool,
        color: C,
    ) -> Result<(), D::Error> {
        let s = size as i32 - 1;
        if outgoing {
            self.line((x, y + s), (x + s, y), color)?;
            self.line((x + s / 2, y), (x + s, y), color)?;
            self.line((x + s, y), (x + s, y + s / 2), color)
        } else {
            self.line((x + s, y), (x, y + s), color)?;
            self.line((x, y + s / 2), (x, y + s), color)?;
            self.line((x, y + s), (x + s / 2, y + s), color)
        }
    }
}
