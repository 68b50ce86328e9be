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
fn write_plots_writes_two_valid_pngs_of_the_plot_size() {
    let dir = std::env::temp_dir().join(format!("raft-ng-plot-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let nemesis = [
        fault(NemesisKind::PartitionStart, 3000, &["n1", "n2", "n3"]),
        fault(NemesisKind::Heal, 6000, &[]),
    ];
    let paths = write_plots(&dir, &steady_history(), &nemesis).unwrap();
    assert_eq!(paths, [dir.join("latency-raw.png"), dir.join("rate.png")]);
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
    assert_eq!(write_plots(&dir, &[], &mixed).unwrap().len(), 2);
    assert_eq!(write_plots(&dir, &history, &nemesis).unwrap().len(), 2);
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
    // The font, every printable character, at the sizes the plots use.
    let mut glyphs = Canvas::new(620, 60, canvas::WHITE);
    let ascii: String = (' '..='~').collect();
    glyphs.text(4, 4, &ascii[..48], 2, canvas::BLACK);
    glyphs.text(4, 24, &ascii[48..], 2, canvas::BLACK);
    glyphs.text(4, 44, &ascii, 1, canvas::BLACK);
    std::fs::write(dir.join("font.png"), glyphs.to_png()).unwrap();
}
