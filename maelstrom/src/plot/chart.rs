//! The frame shared by both plots: a fixed layout, axis scales, grid, ticks and their
//! labels, fault shading, title and legend. The plots themselves only place data.

use super::canvas::{text_height, text_width, Canvas, Rgb, Shape, BLACK};

pub const WIDTH: i32 = 1000;
pub const HEIGHT: i32 = 500;

// The plotting rectangle. The left margin holds the y tick labels and the turned axis
// title, the right one the legend, the top the title, the bottom the x labels.
const LEFT: i32 = 100;
const RIGHT: i32 = 790;
const TOP: i32 = 40;
const BOTTOM: i32 = 436;

const TEXT_SCALE: i32 = 2;
const TICK_LENGTH: i32 = 5;
/// How far an instant's mark reaches down from the top border.
const MARK_LENGTH: i32 = 16;
const GRID: Rgb = [226, 226, 226];
const LABEL: Rgb = [40, 40, 40];
/// Aim for about this many ticks on a linear axis; the step is then rounded to 1, 2 or 5
/// times a power of ten so labels stay short.
const TARGET_TICKS: f64 = 8.0;

#[derive(Clone, Copy, Debug)]
enum Scale {
    Linear,
    Log10,
}

#[derive(Clone, Copy, Debug)]
pub struct Axis {
    min: f64,
    max: f64,
    scale: Scale,
}

impl Axis {
    pub fn linear(min: f64, max: f64) -> Axis {
        assert!(max > min, "empty axis {min}..{max}");
        Axis {
            min,
            max,
            scale: Scale::Linear,
        }
    }

    /// A logarithmic axis; ticked at each power of ten inside it, and also at 2 and 5
    /// times those when it spans too few decades for that to be enough.
    pub fn log(min: f64, max: f64) -> Axis {
        assert!(max > min && min > 0.0, "bad log axis {min}..{max}");
        Axis {
            min,
            max,
            scale: Scale::Log10,
        }
    }

    /// Where `value` falls between the ends of the axis, clamped to them so stray values
    /// (a latency below the lowest decade, say) sit on the edge rather than vanish.
    fn fraction(&self, value: f64) -> f64 {
        let fraction = match self.scale {
            Scale::Linear => (value - self.min) / (self.max - self.min),
            Scale::Log10 => {
                let value = value.max(self.min);
                (value.log10() - self.min.log10()) / (self.max.log10() - self.min.log10())
            }
        };
        fraction.clamp(0.0, 1.0)
    }

    /// Tick positions and their labels.
    fn ticks(&self) -> Vec<(f64, String)> {
        match self.scale {
            Scale::Linear => {
                let step = nice_step((self.max - self.min) / TARGET_TICKS);
                let decimals = (-step.log10().floor()).max(0.0) as usize;
                let first = (self.min / step).ceil() as i64;
                let last = (self.max / step + 1e-9).floor() as i64;
                (first..=last)
                    .map(|i| {
                        let value = i as f64 * step;
                        (value, format!("{value:.decimals$}"))
                    })
                    .collect()
            }
            Scale::Log10 => {
                let multiples: &[f64] = if self.max / self.min >= 1000.0 {
                    &[1.0]
                } else {
                    &[1.0, 2.0, 5.0]
                };
                let lowest = self.min.log10().floor() as i32;
                let highest = self.max.log10().ceil() as i32;
                let inside = |value: f64| {
                    value >= self.min * (1.0 - 1e-9) && value <= self.max * (1.0 + 1e-9)
                };
                (lowest..=highest)
                    .flat_map(|exponent| {
                        let decimals = (-exponent).max(0) as usize;
                        let power = 10f64.powi(exponent);
                        multiples
                            .iter()
                            .map(move |multiple| (multiple * power, decimals))
                    })
                    .filter(|&(value, _)| inside(value))
                    .map(|(value, decimals)| (value, format!("{value:.decimals$}")))
                    .collect()
            }
        }
    }
}

/// The smallest of 1, 2 or 5 times a power of ten that is at least `raw`.
pub fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let multiple = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|m| m * magnitude >= raw * (1.0 - 1e-9));
    multiple.unwrap_or(10.0) * magnitude
}

/// The largest of 1, 2 or 5 times a power of ten that is at most `raw`.
pub fn nice_floor(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let multiple = [5.0, 2.0, 1.0]
        .into_iter()
        .find(|m| m * magnitude <= raw * (1.0 + 1e-9));
    multiple.unwrap_or(1.0) * magnitude
}

