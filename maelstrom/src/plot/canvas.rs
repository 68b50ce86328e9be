//! An RGB raster with the few drawing primitives the plots need. Coordinates are signed
//! and everything is clipped, so callers can draw shapes that hang over an edge.

use super::font::{self, ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH};
use super::png;

pub type Rgb = [u8; 3];

pub const BLACK: Rgb = [0, 0, 0];
pub const WHITE: Rgb = [255, 255, 255];

pub struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<Rgb>,
}

/// Marker shapes, so operations of different kinds stay apart even when they share a colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Disk,
    Triangle,
    Cross,
}

/// Half the width of a marker, in pixels.
const MARKER_RADIUS: i32 = 3;

impl Canvas {
    pub fn new(width: i32, height: i32, background: Rgb) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![background; (width * height) as usize],
        }
    }

    // Inspection, for tests that check what was drawn.
    #[cfg(test)]
    pub fn width(&self) -> i32 {
        self.width
    }

    #[cfg(test)]
    pub fn height(&self) -> i32 {
        self.height
    }

    #[cfg(test)]
    pub fn pixel(&self, x: i32, y: i32) -> Rgb {
        self.pixels[(y * self.width + x) as usize]
    }

    fn index(&self, x: i32, y: i32) -> Option<usize> {
        let inside = (0..self.width).contains(&x) && (0..self.height).contains(&y);
        inside.then(|| (y * self.width + x) as usize)
    }

    pub fn set(&mut self, x: i32, y: i32, color: Rgb) {
        if let Some(index) = self.index(x, y) {
            self.pixels[index] = color;
        }
    }

    /// Fills the half-open rectangle [x0, x1) x [y0, y1).
    pub fn fill_rect(&mut self, x0: i32, y0: i32, x1: i32, y1: i32, color: Rgb) {
        for y in y0.max(0)..y1.min(self.height) {
            for x in x0.max(0)..x1.min(self.width) {
                self.set(x, y, color);
            }
        }
    }

    /// Multiplies the rectangle by `tint`, like a coloured filter laid over it: on white it
    /// gives exactly `tint`, grid lines stay visible through it, and where two tinted
    /// intervals overlap the overlap shows darker instead of one hiding the other.
    pub fn tint_rect(&mut self, x0: i32, y0: i32, x1: i32, y1: i32, tint: Rgb) {
        for y in y0.max(0)..y1.min(self.height) {
            for x in x0.max(0)..x1.min(self.width) {
                let index = (y * self.width + x) as usize;
                let pixel = &mut self.pixels[index];
                for channel in 0..3 {
                    pixel[channel] =
                        (u16::from(pixel[channel]) * u16::from(tint[channel]) / 255) as u8;
                }
            }
        }
    }

    /// A straight line `thickness` pixels wide (Bresenham, stamping a square at each step).
    pub fn line(&mut self, from: (i32, i32), to: (i32, i32), thickness: i32, color: Rgb) {
        let (mut x, mut y) = from;
        let (dx, dy) = ((to.0 - x).abs(), -(to.1 - y).abs());
        let (step_x, step_y) = ((to.0 - x).signum(), (to.1 - y).signum());
        let mut error = dx + dy;
        let offset = (thickness - 1) / 2;
        loop {
            self.fill_rect(
                x - offset,
                y - offset,
                x - offset + thickness,
                y - offset + thickness,
                color,
            );
            if (x, y) == to {
                return;
            }
            let doubled = 2 * error;
            if doubled >= dy {
                error += dy;
                x += step_x;
            }
            if doubled <= dx {
                error += dx;
                y += step_y;
            }
        }
    }

    pub fn marker(&mut self, x: i32, y: i32, shape: Shape, color: Rgb) {
        let r = MARKER_RADIUS;
        for dy in -r..=r {
            for dx in -r..=r {
                let on = match shape {
                    Shape::Disk => dx * dx + dy * dy <= r * r,
                    // Apex on top, base on the bottom row, widening one pixel every other row.
                    Shape::Triangle => 2 * dx.abs() <= dy + r,
                    // Two diagonals, each two pixels thick.
                    Shape::Cross => matches!(dx - dy, 0 | 1) || matches!(dx + dy, 0 | 1),
                };
                if on {
                    self.set(x + dx, y + dy, color);
                }
            }
        }
    }

    /// Draws `text` with its top-left corner at (x, y), each font pixel `scale` pixels square.
    pub fn text(&mut self, x: i32, y: i32, text: &str, scale: i32, color: Rgb) {
        for (index, c) in text.chars().enumerate() {
            let left = x + index as i32 * ADVANCE * scale;
            self.glyph(c, scale, color, |column, row| {
                (left + column * scale, y + row * scale)
            });
        }
    }

    /// Draws `text` turned a quarter anticlockwise, reading bottom to top as a y-axis
    /// title does; (x, y) is the bottom-left corner of the turned block.
    pub fn text_up(&mut self, x: i32, y: i32, text: &str, scale: i32, color: Rgb) {
        for (index, c) in text.chars().enumerate() {
            let bottom = y - index as i32 * ADVANCE * scale;
            self.glyph(c, scale, color, |column, row| {
                (x + row * scale, bottom - (column + 1) * scale)
            });
        }
    }

    /// Fills a `scale`-sized square for each set font pixel, at the canvas position
    /// `place` gives for the font pixel's (column, row).
    fn glyph(&mut self, c: char, scale: i32, color: Rgb, place: impl Fn(i32, i32) -> (i32, i32)) {
        for column in 0..GLYPH_WIDTH {
            for row in 0..GLYPH_HEIGHT {
                if font::is_set(c, column, row) {
                    let (x, y) = place(column, row);
                    self.fill_rect(x, y, x + scale, y + scale, color);
                }
            }
        }
    }

    pub fn to_png(&self) -> Vec<u8> {
        let rgb: Vec<u8> = self.pixels.iter().flatten().copied().collect();
        png::encode_rgb(self.width as u32, self.height as u32, &rgb)
    }
}

