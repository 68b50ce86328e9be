//! The pictures a person looks at after a run: `latency-raw.png`, one dot per operation
//! at its invocation time and latency; `latency-quantiles.png`, the median, 95th, 99th
//! percentile and maximum latency of ok operations per function over time; `rate.png`,
//! completions per second over time; `timeline.html`, every operation as a box in its
//! process's column (see [`timeline`]); and `messages.svg`, the run's messages as a
//! Lamport diagram (see [`messages`]). The charts shade the intervals during which
//! faults were in effect, so a latency spike or a throughput drop can be read against
//! the partition, kill or pause behind it, and mark each membership change with a tick
//! hanging from the top border.
//!
//! Everything is drawn here, down to the font and the PNG encoder, so the harness needs
//! neither font files nor image libraries on the machine that runs it.

mod canvas;
mod chart;
mod data;
mod font;
pub mod messages;
mod png;
mod timeline;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::checker::CheckReport;
use crate::history::{Event, EventType, NemesisEvent, OpFn};
use canvas::{Canvas, Rgb, Shape};
use chart::{Axis, Frame, LegendEntry, Swatch};
use data::{seconds, FaultInterval, FaultKind, MembershipMark, Timeline};

/// Writes latency-raw.png, latency-quantiles.png and rate.png (Jepsen's perf graphs)
/// into `dir`, returns their paths.
pub fn write_plots(
    dir: &Path,
    history: &[Event],
    nemesis: &[NemesisEvent],
) -> Result<Vec<PathBuf>> {
    let files = [
        ("latency-raw.png", render_latency(history, nemesis).to_png()),
        (
            "latency-quantiles.png",
            render_latency_quantiles(history, nemesis).to_png(),
        ),
        ("rate.png", render_rate(history, nemesis).to_png()),
    ];
    files
        .into_iter()
        .map(|(name, contents)| write_file(dir, name, &contents))
        .collect()
}

/// Writes timeline.html into `dir`, marking the keys `check` found not linearizable.
pub fn write_timeline(
    dir: &Path,
    history: &[Event],
    nemesis: &[NemesisEvent],
    check: Option<&CheckReport>,
) -> Result<PathBuf> {
    let page = timeline::render(history, nemesis, check);
    write_file(dir, "timeline.html", page.as_bytes())
}

/// Writes messages.svg into `dir` from the run's message journal.
pub fn write_messages(dir: &Path, journal: &messages::Journal) -> Result<PathBuf> {
    write_file(dir, "messages.svg", messages::render(journal).as_bytes())
}

fn write_file(dir: &Path, name: &str, contents: &[u8]) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

const OK_COLOR: Rgb = [31, 119, 180];
const FAIL_COLOR: Rgb = [214, 39, 40];
const INFO_COLOR: Rgb = [255, 150, 0];
const NEUTRAL: Rgb = [90, 90, 90];
const MEMBERSHIP_OK_COLOR: Rgb = [44, 160, 44];
const MEMBERSHIP_FAILED_COLOR: Rgb = [120, 120, 120];
/// One colour per quantile in [`data::QUANTILES`] order, cool to warm as it rises, none
/// of them the green or grey of the membership ticks.
const QUANTILE_COLORS: [Rgb; 4] = [
    [31, 119, 180],
    [148, 103, 189],
    [255, 127, 14],
    [214, 39, 40],
];
const QUANTILE_NAMES: [&str; 4] = ["p50", "p95", "p99", "max"];

/// Outcomes in drawing order: failures and infos are rare and must not disappear under
/// the mass of ok operations, so they go on top.
const OUTCOMES: [EventType; 3] = [EventType::Ok, EventType::Info, EventType::Fail];

fn outcome_color(outcome: EventType) -> Rgb {
    match outcome {
        EventType::Fail => FAIL_COLOR,
        EventType::Info => INFO_COLOR,
        // Invocations are never drawn on their own; they only complete the match.
        EventType::Ok | EventType::Invoke => OK_COLOR,
    }
}

fn shape(f: OpFn) -> Shape {
    match f {
        OpFn::Read => Shape::Disk,
        OpFn::Write => Shape::Triangle,
        OpFn::Cas => Shape::Cross,
    }
}

/// Pale enough that dots and lines stay readable on top, distinct enough to tell apart.
fn fault_tint(kind: FaultKind) -> Rgb {
    match kind {
        FaultKind::Partition => [222, 208, 250],
        FaultKind::Kill => [255, 210, 190],
        FaultKind::Pause => [196, 236, 206],
    }
}

/// Shades each fault interval; one still open at the end of the run reaches the right
/// edge of the plot.
fn shade_faults(frame: &Frame, canvas: &mut Canvas, faults: &[FaultInterval], end_seconds: f64) {
    for fault in faults {
        let end = fault.end.map_or(end_seconds, seconds);
        frame.shade(canvas, seconds(fault.start), end, fault_tint(fault.kind));
    }
}

