use super::data::tests::{fault, membership};
use super::*;
use crate::history::tests::event;
use crate::history::{MembershipOutcome, NemesisKind};

/// Ten processes issuing operations over ten seconds, latencies from 1 to 500 ms.
fn steady_history() -> Vec<Event> {
    let fs = [OpFn::Read, OpFn::Write, OpFn::Cas];
    let mut history = Vec::new();
    for step in 0..100u64 {
        let process = step % 10;
        let start = step * 100;
        let latency = [1, 5, 20, 100, 500][(step % 5) as usize];
        let outcome = match step % 7 {
            3 => EventType::Fail,
            5 => EventType::Info,
            _ => EventType::Ok,
        };
        let f = fs[(step % 3) as usize];
        history.push(event(process, EventType::Invoke, f, start));
        history.push(event(process, outcome, f, start + latency));
    }
    history.sort_by_key(|event| event.time);
    history
}

/// Pixels in the plotting area's column at `x` that have exactly `color`.
fn column_count(canvas: &Canvas, frame: &Frame, x: i32, color: Rgb) -> usize {
    frame
        .inner_rows()
        .filter(|&y| canvas.pixel(x, y) == color)
        .count()
}

/// A frame with the plots' x axis; the y axis does not matter for columns.
fn time_frame(history: &[Event], nemesis: &[NemesisEvent]) -> Frame {
    let end = Timeline::new(history, nemesis).end_seconds();
    Frame::new(Axis::linear(0.0, end), Axis::linear(0.0, 1.0))
}