/// Width in pixels of `text` drawn at `scale`, without the trailing blank column.
pub fn text_width(text: &str, scale: i32) -> i32 {
    let count = text.chars().count() as i32;
    (count * ADVANCE - 1).max(0) * scale
}

/// Height in pixels of one line of text at `scale`.
pub fn text_height(scale: i32) -> i32 {
    GLYPH_HEIGHT * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawing_is_clipped_to_the_canvas() {
        let mut canvas = Canvas::new(10, 10, WHITE);
        canvas.fill_rect(-5, -5, 3, 2, BLACK);
        canvas.line((-20, 5), (20, 5), 1, BLACK);
        canvas.marker(9, 9, Shape::Disk, BLACK);
        canvas.text(8, 8, "Wide text", 2, BLACK);
        assert_eq!(canvas.pixel(0, 0), BLACK);
        assert_eq!(canvas.pixel(2, 1), BLACK);
        assert_eq!(canvas.pixel(3, 1), WHITE);
        assert!((0..10).all(|x| canvas.pixel(x, 5) == BLACK));
    }

    #[test]
    fn tint_multiplies() {
        let mut canvas = Canvas::new(4, 1, WHITE);
        canvas.set(1, 0, [100, 200, 0]);
        canvas.tint_rect(0, 0, 2, 1, [128, 255, 64]);
        assert_eq!(canvas.pixel(0, 0), [128, 255, 64]);
        assert_eq!(canvas.pixel(1, 0), [50, 200, 0]);
        assert_eq!(canvas.pixel(2, 0), WHITE);
    }

    #[test]
    fn text_renders_glyph_pixels_at_scale() {
        let mut canvas = Canvas::new(20, 20, WHITE);
        canvas.text(1, 1, "-", 2, BLACK);
        // '-' is font row 3: canvas rows 7 and 8, columns 1 through 10.
        assert_eq!(canvas.pixel(1, 7), BLACK);
        assert_eq!(canvas.pixel(10, 8), BLACK);
        assert_eq!(canvas.pixel(11, 8), WHITE);
        assert_eq!(canvas.pixel(1, 6), WHITE);
        assert_eq!(text_width("ab", 2), 22);

        let mut turned = Canvas::new(20, 20, WHITE);
        turned.text_up(1, 18, "-", 2, BLACK);
        // Turned a quarter left, the row becomes a column 3 font pixels from the left.
        assert_eq!(turned.pixel(7, 17), BLACK);
        assert_eq!(turned.pixel(8, 9), BLACK);
        assert_eq!(turned.pixel(8, 7), WHITE);
        assert_eq!(turned.pixel(5, 12), WHITE);
    }
}