/// One legend entry for each fault kind that occurred.
fn fault_legend(faults: &[FaultInterval]) -> Vec<LegendEntry> {
    FaultKind::ALL
        .into_iter()
        .filter(|&kind| faults.iter().any(|fault| fault.kind == kind))
        .map(|kind| LegendEntry {
            swatch: Swatch::Shade(fault_tint(kind)),
            label: kind.name().to_string(),
        })
        .collect()
}

fn membership_color(mark: &MembershipMark) -> Rgb {
    if mark.ok {
        MEMBERSHIP_OK_COLOR
    } else {
        MEMBERSHIP_FAILED_COLOR
    }
}

/// Ticks at the membership changes, over the data, and their legend entries (none when
/// there were no changes): green where the node answered ok, grey for errors and
/// timeouts. The labels say "config" to fit the legend's width.
fn mark_membership(
    frame: &Frame,
    canvas: &mut Canvas,
    nemesis: &[NemesisEvent],
) -> Vec<LegendEntry> {
    let marks = data::membership_marks(nemesis);
    for mark in &marks {
        frame.mark_top(canvas, seconds(mark.time), membership_color(mark));
    }
    let ok = marks.iter().filter(|mark| mark.ok).count();
    let failed = marks.len() - ok;
    [
        (ok, MEMBERSHIP_OK_COLOR, "config ok"),
        (failed, MEMBERSHIP_FAILED_COLOR, "config err"),
    ]
    .into_iter()
    .filter(|(count, _, _)| *count > 0)
    .map(|(count, color, label)| LegendEntry {
        swatch: Swatch::Line(color),
        label: format!("{label} {count}"),
    })
    .collect()
}

/// A log axis with room around the data, so the slowest operations (often all at the
/// client timeout) are not drawn onto the border. Sub-microsecond latencies count as 1 us
/// so that an instant reply cannot stretch the axis down by decades.
fn latency_axis(latencies_ms: impl Iterator<Item = f64>) -> Axis {
    let (lowest, highest) = latencies_ms.fold((f64::INFINITY, 0.0f64), |(low, high), latency| {
        (low.min(latency.max(1e-3)), high.max(latency.max(1e-3)))
    });
    if highest == 0.0 {
        return Axis::log(1.0, 1000.0);
    }
    Axis::log(
        chart::nice_floor(lowest / 1.5),
        chart::nice_step(highest * 1.5),
    )
}

/// The latency plot, in memory: x is invocation time in seconds, y latency in ms on a log
/// scale, one marker per completed operation.
pub(crate) fn render_latency(history: &[Event], nemesis: &[NemesisEvent]) -> Canvas {
    let timeline = Timeline::new(history, nemesis);
    let ops = data::completed_ops(history);
    let faults = data::fault_intervals(nemesis);

    let frame = Frame::new(
        Axis::linear(0.0, timeline.end_seconds()),
        latency_axis(ops.iter().map(|op| op.latency_ms())),
    );

    let mut canvas = Frame::blank_canvas();
    frame.draw_grid(&mut canvas);
    shade_faults(&frame, &mut canvas, &faults, timeline.end_seconds());
    frame.draw_axes(
        &mut canvas,
        "Latency by invocation time",
        "time since start (s)",
        "latency (ms)",
    );
    let mut outcome_legend = Vec::new();
    for outcome in OUTCOMES {
        let color = outcome_color(outcome);
        let mut count = 0;
        for op in ops.iter().filter(|op| op.outcome == outcome) {
            canvas.marker(
                frame.x_px(seconds(op.invoked)),
                frame.y_px(op.latency_ms()),
                shape(op.f),
                color,
            );
            count += 1;
        }
        let label = format!("{} {count}", outcome.name());
        outcome_legend.push(LegendEntry {
            swatch: Swatch::Marker(Shape::Disk, color),
            label,
        });
    }
    let membership_legend = mark_membership(&frame, &mut canvas, nemesis);

    frame.draw_legend(
        &mut canvas,
        &[
            outcome_legend,
            function_legend(),
            fault_legend(&faults),
            membership_legend,
        ],
    );
    canvas
}

/// Which marker stands for which function; colours are the other plot dimension.
fn function_legend() -> Vec<LegendEntry> {
    [OpFn::Read, OpFn::Write, OpFn::Cas]
        .map(|f| LegendEntry {
            swatch: Swatch::Marker(shape(f), NEUTRAL),
            label: f.name().to_string(),
        })
        .into()
}

