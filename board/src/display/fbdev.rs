//! The Linux framebuffer (`/dev/fbN`), e.g. an SPI TFT driven by the kernel's fbtft/DRM
//! panel drivers. Changed regions are converted to the framebuffer's pixel format and
//! written into the memory-mapped frame.

use std::path::Path;

use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;

use crate::display::{Frame, Layout, Panel};
use crate::error::{BoardError, Result};

/// Where each colour sits in a framebuffer pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelFormat {
    pub bytes_per_pixel: usize,
    /// (offset, length) in bits of red, green and blue.
    pub red: (u32, u32),
    pub green: (u32, u32),
    pub blue: (u32, u32),
}

impl PixelFormat {
    /// RGB565, the usual 16-bit format.
    pub const RGB565: PixelFormat = PixelFormat {
        bytes_per_pixel: 2,
        red: (11, 5),
        green: (5, 6),
        blue: (0, 5),
    };

    /// Packs an 8-bit-per-channel colour.
    pub fn pack(&self, rgb: [u8; 3]) -> u32 {
        let channel = |v: u8, (offset, len): (u32, u32)| -> u32 {
            if len == 0 || len > 8 || offset >= 32 {
                return 0;
            }
            (u32::from(v) >> (8 - len)) << offset
        };
        channel(rgb[0], self.red) | channel(rgb[1], self.green) | channel(rgb[2], self.blue)
    }
}

/// Writes `region` of `frame` into a framebuffer memory image.
pub fn write_region(
    mem: &mut [u8],
    line_length: usize,
    format: PixelFormat,
    frame: &Frame,
    region: Rectangle,
) {
    let bpp = format.bytes_per_pixel.clamp(1, 4);
    let x0 = region.top_left.x.max(0) as u32;
    let y0 = region.top_left.y.max(0) as u32;
    for y in y0..y0 + region.size.height {
        for x in x0..x0 + region.size.width {
            let at = y as usize * line_length + x as usize * bpp;
            let Some(dst) = mem.get_mut(at..at + bpp) else {
                continue;
            };
            let value = format.pack(frame.rgb888(x, y)).to_le_bytes();
            dst.copy_from_slice(&value[..bpp]);
        }
    }
}

/// A framebuffer device as a panel.
pub struct FbPanel {
    fb: framebuffer::Framebuffer,
    format: PixelFormat,
    line_length: usize,
    layout: Layout,
    name: String,
}

impl FbPanel {
    /// Opens `/dev/fbN`; a missing device or an unsupported pixel format is a clear error.
    pub fn open(path: &Path) -> Result<FbPanel> {
        let fb = framebuffer::Framebuffer::new(path).map_err(|e| BoardError::Device {
            path: path.into(),
            message: format!("cannot open the framebuffer: {e}"),
        })?;
        let v = &fb.var_screen_info;
        let bytes_per_pixel = match v.bits_per_pixel {
            16 => 2,
            24 => 3,
            32 => 4,
            other => {
                return Err(BoardError::Device {
                    path: path.into(),
                    message: format!("{other} bits per pixel is not supported (16, 24 or 32)"),
                });
            }
        };
        let format = PixelFormat {
            bytes_per_pixel,
            red: (v.red.offset, v.red.length),
            green: (v.green.offset, v.green.length),
            blue: (v.blue.offset, v.blue.length),
        };
        let layout = Layout::Color {
            width: v.xres,
            height: v.yres,
        };
        let line_length = fb.fix_screen_info.line_length as usize;
        Ok(FbPanel {
            fb,
            format,
            line_length,
            layout,
            name: format!("framebuffer {}", path.display()),
        })
    }
}

impl Panel for FbPanel {
    fn name(&self) -> &str {
        &self.name
    }

    fn layout(&self) -> Layout {
        self.layout
    }

    fn write_regions(&mut self, frame: &Frame, regions: &[Rectangle]) -> Result<()> {
        let screen = Rectangle::new(Point::zero(), self.layout.size());
        for r in regions {
            let r = r.intersection(&screen);
            write_region(
                &mut self.fb.frame[..],
                self.line_length,
                self.format,
                frame,
                r,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::{ColorFrame, MonoFrame};
    use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};

    #[test]
    fn packs_common_formats() {
        assert_eq!(PixelFormat::RGB565.pack([255, 0, 0]), 0xf800);
        assert_eq!(PixelFormat::RGB565.pack([0, 255, 0]), 0x07e0);
        let xrgb = PixelFormat {
            bytes_per_pixel: 4,
            red: (16, 8),
            green: (8, 8),
            blue: (0, 8),
        };
        assert_eq!(xrgb.pack([1, 2, 3]), 0x010203);
    }

    #[test]
    fn writes_a_region_into_memory() {
        let mut f = ColorFrame::new(4, 2);
        Pixel(Point::new(1, 1), Rgb565::BLUE).draw(&mut f).unwrap();
        let mut mem = vec![0u8; 8 * 2];
        write_region(
            &mut mem,
            8,
            PixelFormat::RGB565,
            &Frame::Color(f),
            Rectangle::new(Point::new(1, 1), Size::new(1, 1)),
        );
        assert_eq!(&mem[8 + 2..8 + 4], &0x001fu16.to_le_bytes());
        assert!(mem[..8].iter().all(|b| *b == 0));
        // A mono frame on a 32-bit framebuffer: lit pixels are white.
        let mut m = MonoFrame::new(8, 8);
        Pixel(Point::new(0, 0), BinaryColor::On)
            .draw(&mut m)
            .unwrap();
        let mut mem = vec![0u8; 32 * 8];
        let fmt = PixelFormat {
            bytes_per_pixel: 4,
            red: (16, 8),
            green: (8, 8),
            blue: (0, 8),
        };
        write_region(
            &mut mem,
            32,
            fmt,
            &Frame::Mono(m),
            Rectangle::new(Point::zero(), Size::new(8, 8)),
        );
        assert_eq!(&mem[..4], &[255, 255, 255, 0]);
        assert_eq!(&mem[4..8], &[0, 0, 0, 0]);
    }

    #[test]
    fn a_missing_framebuffer_is_a_clear_error() {
        let err = FbPanel::open(Path::new("/dev/fb7")).err().unwrap();
        assert!(err.to_string().contains("/dev/fb7"), "{err}");
    }
}