/// `value` rounded up to a multiple of the tick step an axis of that length would get,
/// so a linear axis ends on a labelled tick.
pub fn nice_ceiling(value: f64) -> f64 {
    let step = nice_step(value / TARGET_TICKS);
    (value / step - 1e-9).ceil().max(1.0) * step
}

/// What a legend entry shows next to its label.
pub enum Swatch {
    Marker(Shape, Rgb),
    Line(Rgb),
    Shade(Rgb),
}

pub struct LegendEntry {
    pub swatch: Swatch,
    pub label: String,
}

/// The plotting rectangle with an x and a y axis: maps data to pixels and draws
/// everything around the data.
pub struct Frame {
    x: Axis,
    y: Axis,
}

impl Frame {
    pub fn new(x: Axis, y: Axis) -> Frame {
        Frame { x, y }
    }

    pub fn blank_canvas() -> Canvas {
        Canvas::new(WIDTH, HEIGHT, super::canvas::WHITE)
    }

    pub fn x_px(&self, value: f64) -> i32 {
        LEFT + (self.x.fraction(value) * f64::from(RIGHT - LEFT)).round() as i32
    }

    pub fn y_px(&self, value: f64) -> i32 {
        BOTTOM - (self.y.fraction(value) * f64::from(BOTTOM - TOP)).round() as i32
    }

    /// The pixel rows strictly inside the plotting rectangle, for tests that inspect it.
    #[cfg(test)]
    pub fn inner_rows(&self) -> std::ops::Range<i32> {
        TOP + 1..BOTTOM
    }

    /// Light lines at every tick, drawn first so data and shading go over them.
    pub fn draw_grid(&self, canvas: &mut Canvas) {
        for (value, _) in self.x.ticks() {
            let x = self.x_px(value);
            canvas.line((x, TOP), (x, BOTTOM), 1, GRID);
        }
        for (value, _) in self.y.ticks() {
            let y = self.y_px(value);
            canvas.line((LEFT, y), (RIGHT, y), 1, GRID);
        }
    }

    /// Tints the full height of the plot between two x values.
    pub fn shade(&self, canvas: &mut Canvas, from: f64, to: f64, tint: Rgb) {
        let (left, right) = (self.x_px(from), self.x_px(to));
        // Even an instant-long fault gets one visible column.
        canvas.tint_rect(left, TOP, right.max(left + 1), BOTTOM, tint);
    }

    /// A short thick tick hanging from the top border at `at`, for an instant such as a
    /// membership change.
    pub fn mark_top(&self, canvas: &mut Canvas, at: f64, color: Rgb) {
        let x = self.x_px(at);
        canvas.line((x, TOP + 1), (x, TOP + MARK_LENGTH), 2, color);
    }

    /// Border, ticks, tick labels, axis titles and the plot title.
    pub fn draw_axes(&self, canvas: &mut Canvas, title: &str, x_title: &str, y_title: &str) {
        let label_height = text_height(TEXT_SCALE);
        for (value, label) in self.x.ticks() {
            let x = self.x_px(value);
            canvas.line((x, BOTTOM), (x, BOTTOM + TICK_LENGTH), 1, BLACK);
            let left = x - text_width(&label, TEXT_SCALE) / 2;
            canvas.text(left, BOTTOM + TICK_LENGTH + 4, &label, TEXT_SCALE, LABEL);
        }
        for (value, label) in self.y.ticks() {
            let y = self.y_px(value);
            canvas.line((LEFT - TICK_LENGTH, y), (LEFT, y), 1, BLACK);
            let left = LEFT - TICK_LENGTH - 4 - text_width(&label, TEXT_SCALE);
            canvas.text(left, y - label_height / 2, &label, TEXT_SCALE, LABEL);
        }
        for (from, to) in [
            ((LEFT, TOP), (RIGHT, TOP)),
            ((LEFT, BOTTOM), (RIGHT, BOTTOM)),
            ((LEFT, TOP), (LEFT, BOTTOM)),
            ((RIGHT, TOP), (RIGHT, BOTTOM)),
        ] {
            canvas.line(from, to, 1, BLACK);
        }

        let x_title_left = (LEFT + RIGHT - text_width(x_title, TEXT_SCALE)) / 2;
        canvas.text(
            x_title_left,
            HEIGHT - label_height - 8,
            x_title,
            TEXT_SCALE,
            BLACK,
        );
        let y_title_bottom = (TOP + BOTTOM + text_width(y_title, TEXT_SCALE)) / 2;
        canvas.text_up(14, y_title_bottom, y_title, TEXT_SCALE, BLACK);
        let title_left = (LEFT + RIGHT - text_width(title, TEXT_SCALE)) / 2;
        canvas.text(
            title_left,
            (TOP - label_height) / 2,
            title,
            TEXT_SCALE,
            BLACK,
        );
    }