/// The latency quantile plot, in memory: for each bucket of
/// [`Timeline::quantile_bucket_seconds`] and each function, the quantiles of its ok
/// operations' latencies, one colour per quantile and one marker shape per function,
/// on the same log scale as the latency plot.
pub(crate) fn render_latency_quantiles(history: &[Event], nemesis: &[NemesisEvent]) -> Canvas {
    let timeline = Timeline::new(history, nemesis);
    let faults = data::fault_intervals(nemesis);
    let bucket_seconds = timeline.quantile_bucket_seconds();
    let end = timeline.end_seconds();
    let series = data::latency_quantiles(&data::completed_ops(history), bucket_seconds);

    let frame = Frame::new(
        Axis::linear(0.0, end),
        latency_axis(
            series
                .iter()
                .flat_map(|series| &series.points)
                .flat_map(|point| point.latencies_ms),
        ),
    );
    let mut canvas = Frame::blank_canvas();
    frame.draw_grid(&mut canvas);
    shade_faults(&frame, &mut canvas, &faults, end);
    let title = format!("Latency quantiles of ok ops, {bucket_seconds} s buckets");
    frame.draw_axes(&mut canvas, &title, "time since start (s)", "latency (ms)");
    // Points at the middle of the part of their bucket inside the plot, so the last,
    // partial, bucket's point does not sit on the right border.
    let x_of = |bucket: usize| {
        let start = bucket as f64 * bucket_seconds;
        frame.x_px((start + (start + bucket_seconds).min(end)) / 2.0)
    };
    // The maximum first and the median last: where quantiles coincide, as in a bucket of
    // few operations, the median shows.
    for quantile in (0..QUANTILE_COLORS.len()).rev() {
        let color = QUANTILE_COLORS[quantile];
        for series in &series {
            let points: Vec<(usize, (i32, i32))> = series
                .points
                .iter()
                .map(|point| {
                    let y = frame.y_px(point.latencies_ms[quantile]);
                    (point.bucket, (x_of(point.bucket), y))
                })
                .collect();
            // A bucket without ok operations of the function (all refused or timed out
            // under a partition, say) breaks the line instead of being bridged over.
            for pair in points.windows(2) {
                if pair[1].0 == pair[0].0 + 1 {
                    canvas.line(pair[0].1, pair[1].1, 2, color);
                }
            }
            for (_, (x, y)) in points {
                canvas.marker(x, y, shape(series.f), color);
            }
        }
    }
    let quantile_legend = QUANTILE_NAMES
        .iter()
        .zip(QUANTILE_COLORS)
        .map(|(name, color)| LegendEntry {
            swatch: Swatch::Line(color),
            label: name.to_string(),
        })
        .collect();
    let membership_legend = mark_membership(&frame, &mut canvas, nemesis);
    frame.draw_legend(
        &mut canvas,
        &[
            quantile_legend,
            function_legend(),
            fault_legend(&faults),
            membership_legend,
        ],
    );
    canvas
}

/// The throughput plot, in memory: completions per second in each bucket of the
/// timeline, one line per outcome, drawn through the bucket midpoints.
pub(crate) fn render_rate(history: &[Event], nemesis: &[NemesisEvent]) -> Canvas {
    let timeline = Timeline::new(history, nemesis);
    let faults = data::fault_intervals(nemesis);
    let rates = OUTCOMES.map(|outcome| (outcome, timeline.rate(history, outcome)));
    let peak = rates
        .iter()
        .flat_map(|(_, rate)| rate.iter().copied())
        .fold(0.0, f64::max);
    // Headroom so the peak does not run along the top border.
    let y_max = if peak > 0.0 {
        chart::nice_ceiling(peak * 1.05)
    } else {
        1.0
    };
    let frame = Frame::new(
        Axis::linear(0.0, timeline.end_seconds()),
        Axis::linear(0.0, y_max),
    );

    let mut canvas = Frame::blank_canvas();
    frame.draw_grid(&mut canvas);
    shade_faults(&frame, &mut canvas, &faults, timeline.end_seconds());
    let title = format!(
        "Completions per second, {} s buckets",
        timeline.bucket_seconds
    );
    frame.draw_axes(&mut canvas, &title, "time since start (s)", "operations/s");
    let mut legend = Vec::new();
    for (outcome, rate) in &rates {
        let color = outcome_color(*outcome);
        let total: f64 = rate
            .iter()
            .map(|per_second| per_second * timeline.bucket_seconds)
            .sum();
        // An outcome that never happened would only draw a line along the x axis.
        if total > 0.0 {
            let points: Vec<(i32, i32)> = rate
                .iter()
                .enumerate()
                .map(|(bucket, &per_second)| {
                    let middle = (bucket as f64 + 0.5) * timeline.bucket_seconds;
                    (frame.x_px(middle), frame.y_px(per_second))
                })
                .collect();
            for pair in points.windows(2) {
                canvas.line(pair[0], pair[1], 2, color);
            }
            if let [only] = points[..] {
                canvas.marker(only.0, only.1, Shape::Disk, color);
            }
        }
        let label = format!("{} {}", outcome.name(), total.round());
        legend.push(LegendEntry {
            swatch: Swatch::Line(color),
            label,
        });
    }

    let membership_legend = mark_membership(&frame, &mut canvas, nemesis);
    frame.draw_legend(
        &mut canvas,
        &[legend, fault_legend(&faults), membership_legend],
    );
    canvas
}

#[cfg(test)]
mod tests;
