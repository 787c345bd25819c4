//! Frames as pictures: PNG files and terminal text (half blocks).

use std::fmt::Write as _;
use std::path::Path;

use crate::display::Frame;
use crate::error::{BoardError, Result};

/// Encodes the frame as an RGB PNG, each pixel scaled to `scale`×`scale`.
pub fn to_png(frame: &Frame, scale: u32) -> Result<Vec<u8>> {
    let scale = scale.max(1);
    let size = frame.size();
    let (w, h) = (size.width * scale, size.height * scale);
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb(frame.rgb888(x / scale, y / scale)));
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| BoardError::Display {
        panel: "png".into(),
        message: e.to_string(),
    })?;
    Ok(bytes)
}

/// Writes the frame as a PNG file.
pub fn save_png(frame: &Frame, scale: u32, path: &Path) -> Result<()> {
    let bytes = to_png(frame, scale)?;
    std::fs::write(path, bytes)
        .map_err(|e| BoardError::io(format!("writing {}", path.display()), e))
}

/// Renders the frame for a terminal, two pixel rows per text line, one cell per `step`
/// pixels across. Mono frames use plain block characters, a cell half lit when any pixel of
/// its `step`×`step` block is (so thin strokes survive the scaling); colour frames sample
/// every `step`-th pixel in 24-bit ANSI colours.
pub fn to_terminal(frame: &Frame, step: u32) -> String {
    let step = step.max(1);
    let size = frame.size();
    let mut out = String::new();
    let mut y = 0;
    while y < size.height {
        let mut x = 0;
        while x < size.width {
            let top = frame.rgb888(x, y);
            let bottom = if y + step < size.height {
                frame.rgb888(x, y + step)
            } else {
                [0; 3]
            };
            match frame {
                Frame::Mono(_) => out.push(
                    match (
                        any_lit(frame, x, y, step),
                        any_lit(frame, x, y + step, step),
                    ) {
                        (false, false) => ' ',
                        (true, false) => '▀',
                        (false, true) => '▄',
                        (true, true) => '█',
                    },
                ),
                Frame::Color(_) => {
                    let _ = write!(
                        out,
                        "\x1b[38;2;{};{};{}m\x1b[48;2;{};{};{}m▀",
                        top[0], top[1], top[2], bottom[0], bottom[1], bottom[2]
                    );
                }
            }
            x += step;
        }
        if matches!(frame, Frame::Color(_)) {
            out.push_str("\x1b[0m");
        }
        out.push('\n');
        y += 2 * step;
    }
    out
}

/// Whether any pixel of the `step`×`step` block at (`x`, `y`) is lit (parts outside the
/// frame are dark).
fn any_lit(frame: &Frame, x: u32, y: u32, step: u32) -> bool {
    let size = frame.size();
    (y..(y + step).min(size.height))
        .any(|py| (x..(x + step).min(size.width)).any(|px| frame.rgb888(px, py)[0] > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::{Layout, MonoFrame};
    use embedded_graphics::pixelcolor::BinaryColor;
    use embedded_graphics::prelude::*;

    #[test]
    fn png_round_trips_pixels() {
        let mut f = MonoFrame::new(128, 64);
        Pixel(Point::new(5, 7), BinaryColor::On)
            .draw(&mut f)
            .unwrap();
        let png = to_png(&Frame::Mono(f), 2).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (256, 128));
        assert_eq!(img.get_pixel(10, 14).0, [255, 255, 255]);
        assert_eq!(img.get_pixel(11, 15).0, [255, 255, 255]);
        assert_eq!(img.get_pixel(12, 14).0, [0, 0, 0]);
    }

    #[test]
    fn terminal_half_blocks() {
        let mut f = MonoFrame::new(4, 8);
        Pixel(Point::new(0, 0), BinaryColor::On)
            .draw(&mut f)
            .unwrap();
        Pixel(Point::new(1, 1), BinaryColor::On)
            .draw(&mut f)
            .unwrap();
        Pixel(Point::new(2, 0), BinaryColor::On)
            .draw(&mut f)
            .unwrap();
        Pixel(Point::new(2, 1), BinaryColor::On)
            .draw(&mut f)
            .unwrap();
        let text = to_terminal(&Frame::Mono(f), 1);
        assert_eq!(text.lines().next(), Some("▀▄█ "));
        assert_eq!(text.lines().count(), 4);
        let c = to_terminal(&Frame::new(Layout::TFT_240X320), 2);
        assert_eq!(c.lines().count(), 80);
    }
}
