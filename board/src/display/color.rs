//! An RGB565 frame for TFT panels and framebuffers.

use embedded_graphics::Pixel;
use embedded_graphics::pixelcolor::Rgb565;
use embedded_graphics::pixelcolor::raw::{RawData, RawU16};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;

/// A colour frame, row-major RGB565.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColorFrame {
    width: u32,
    height: u32,
    pixels: Vec<u16>,
}

impl ColorFrame {
    /// A black frame.
    pub fn new(width: u32, height: u32) -> Self {
        ColorFrame {
            width,
            height,
            pixels: vec![0; (width * height) as usize],
        }
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixel's colour (black out of range).
    pub fn pixel(&self, x: u32, y: u32) -> Rgb565 {
        if x >= self.width || y >= self.height {
            return Rgb565::BLACK;
        }
        let raw = self
            .pixels
            .get((y * self.width + x) as usize)
            .copied()
            .unwrap_or(0);
        RawU16::new(raw).into()
    }

    /// Raw RGB565 values of row `y`, columns `x0..x1`.
    pub fn row_slice(&self, y: u32, x0: u32, x1: u32) -> &[u16] {
        if y >= self.height {
            return &[];
        }
        let start = (y * self.width + x0.min(self.width)) as usize;
        let end = (y * self.width + x1.min(self.width)) as usize;
        self.pixels.get(start..end).unwrap_or(&[])
    }

    /// Pixels of a region, row by row.
    pub fn region_pixels(&self, area: Rectangle) -> impl Iterator<Item = Rgb565> + '_ {
        let x0 = area.top_left.x.max(0) as u32;
        let y0 = area.top_left.y.max(0) as u32;
        let x1 = x0 + area.size.width;
        let y1 = (y0 + area.size.height).min(self.height);
        (y0..y1).flat_map(move |y| {
            self.row_slice(y, x0, x1)
                .iter()
                .map(|raw| Rgb565::from(RawU16::new(*raw)))
        })
    }

    /// Rectangles that differ from `shown`: per row the changed column span, with adjacent
    /// rows merged while the extra pixels cost less than addressing a new window.
    pub fn changed_regions(&self, shown: &ColorFrame) -> Vec<Rectangle> {
        const MERGE_SLACK_PIXELS: u32 = 64;
        let mut regions: Vec<(u32, u32, u32, u32)> = Vec::new(); // x0, x1, y0, y1 (excl.)
        for y in 0..self.height {
            let a = self.row_slice(y, 0, self.width);
            let b = shown.row_slice(y, 0, self.width);
            let Some(first) = a.iter().zip(b).position(|(p, q)| p != q) else {
                continue;
            };
            let last = a.iter().zip(b).rposition(|(p, q)| p != q).unwrap_or(first);
            let (x0, x1) = (first as u32, last as u32 + 1);
            if let Some(prev) = regions.last_mut()
                && prev.3 == y
            {
                let (ux0, ux1) = (prev.0.min(x0), prev.1.max(x1));
                let merged = (ux1 - ux0) * (y + 1 - prev.2);
                let separate = (prev.1 - prev.0) * (prev.3 - prev.2) + (x1 - x0);
                if merged <= separate + MERGE_SLACK_PIXELS {
                    *prev = (ux0, ux1, prev.2, y + 1);
                    continue;
                }
            }
            regions.push((x0, x1, y, y + 1));
        }
        regions
            .into_iter()
            .map(|(x0, x1, y0, y1)| {
                Rectangle::new(
                    Point::new(x0 as i32, y0 as i32),
                    Size::new(x1 - x0, y1 - y0),
                )
            })
            .collect()
    }
}

impl OriginDimensions for ColorFrame {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for ColorFrame {
    type Color = Rgb565;
    type Error = core::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(p, color) in pixels {
            if p.x >= 0 && p.y >= 0 && (p.x as u32) < self.width && (p.y as u32) < self.height {
                let i = (p.y as u32 * self.width + p.x as u32) as usize;
                if let Some(px) = self.pixels.get_mut(i) {
                    *px = RawU16::from(color).into_inner();
                }
            }
        }
        Ok(())
    }

    fn clear(&mut self, color: Self::Color) -> Result<(), Self::Error> {
        self.pixels.fill(RawU16::from(color).into_inner());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::primitives::PrimitiveStyle;

    #[test]
    fn regions_and_pixels() {
        let shown = ColorFrame::new(240, 320);
        let mut f = shown.clone();
        Rectangle::new(Point::new(100, 50), Size::new(20, 10))
            .into_styled(PrimitiveStyle::with_fill(Rgb565::RED))
            .draw(&mut f)
            .unwrap();
        let regions = f.changed_regions(&shown);
        assert_eq!(
            regions,
            vec![Rectangle::new(Point::new(100, 50), Size::new(20, 10))]
        );
        assert_eq!(f.pixel(105, 55), Rgb565::RED);
        assert_eq!(f.region_pixels(regions[0]).count(), 200);
        assert!(f.region_pixels(regions[0]).all(|c| c == Rgb565::RED));
    }
}
