//! An in-memory display: any layout renders into it, and it turns into PNG (for
//! `offhook screens`, the simulated board and golden tests).

use std::convert::Infallible;

use embedded_graphics::pixelcolor::{BinaryColor, Rgb565, Rgb888};
use embedded_graphics::prelude::*;
use image::{ExtendedColorType, ImageEncoder};

/// A colour that can be written to PNG as RGB.
pub trait PngColor: PixelColor {
    fn rgb(self) -> [u8; 3];
}

impl PngColor for BinaryColor {
    fn rgb(self) -> [u8; 3] {
        match self {
            BinaryColor::On => [0xff, 0xff, 0xff],
            BinaryColor::Off => [0x00, 0x00, 0x00],
        }
    }
}

impl PngColor for Rgb565 {
    fn rgb(self) -> [u8; 3] {
        let c = Rgb888::from(self);
        [c.r(), c.g(), c.b()]
    }
}

/// A framebuffer that also counts pixels drawn outside it (clipped drawing is a layout bug).
#[derive(Debug, Clone, PartialEq)]
pub struct Framebuffer<C> {
    size: Size,
    pixels: Vec<C>,
    outside: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("PNG encoding failed: {0}")]
    Encode(#[from] image::ImageError),
}

impl<C: PngColor> Framebuffer<C> {
    pub fn new(size: Size, background: C) -> Framebuffer<C> {
        Framebuffer {
            size,
            pixels: vec![background; (size.width * size.height) as usize],
            outside: 0,
        }
    }

    /// Pixels that were drawn off the edges.
    pub fn clipped_pixels(&self) -> usize {
        self.outside
    }

    pub fn pixel(&self, x: u32, y: u32) -> Option<C> {
        if x >= self.size.width || y >= self.size.height {
            return None;
        }
        self.pixels.get((y * self.size.width + x) as usize).copied()
    }

    /// RGB bytes, each pixel repeated `scale` times in both directions.
    pub fn rgb_bytes(&self, scale: u32) -> (u32, u32, Vec<u8>) {
        let scale = scale.max(1);
        let (w, h) = (self.size.width * scale, self.size.height * scale);
        let mut out = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                let c = self
                    .pixel(x / scale, y / scale)
                    .map(PngColor::rgb)
                    .unwrap_or([0, 0, 0]);
                out.extend_from_slice(&c);
            }
        }
        (w, h, out)
    }

    /// The framebuffer as a PNG file.
    pub fn to_png(&self, scale: u32) -> Result<Vec<u8>, PngError> {
        let (w, h, rgb) = self.rgb_bytes(scale);
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png).write_image(
            &rgb,
            w,
            h,
            ExtendedColorType::Rgb8,
        )?;
        Ok(png)
    }
}

impl<C: PixelColor> OriginDimensions for Framebuffer<C> {
    fn size(&self) -> Size {
        self.size
    }
}

impl<C: PixelColor> DrawTarget for Framebuffer<C> {
    type Color = C;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(point, color) in pixels {
            let inside = point.x >= 0
                && point.y >= 0
                && (point.x as u32) < self.size.width
                && (point.y as u32) < self.size.height;
            if inside {
                let index = (point.y as u32 * self.size.width + point.x as u32) as usize;
                if let Some(p) = self.pixels.get_mut(index) {
                    *p = color;
                }
            } else {
                self.outside += 1;
            }
        }
        Ok(())
    }

    fn fill_solid(
        &mut self,
        area: &embedded_graphics::primitives::Rectangle,
        color: Self::Color,
    ) -> Result<(), Self::Error> {
        let visible = area.intersection(&self.bounding_box());
        let total = (area.size.width * area.size.height) as usize;
        let shown = (visible.size.width * visible.size.height) as usize;
        self.outside += total - shown;
        if shown == 0 {
            return Ok(());
        }
        let width = self.size.width as usize;
        let x0 = visible.top_left.x as usize;
        let x1 = x0 + visible.size.width as usize;
        for y in visible.rows() {
            let row = y as usize * width;
            if let Some(span) = self.pixels.get_mut(row + x0..row + x1) {
                span.fill(color);
            }
        }
        Ok(())
    }

    fn clear(&mut self, color: Self::Color) -> Result<(), Self::Error> {
        self.pixels.fill(color);
        Ok(())
    }
}

/// Decodes a PNG into RGB bytes (for comparing with a golden image).
pub fn png_rgb(bytes: &[u8]) -> Result<(u32, u32, Vec<u8>), image::ImageError> {
    let image = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)?.to_rgb8();
    Ok((image.width(), image.height(), image.into_raw()))
}