    /// The legend, right of the plot, one group of entries under the other.
    pub fn draw_legend(&self, canvas: &mut Canvas, groups: &[Vec<LegendEntry>]) {
        const SWATCH_WIDTH: i32 = 22;
        const ROW_HEIGHT: i32 = 22;
        const GROUP_GAP: i32 = 12;
        let label_height = text_height(TEXT_SCALE);
        let left = RIGHT + 16;
        let mut top = TOP;
        for group in groups.iter().filter(|group| !group.is_empty()) {
            for entry in group {
                let middle = top + label_height / 2;
                match entry.swatch {
                    Swatch::Marker(shape, color) => {
                        canvas.marker(left + SWATCH_WIDTH / 2, middle, shape, color)
                    }
                    Swatch::Line(color) => {
                        canvas.line((left, middle), (left + SWATCH_WIDTH, middle), 3, color)
                    }
                    Swatch::Shade(tint) => {
                        canvas.fill_rect(left, top, left + SWATCH_WIDTH, top + label_height, tint);
                    }
                }
                canvas.text(
                    left + SWATCH_WIDTH + 8,
                    top,
                    &entry.label,
                    TEXT_SCALE,
                    BLACK,
                );
                top += ROW_HEIGHT;
            }
            top += GROUP_GAP;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_use_round_steps() {
        let labels: Vec<String> = Axis::linear(0.0, 60.0)
            .ticks()
            .into_iter()
            .map(|(_, label)| label)
            .collect();
        assert_eq!(labels, ["0", "10", "20", "30", "40", "50", "60"]);
        let labels: Vec<String> = Axis::linear(0.0, 1.5)
            .ticks()
            .into_iter()
            .map(|(_, label)| label)
            .collect();
        assert_eq!(
            labels,
            ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0", "1.2", "1.4"]
        );
    }

    #[test]
    fn log_ticks_are_powers_of_ten() {
        let labels = |axis: Axis| {
            axis.ticks()
                .into_iter()
                .map(|(_, label)| label)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            labels(Axis::log(0.05, 2000.0)),
            ["0.1", "1", "10", "100", "1000"]
        );
        // Under three decades, 2 and 5 times each power of ten too.
        assert_eq!(
            labels(Axis::log(0.5, 20.0)),
            ["0.5", "1", "2", "5", "10", "20"]
        );
    }

    #[test]
    fn nice_values_are_one_two_five() {
        for (raw, floor, step) in [
            (1.0, 1.0, 1.0),
            (1.4, 1.0, 2.0),
            (3.0, 2.0, 5.0),
            (700.0, 500.0, 1000.0),
            (0.03, 0.02, 0.05),
        ] {
            assert!((nice_floor(raw) - floor).abs() < 1e-12, "floor {raw}");
            assert!((nice_step(raw) - step).abs() < 1e-12, "step {raw}");
        }
    }

    #[test]
    fn nice_ceiling_ends_on_a_tick() {
        for (value, ceiling) in [
            (73.0, 80.0),
            (40.0, 40.0),
            (0.3, 0.3),
            (1234.0, 1400.0),
            (0.9, 1.0),
        ] {
            assert!(
                (nice_ceiling(value) - ceiling).abs() < 1e-9,
                "{value} -> {}",
                nice_ceiling(value)
            );
        }
    }

    #[test]
    fn pixels_follow_the_scale() {
        let frame = Frame::new(Axis::linear(0.0, 10.0), Axis::log(1.0, 100.0));
        assert_eq!(frame.x_px(0.0), LEFT);
        assert_eq!(frame.x_px(10.0), RIGHT);
        assert_eq!(frame.x_px(5.0), (LEFT + RIGHT) / 2);
        assert_eq!(frame.y_px(1.0), BOTTOM);
        assert_eq!(frame.y_px(10.0), (TOP + BOTTOM) / 2);
        assert_eq!(frame.y_px(100.0), TOP);
        // Out of range values stay on the edges.
        assert_eq!(frame.y_px(0.0), BOTTOM);
        assert_eq!(frame.x_px(11.0), RIGHT);
    }
}
