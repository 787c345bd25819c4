//! A 1-bit frame in SSD1306 page layout: byte `page * width + x`, bit `y % 8`.
//! This is the bytes the controller wants, so a changed region is sent as plain slices.

use embedded_graphics::Pixel;
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;

/// A monochrome frame (height a multiple of 8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonoFrame {
    width: u32,
    height: u32,
    pages: Vec<u8>,
}

impl MonoFrame {
    /// A blank frame; the height is rounded up to a whole page (8 rows).
    pub fn new(width: u32, height: u32) -> Self {
        let height = height.div_ceil(8) * 8;
        MonoFrame {
            width,
            height,
            pages: vec![0; (width * height / 8) as usize],
        }
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Whether the pixel is lit (out-of-range pixels are dark).
    pub fn pixel(&self, x: u32, y: u32) -> bool {
        if x >= self.width || y >= self.height {
            return false;
        }
        let i = (y / 8 * self.width + x) as usize;
        self.pages.get(i).is_some_and(|b| b & (1 << (y % 8)) != 0)
    }

    fn set(&mut self, x: u32, y: u32, on: bool) {
        if x >= self.width || y >= self.height {
            return;
        }
        let i = (y / 8 * self.width + x) as usize;
        if let Some(b) = self.pages.get_mut(i) {
            if on {
                *b |= 1 << (y % 8);
            } else {
                *b &= !(1 << (y % 8));
            }
        }
    }

    /// The page bytes of columns `x0..x1` in `page`.
    pub fn page_slice(&self, page: u32, x0: u32, x1: u32) -> &[u8] {
        let start = (page * self.width + x0.min(self.width)) as usize;
        let end = (page * self.width + x1.min(self.width)) as usize;
        self.pages.get(start..end).unwrap_or(&[])
    }

    /// All page bytes (row-major pages).
    pub fn as_bytes(&self) -> &[u8] {
        &self.pages
    }

    /// Regions that differ from `shown`, page-aligned. Adjacent changed pages are merged when
    /// the extra columns cost less than addressing a new region.
    pub fn changed_regions(&self, shown: &MonoFrame) -> Vec<Rectangle> {
        const MERGE_SLACK_BYTES: u32 = 16;
        let mut regions: Vec<(u32, u32, u32, u32)> = Vec::new(); // x0, x1, page0, page1 (excl.)
        for page in 0..self.height / 8 {
            let a = self.page_slice(page, 0, self.width);
            let b = shown.page_slice(page, 0, self.width);
            let Some(first) = a.iter().zip(b).position(|(p, q)| p != q) else {
                continue;
            };
            let last = a.iter().zip(b).rposition(|(p, q)| p != q).unwrap_or(first);
            let (x0, x1) = (first as u32, last as u32 + 1);
            if let Some(prev) = regions.last_mut()
                && prev.3 == page
            {
                let (ux0, ux1) = (prev.0.min(x0), prev.1.max(x1));
                let merged = (ux1 - ux0) * (page + 1 - prev.2);
                let separate = (prev.1 - prev.0) * (prev.3 - prev.2) + (x1 - x0);
                if merged <= separate + MERGE_SLACK_BYTES {
                    *prev = (ux0, ux1, prev.2, page + 1);
                    continue;
                }
            }
            regions.push((x0, x1, page, page + 1));
        }
        regions
            .into_iter()
            .map(|(x0, x1, p0, p1)| {
                Rectangle::new(
                    Point::new(x0 as i32, (p0 * 8) as i32),
                    Size::new(x1 - x0, (p1 - p0) * 8),
                )
            })
            .collect()
    }
}

impl OriginDimensions for MonoFrame {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for MonoFrame {
    type Color = BinaryColor;
    type Error = core::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(p, color) in pixels {
            if p.x >= 0 && p.y >= 0 {
                self.set(p.x as u32, p.y as u32, color.is_on());
            }
        }
        Ok(())
    }

    fn clear(&mut self, color: Self::Color) -> Result<(), Self::Error> {
        self.pages.fill(if color.is_on() { 0xff } else { 0 });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::primitives::PrimitiveStyle;

    #[test]
    fn pixels_land_in_page_layout() {
        let mut f = MonoFrame::new(128, 64);
        Pixel(Point::new(3, 9), BinaryColor::On)
            .draw(&mut f)
            .unwrap();
        assert_eq!(f.as_bytes()[128 + 3], 0b10);
        assert!(f.pixel(3, 9));
        assert!(!f.pixel(3, 8));
        // Out of range is ignored.
        Pixel(Point::new(-1, 70), BinaryColor::On)
            .draw(&mut f)
            .unwrap();
    }

    #[test]
    fn changed_regions_cover_only_changes() {
        let shown = MonoFrame::new(128, 64);
        let mut f = shown.clone();
        assert!(f.changed_regions(&shown).is_empty());
        Rectangle::new(Point::new(10, 2), Size::new(5, 10))
            .into_styled(PrimitiveStyle::with_fill(BinaryColor::On))
            .draw(&mut f)
            .unwrap();
        // Rows 2..12 touch pages 0 and 1, columns 10..15: merged into one region.
        assert_eq!(
            f.changed_regions(&shown),
            vec![Rectangle::new(Point::new(10, 0), Size::new(5, 16))]
        );
        // Far-apart changes on different pages stay separate.
        let mut g = shown.clone();
        Pixel(Point::new(0, 0), BinaryColor::On)
            .draw(&mut g)
            .unwrap();
        Pixel(Point::new(127, 63), BinaryColor::On)
            .draw(&mut g)
            .unwrap();
        assert_eq!(g.changed_regions(&shown).len(), 2);
    }
}