#[test]
fn write_plots_writes_three_valid_pngs_of_the_plot_size_and_the_timeline() {
    let dir = std::env::temp_dir().join(format!("raft-ng-plot-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let nemesis = [
        fault(NemesisKind::PartitionStart, 3000, &["n1", "n2", "n3"]),
        fault(NemesisKind::Heal, 6000, &[]),
    ];
    let paths = write_plots(&dir, &steady_history(), &nemesis).unwrap();
    let names = ["latency-raw.png", "latency-quantiles.png", "rate.png"];
    assert_eq!(paths, names.map(|name| dir.join(name)));
    for path in &paths {
        let decoded = png::tests::decode(&std::fs::read(path).unwrap());
        assert_eq!(
            (decoded.width, decoded.height),
            (chart::WIDTH as u32, chart::HEIGHT as u32)
        );
        // Each row is a filter byte and three bytes a pixel.
        assert_eq!(
            decoded.scanlines.len(),
            (chart::HEIGHT * (1 + 3 * chart::WIDTH)) as usize
        );
    }
    // A box for each operation and one for the partition.
    let timeline = write_timeline(&dir, &steady_history(), &nemesis, None).unwrap();
    assert_eq!(timeline, dir.join("timeline.html"));
    let html = std::fs::read_to_string(&timeline).unwrap();
    assert_eq!(html.matches("<div class=\"box ").count(), 100 + 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn write_plots_reports_an_unwritable_directory() {
    let missing = std::env::temp_dir().join("raft-ng-plot-test-missing/nested");
    assert!(write_plots(&missing, &steady_history(), &[]).is_err());
}

#[test]
fn partition_interval_is_shaded_and_the_rest_is_not() {
    let history = steady_history();
    let nemesis = [
        fault(NemesisKind::PartitionStart, 3000, &["n1", "n2", "n3"]),
        fault(NemesisKind::Heal, 6000, &[]),
    ];
    let frame = time_frame(&history, &nemesis);
    let tint = fault_tint(FaultKind::Partition);
    for canvas in [
        render_latency(&history, &nemesis),
        render_latency_quantiles(&history, &nemesis),
        render_rate(&history, &nemesis),
    ] {
        let rows = frame.inner_rows().len();
        // Inside: most of the column is the pure tint (grid lines, dots and lines aside).
        assert!(column_count(&canvas, &frame, frame.x_px(4.3), tint) > rows * 3 / 4);
        assert!(column_count(&canvas, &frame, frame.x_px(3.05), tint) > rows * 3 / 4);
        // Outside, before and after: none of it.
        for outside in [1.5, 2.9, 6.1, 8.0] {
            assert_eq!(
                column_count(&canvas, &frame, frame.x_px(outside), tint),
                0,
                "at {outside} s"
            );
        }
    }
}

#[test]
fn open_interval_runs_to_the_end_and_kinds_have_their_own_colors() {
    let history = steady_history();
    let nemesis = [
        fault(NemesisKind::Kill, 1000, &["n1"]),
        fault(NemesisKind::Restart, 2000, &["n1"]),
        fault(NemesisKind::Pause, 8000, &["n2"]),
    ];
    let frame = time_frame(&history, &nemesis);
    let end = Timeline::new(&history, &nemesis).end_seconds();
    let canvas = render_rate(&history, &nemesis);
    let rows = frame.inner_rows().len();
    let (kill, pause) = (fault_tint(FaultKind::Kill), fault_tint(FaultKind::Pause));
    assert_ne!(kill, pause);
    assert!(column_count(&canvas, &frame, frame.x_px(1.5), kill) > rows / 2);
    assert!(column_count(&canvas, &frame, frame.x_px(end) - 1, pause) > rows / 2);
    assert_eq!(column_count(&canvas, &frame, frame.x_px(1.5), pause), 0);
    assert_eq!(column_count(&canvas, &frame, frame.x_px(end) - 1, kill), 0);
}

#[test]
fn membership_changes_are_ticks_at_the_top_and_shade_nothing() {
    let history = steady_history();
    let nemesis = [
        membership(2000, MembershipOutcome::Ok),
        membership(5000, MembershipOutcome::Timeout),
        membership(7000, MembershipOutcome::Error),
    ];
    let frame = time_frame(&history, &nemesis);
    let top = frame.inner_rows().start;
    let bottom = frame.inner_rows().end;
    for canvas in [
        render_latency(&history, &nemesis),
        render_latency_quantiles(&history, &nemesis),
        render_rate(&history, &nemesis),
    ] {
        assert_eq!(canvas.pixel(frame.x_px(2.0), top + 4), MEMBERSHIP_OK_COLOR);
        for at in [5.0, 7.0] {
            assert_eq!(
                canvas.pixel(frame.x_px(at), top + 4),
                MEMBERSHIP_FAILED_COLOR
            );
        }
        // A tick, not a line across the plot, and no fault shading anywhere.
        assert_ne!(
            canvas.pixel(frame.x_px(2.0), bottom - 40),
            MEMBERSHIP_OK_COLOR
        );
        for kind in FaultKind::ALL {
            for at in [1.0, 2.0, 4.5, 7.0] {
                assert_eq!(
                    column_count(&canvas, &frame, frame.x_px(at), fault_tint(kind)),
                    0
                );
            }
        }
    }
    // Plots of membership events alone, or with the other faults, are written too.
    let dir = std::env::temp_dir().join(format!("raft-ng-plot-membership-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mixed = [
        fault(NemesisKind::PartitionStart, 1000, &["n1", "n2", "n3"]),
        membership(1500, MembershipOutcome::Ok),
        fault(NemesisKind::Heal, 3000, &[]),
        fault(NemesisKind::Membership, 4000, &[]),
    ];
    assert_eq!(write_plots(&dir, &[], &mixed).unwrap().len(), 3);
    assert_eq!(write_plots(&dir, &history, &nemesis).unwrap().len(), 3);
    write_timeline(&dir, &[], &mixed, None).unwrap();
    write_timeline(&dir, &history, &nemesis, None).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn latency_dots_sit_at_invocation_time_and_latency_in_outcome_colors() {
    use EventType::*;
    let history = [
        event(0, Invoke, OpFn::Read, 2000),
        event(0, Ok, OpFn::Read, 2100),
        event(1, Invoke, OpFn::Write, 5000),
        event(1, Fail, OpFn::Write, 5002),
        event(2, Invoke, OpFn::Cas, 7000),
        event(2, Info, OpFn::Cas, 8000),
    ];
    let canvas = render_latency(&history, &[]);
    let end = Timeline::new(&history, &[]).end_seconds();
    let frame = Frame::new(
        Axis::linear(0.0, end),
        latency_axis([100.0, 2.0, 1000.0].into_iter()),
    );
    assert_eq!(canvas.pixel(frame.x_px(2.0), frame.y_px(100.0)), OK_COLOR);
    assert_eq!(canvas.pixel(frame.x_px(5.0), frame.y_px(2.0)), FAIL_COLOR);
    // The cas cross's centre is on its diagonals.
    assert_eq!(
        canvas.pixel(frame.x_px(7.0), frame.y_px(1000.0)),
        INFO_COLOR
    );
    assert_ne!(canvas.pixel(frame.x_px(3.5), frame.y_px(100.0)), OK_COLOR);
}

#[test]
fn quantile_lines_join_adjacent_buckets_in_quantile_colors() {
    use EventType::*;
    let mut history = Vec::new();
    let mut process = 0;
    let mut op = |f, outcome, invoked_ms, latency_ms| {
        history.push(event(process, Invoke, f, invoked_ms));
        history.push(event(process, outcome, f, invoked_ms + latency_ms));
        process += 1;
    };
    // Reads in the buckets of seconds 2, 3 and 5, each with p50 50 ms, p95 95, p99 99
    // and max 180; none in second 4.
    for second in [2, 3, 5] {
        for i in 0..100 {
            let latency = if i == 99 { 180 } else { i + 1 };
            op(OpFn::Read, Ok, second * 1000 + i * 5, latency);
        }
    }
    // Writes of 2 ms in second 10, and slow failures that must not count.
    for i in 0..10 {
        op(OpFn::Write, Ok, 10_000 + i * 50, 2);
        op(OpFn::Cas, Fail, 3_000 + i * 50, 900);
        op(OpFn::Read, Info, 3_000 + i * 50, 1000);
    }
    // A 30 s run: one-second buckets.
    op(OpFn::Read, Invoke, 29_500, 0);
    history.sort_by_key(|event| event.time);

    let canvas = render_latency_quantiles(&history, &[]);
    let end = Timeline::new(&history, &[]).end_seconds();
    let frame = Frame::new(
        Axis::linear(0.0, end),
        latency_axis([2.0, 180.0].into_iter()),
    );
    let [p50, p95, p99, max] = QUANTILE_COLORS;
    // Lines between the middles of seconds 2 and 3, and none bridging second 4, where no
    // read succeeded.
    for (latency, color) in [(50.0, p50), (95.0, p95), (99.0, p99), (180.0, max)] {
        assert_eq!(
            canvas.pixel(frame.x_px(3.0), frame.y_px(latency)),
            color,
            "{latency} ms"
        );
        assert_ne!(canvas.pixel(frame.x_px(4.5), frame.y_px(latency)), color);
    }
    // Disk markers at the middles of the buckets, second 5's on its own too (p95 and p99
    // are too close together for their markers not to overlap).
    for second in [2.5, 3.5, 5.5] {
        assert_eq!(canvas.pixel(frame.x_px(second), frame.y_px(50.0)), p50);
        assert_eq!(canvas.pixel(frame.x_px(second), frame.y_px(180.0)), max);
    }
    // The writes' quantiles coincide; the median is drawn last, on a triangle.
    assert_eq!(canvas.pixel(frame.x_px(10.5), frame.y_px(2.0)), p50);
    // The failures and infos add nothing: not at their latency, not stretching the axis
    // (the checks above place the data on an axis of the ok latencies alone).
    let top_rows = frame.inner_rows().start..frame.inner_rows().start + 20;
    for color in QUANTILE_COLORS {
        assert!(top_rows
            .clone()
            .all(|y| canvas.pixel(frame.x_px(3.5), y) != color));
    }
}

#[test]
fn rate_line_follows_completions_per_second() {
    use EventType::*;
    // Twenty ok completions in the first second, none after, over a 30 s run.
    let mut history: Vec<Event> = (0..20)
        .flat_map(|i| {
            [
                event(i, Invoke, OpFn::Read, i * 40),
                event(i, Ok, OpFn::Read, i * 40 + 10),
            ]
        })
        .collect();
    history.push(event(99, Invoke, OpFn::Read, 30_000));
    let canvas = render_rate(&history, &[]);
    // Peak 20/s: the y axis runs to nice_ceiling(21) = 25.
    let end = Timeline::new(&history, &[]).end_seconds();
    let frame = Frame::new(Axis::linear(0.0, end), Axis::linear(0.0, 25.0));
    assert_eq!(canvas.pixel(frame.x_px(0.5), frame.y_px(20.0)), OK_COLOR);
    // Data goes over the axes, so a rate of zero shows along the bottom border.
    assert_eq!(canvas.pixel(frame.x_px(10.5), frame.y_px(0.0)), OK_COLOR);
    assert_ne!(canvas.pixel(frame.x_px(10.5), frame.y_px(20.0)), OK_COLOR);
}

#[test]
fn latency_axis_leaves_room_around_the_data() {
    let axis = latency_axis([2.0, 1000.0, 40.0].into_iter());
    let frame = Frame::new(Axis::linear(0.0, 1.0), axis);
    let rows = frame.inner_rows();
    for latency in [2.0, 1000.0] {
        let y = frame.y_px(latency);
        assert!(
            y > rows.start + 10 && y < rows.end - 10,
            "{latency} ms at row {y}"
        );
    }
    assert_eq!(frame.y_px(1.0), rows.end, "bottom is 1 ms");
    assert_eq!(frame.y_px(2000.0), rows.start - 1, "top is 2 s");
}

#[test]
fn empty_history_still_plots() {
    let canvas = render_latency(&[], &[]);
    assert_eq!(
        (canvas.width(), canvas.height()),
        (chart::WIDTH, chart::HEIGHT)
    );
    let canvas = render_rate(&[], &[fault(NemesisKind::PartitionStart, 0, &[])]);
    assert_eq!(
        (canvas.width(), canvas.height()),
        (chart::WIDTH, chart::HEIGHT)
    );
}

/// Writes sample plots of a made-up 30 s run to /tmp/plot-sample/ for a person to look
/// at: `cargo test -p harness --lib plot -- --ignored sample`.
#[test]
#[ignore]
fn sample_plots_for_viewing() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(7);
    let partitioned = |ms: u64| (10_000..15_000).contains(&ms) || ms >= 27_000;
    let killed = |ms: u64| (18_000..20_500).contains(&ms);
    let mut history = Vec::new();
    for thread in 0..5u64 {
        let mut process = thread;
        let mut now = rng.gen_range(0..20);
        while now < 30_000 {
            let f = [OpFn::Read, OpFn::Write, OpFn::Cas][rng.gen_range(0..3)];
            let normal = rng.gen_range(0.3f64..1.3).powi(3) * 8.0;
            let (outcome, latency) = if partitioned(now) && rng.gen_bool(0.3) {
                (EventType::Info, 1000.0)
            } else if killed(now) && rng.gen_bool(0.2) {
                (EventType::Fail, rng.gen_range(0.5..3.0))
            } else if rng.gen_bool(0.02) {
                (EventType::Fail, normal)
            } else {
                (
                    EventType::Ok,
                    normal
                        + if partitioned(now) {
                            rng.gen_range(0.0..300.0)
                        } else {
                            0.0
                        },
                )
            };
            let latency_ns = (latency * 1e6) as u64;
            let mut invoke = event(process, EventType::Invoke, f, 0);
            invoke.time = now * 1_000_000;
            let mut completion = event(process, outcome, f, 0);
            completion.time = invoke.time + latency_ns;
            history.push(invoke);
            history.push(completion);
            if outcome == EventType::Info {
                process += 5;
            }
            now += latency_ns / 1_000_000 + rng.gen_range(1..15);
        }
    }
    history.sort_by_key(|event| event.time);
    let nemesis = [
        fault(
            NemesisKind::PartitionStart,
            10_000,
            &["n1", "n2", "n3", "n4", "n5"],
        ),
        fault(NemesisKind::Heal, 15_000, &["n1", "n2", "n3", "n4", "n5"]),
        fault(NemesisKind::Kill, 18_000, &["n2"]),
        fault(NemesisKind::Restart, 20_500, &["n2"]),
        fault(NemesisKind::Pause, 22_000, &["n4"]),
        fault(NemesisKind::Resume, 24_000, &["n4"]),
        fault(
            NemesisKind::PartitionStart,
            27_000,
            &["n1", "n2", "n3", "n4", "n5"],
        ),
    ];
    let dir = Path::new("/tmp/plot-sample");
    std::fs::create_dir_all(dir).unwrap();
    for path in write_plots(dir, &history, &nemesis).unwrap() {
        println!("wrote {}", path.display());
    }
    let timeline = write_timeline(dir, &history, &nemesis, None).unwrap();
    println!("wrote {}", timeline.display());
    // The font, every printable character, at the sizes the plots use.
    let mut glyphs = Canvas::new(620, 60, canvas::WHITE);
    let ascii: String = (' '..='~').collect();
    glyphs.text(4, 4, &ascii[..48], 2, canvas::BLACK);
    glyphs.text(4, 24, &ascii[48..], 2, canvas::BLACK);
    glyphs.text(4, 44, &ascii, 1, canvas::BLACK);
    std::fs::write(dir.join("font.png"), glyphs.to_png()).unwrap();
}

/// How long a run's end waits for its pictures after 60 s at 1,000 ops/s. Timing is
/// printed, not asserted, as for the checker:
/// `cargo test --release -p harness --lib plot::tests::sixty -- --ignored --nocapture`.
#[test]
#[ignore = "slow in debug builds; run in release to see the timing"]
fn sixty_thousand_operations() {
    use crate::checker::simulation::{linearizable_history, Workload};
    let history = linearizable_history(&Workload {
        seed: 60,
        clients: 15,
        operations: 60_000,
        keys: 1,
        info_probability: 0.005,
    });
    let nemesis = [
        fault(NemesisKind::PartitionStart, 10_000, &["n1", "n2", "n3"]),
        fault(NemesisKind::Heal, 20_000, &[]),
        membership(30_000, MembershipOutcome::Ok),
    ];
    let dir = std::env::temp_dir().join(format!("raft-ng-plot-timing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let started = std::time::Instant::now();
    let mut paths = write_plots(&dir, &history, &nemesis).unwrap();
    paths.push(write_timeline(&dir, &history, &nemesis, None).unwrap());
    let elapsed = started.elapsed();
    let sizes: Vec<String> = paths
        .iter()
        .map(|path| {
            let size = std::fs::metadata(path).unwrap().len();
            format!(
                "{} {} KB",
                path.file_name().unwrap().to_string_lossy(),
                size / 1024
            )
        })
        .collect();
    println!(
        "wrote {} for {} events spanning {:.1} s in {elapsed:?}",
        sizes.join(", "),
        history.len(),
        seconds(history.last().unwrap().time)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
