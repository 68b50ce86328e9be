//! `timeline.html`, after Jepsen's timeline: one column per process and one box per
//! operation from its invocation to its completion, coloured by outcome, with the
//! function, key, value and error on the box and everything else in its tooltip. Fault
//! intervals and membership changes get columns of their own on the left.
//!
//! Rows follow the order of events, not a clock, as in Jepsen: each invocation and each
//! completion opens the next row. A 1 ms read and a 1 s timeout are then both tall
//! enough to label, and which operations overlap is exact, which is what a question
//! about linearizability turns on. A line across the page marks where each second of
//! the run begins. Jepsen runs an info box to the bottom of the page, since the
//! operation may take effect at any later time; here it ends where the client gave up,
//! so its timeout shows, and only an operation that never completed runs to the end.
//!
//! When the checker found keys that are not linearizable, the page opens with each such
//! key's reason, linked to the operation that could not be linearized, and outlines in
//! red every operation involved, as Knossos's linear.svg shows them.
//!
//! One static file with inline CSS and no script opens anywhere, offline. Every box is
//! a plain absolutely positioned div, which browsers lay out quickly even for tens of
//! thousands of operations.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Display, Write};

use super::data::{self, FaultKind};
use super::{fault_tint, MEMBERSHIP_FAILED_COLOR, MEMBERSHIP_OK_COLOR};
use crate::checker::{CheckReport, Validity};
use crate::history::{
    pair_invocations, Event, EventType, MembershipOutcome, NemesisEvent, NemesisKind,
};

/// Pixels per row: one line of text.
const ROW_HEIGHT: usize = 16;
/// From one column's left edge to the next one's: the boxes' 100 px (in `STYLE`) and a
/// gap.
const COLUMN_PITCH: usize = 106;
/// Room on the left for the second labels.
const GUTTER: usize = 48;

/// Jepsen's timeline colours for the outcomes; the boxes carry the outcome as a class.
const STYLE: &str = "\
body{font:12px sans-serif;margin:8px}
p{margin:4px 0}
.key span{display:inline-block;padding:0 6px;margin-right:4px;border:1px solid #0003}
.head{position:sticky;top:0;z-index:2;height:18px;background:#fff;border-bottom:1px solid #aaa}
.head div{position:absolute;top:2px;width:100px;overflow:hidden;text-align:center;font-weight:bold}
.rows{position:relative}
.second{position:absolute;left:0;right:0;border-top:1px solid #ddd;color:#888;font-size:10px}
.box{position:absolute;width:100px;box-sizing:border-box;overflow:hidden;white-space:nowrap;\
text-overflow:ellipsis;padding:0 3px;line-height:15px;border:1px solid #0003;border-radius:2px}
.ok{background:#6db6fe}
.fail{background:#feb5da}
.info{background:#ffaa26}
.open{border:1px dashed #000}
.anomaly{outline:3px solid #d00;z-index:1}
.stuck{box-shadow:0 0 0 8px #f99;scroll-margin-top:60px}
.anomalies{border:2px solid #d00;padding:4px 8px;margin:6px 0}
.anomalies li{margin:2px 0}
";

/// Displays text with `& < > " '` escaped, safe in element content and in quoted
/// attribute values alike: keys, values and error texts are arbitrary JSON and strings.
pub(super) struct Escaped<'a>(pub(super) &'a str);

impl Display for Escaped<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            out.write_str(&rest[..at])?;
            out.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        out.write_str(rest)
    }
}

/// One box: which column, from which row, how many rows, what it says.
#[derive(Clone, Debug, PartialEq)]
struct TimelineBox {
    column: usize,
    top_row: usize,
    rows: usize,
    class: &'static str,
    text: String,
    title: String,
    /// The anomaly (index into [`Layout::anomalies`]) the operation is involved in.
    anomaly: Option<usize>,
    /// The operation that could not be linearized; the anomaly's link leads here.
    stuck: bool,
}

/// A key that is not linearizable, for the head of the page.
#[derive(Clone, Debug, PartialEq)]
struct Anomaly {
    key: String,
    reason: String,
    /// How many operations are involved.
    operations: usize,
}

/// The rows and columns of a history; `render` turns them into HTML.
struct Layout {
    /// Column headings, left to right.
    columns: Vec<String>,
    /// The whole second of each row's event, for the second lines.
    row_seconds: Vec<u64>,
    boxes: Vec<TimelineBox>,
    anomalies: Vec<Anomaly>,
}

/// For each invalid key of the check, in order: the invocations of its operations
/// involved (by process and time, unique since a process is sequential) and its failed
/// operation's event.
type AnomalyIndex = HashMap<(u64, u64), usize>;

fn anomalies(check: Option<&CheckReport>) -> (Vec<Anomaly>, AnomalyIndex, Vec<Option<&Event>>) {
    let mut anomalies = Vec::new();
    let mut involved = HashMap::new();
    let mut failed = Vec::new();
    let invalid = check
        .into_iter()
        .flat_map(|check| &check.keys)
        .filter(|key| key.validity == Validity::Invalid);
    for key in invalid {
        let index = anomalies.len();
        let invocations = key
            .anomaly
            .iter()
            .filter(|event| event.kind == EventType::Invoke);
        for event in invocations.clone() {
            involved.insert((event.process, event.time), index);
        }
        anomalies.push(Anomaly {
            key: key.key.to_string(),
            reason: key.reason.clone().unwrap_or_default(),
            operations: invocations.count(),
        });
        failed.push(key.op.as_ref());
    }
    (anomalies, involved, failed)
}

fn layout(history: &[Event], nemesis: &[NemesisEvent], check: Option<&CheckReport>) -> Layout {
    let (anomalies, involved, failed) = anomalies(check);
    // Rows in time order; the sort is stable, as pair_invocations's is, so an invocation
    // always gets a row above its completion.
    let mut order: Vec<usize> = (0..history.len()).collect();
    order.sort_by_key(|&index| history[index].time);
    let mut row_of = vec![0; history.len()];
    for (row, &index) in order.iter().enumerate() {
        row_of[index] = row;
    }
    let times: Vec<u64> = order.iter().map(|&index| history[index].time).collect();
    let end_row = history.len();
    // An instant is drawn at the first event at or after it.
    let row_at = |time: u64| times.partition_point(|&t| t < time);

    let mut columns = Vec::new();
    let mut boxes = Vec::new();
    let faults = data::fault_intervals(nemesis);
    for kind in FaultKind::ALL {
        let mut intervals = faults.iter().filter(|fault| fault.kind == kind).peekable();
        if intervals.peek().is_none() {
            continue;
        }
        let column = columns.len();
        columns.push(kind.name().to_string());
        for fault in intervals {
            let top_row = row_at(fault.start);
            let until = match fault.end {
                Some(end) => format!("{} s", Seconds(end)),
                None => "the end of the run".into(),
            };
            boxes.push(TimelineBox {
                column,
                top_row,
                rows: (fault.end.map_or(end_row, row_at)).max(top_row + 1) - top_row,
                class: kind.name(),
                text: kind.name().into(),
                title: format!("{} from {} s to {until}", kind.name(), Seconds(fault.start)),
                anomaly: None,
                stuck: false,
            });
        }
    }
    let changes: Vec<&NemesisEvent> = nemesis
        .iter()
        .filter(|event| event.kind == NemesisKind::Membership)
        .collect();
    if !changes.is_empty() {
        let column = columns.len();
        columns.push("membership".into());
        boxes.extend(
            changes
                .into_iter()
                .map(|event| membership_box(event, column, &row_at)),
        );
    }

    // Processes in numeric order, each its column.
    let mut process_column: BTreeMap<u64, usize> =
        history.iter().map(|event| (event.process, 0)).collect();
    for (process, column) in process_column.iter_mut() {
        *column = columns.len();
        columns.push(format!("p{process}"));
    }
    for pair in pair_invocations(history) {
        let invocation = &history[pair.invoke];
        let completion = pair.completion.map(|index| &history[index]);
        let column = process_column[&invocation.process];
        let top_row = row_of[pair.invoke];
        let bottom_row = pair.completion.map_or(end_row, |index| row_of[index]);
        let anomaly = involved
            .get(&(invocation.process, invocation.time))
            .copied();
        let stuck =
            anomaly.is_some_and(|index| failed[index] == Some(completion.unwrap_or(invocation)));
        boxes.push(TimelineBox {
            column,
            top_row,
            rows: bottom_row.max(top_row + 1) - top_row,
            // Never completed: it may still take effect, as an info may, so it looks like
            // one, with a dashed border to tell it apart.
            class: completion.map_or("info open", |event| event.kind.name()),
            text: op_text(invocation, completion),
            title: op_title(invocation, completion),
            anomaly,
            stuck,
        });
    }

    Layout {
        columns,
        row_seconds: times.iter().map(|&time| time / 1_000_000_000).collect(),
        boxes,
        anomalies,
    }
}

/// A membership change is an instant: one row where its outcome was known.
fn membership_box(
    event: &NemesisEvent,
    column: usize,
    row_at: &impl Fn(u64) -> usize,
) -> TimelineBox {
    let at = format!("at {} s", Seconds(event.time));
    let (ok, text, title) = match &event.membership {
        Some(change) => {
            let mut title = format!(
                "{} {} via {}: {} {at}",
                change.action,
                change.node,
                change.via,
                change.outcome.name()
            );
            if let Some((code, text)) = &change.error {
                write!(title, "\nerror {code}: {text}").unwrap();
            }
            (
                change.outcome == MembershipOutcome::Ok,
                format!("{} {}", change.action, change.node),
                title,
            )
        }
        None => (false, "membership".into(), format!("membership {at}")),
    };
    TimelineBox {
        column,
        top_row: row_at(event.time),
        rows: 1,
        class: if ok { "config-ok" } else { "config-failed" },
        text,
        title,
        anomaly: None,
        stuck: false,
    }
}

/// What the box shows: function, key, the value written, cas'd or read, and the error
/// code.
fn op_text(invocation: &Event, completion: Option<&Event>) -> String {
    let mut text = format!("{} {}", invocation.f.name(), invocation.key);
    // A read's value is what it read; the others' what they were asked to write.
    let value = match completion {
        Some(completion) if invocation.value.is_null() => &completion.value,
        _ => &invocation.value,
    };
    if !value.is_null() {
        write!(text, " {value}").unwrap();
    }
    match completion.and_then(|event| event.error.as_ref()) {
        // Without a code, the start of the error's text (Jepsen's `timed-out`, say).
        Some((Event::NO_CODE, error)) => {
            write!(text, " err {}", error.chars().take(16).collect::<String>()).unwrap()
        }
        Some((code, _)) => write!(text, " err {code}").unwrap(),
        None => {}
    }
    text
}

/// The tooltip: everything about the operation, one fact a line.
fn op_title(invocation: &Event, completion: Option<&Event>) -> String {
    let mut title = format!("process {}", invocation.process);
    if !invocation.node.is_empty() {
        write!(title, " at {}", invocation.node).unwrap();
    }
    write!(title, "\n{} key {}", invocation.f.name(), invocation.key).unwrap();
    if !invocation.value.is_null() {
        write!(title, " value {}", invocation.value).unwrap();
    }
    let invoked = Seconds(invocation.time);
    match completion {
        Some(completion) => {
            write!(title, "\n{}", completion.kind.name()).unwrap();
            if !completion.value.is_null() && completion.value != invocation.value {
                write!(title, " value {}", completion.value).unwrap();
            }
            match &completion.error {
                Some((Event::NO_CODE, text)) => write!(title, " error: {text}").unwrap(),
                Some((code, text)) => write!(title, " error {code}: {text}").unwrap(),
                None => {}
            }
            write!(
                title,
                "\ninvoked {invoked} s, completed {} s ({} ms)",
                Seconds(completion.time),
                Millis(completion.time.saturating_sub(invocation.time))
            )
            .unwrap();
        }
        None => write!(
            title,
            "\ninvoked {invoked} s, never completed: may still take effect"
        )
        .unwrap(),
    }
    title
}

/// Nanoseconds as seconds (`Seconds`) or milliseconds (`Millis`), to the microsecond.
/// Integer arithmetic: formatting floats, three a box, took most of the time of writing
/// a large timeline.
struct Seconds(u64);
struct Millis(u64);

impl Display for Seconds {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            out,
            "{}.{:06}",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000 / 1000
        )
    }
}

impl Display for Millis {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            out,
            "{}.{:03}",
            self.0 / 1_000_000,
            self.0 % 1_000_000 / 1000
        )
    }
}

fn css_rgb([red, green, blue]: [u8; 3]) -> String {
    format!("rgb({red},{green},{blue})")
}

/// The whole page; `check`'s keys that are not linearizable are marked.
pub fn render(history: &[Event], nemesis: &[NemesisEvent], check: Option<&CheckReport>) -> String {
    let Layout {
        columns,
        row_seconds,
        boxes,
        anomalies,
    } = layout(history, nemesis, check);
    let width = GUTTER + columns.len() * COLUMN_PITCH;
    // One row more than the events: a fault or membership change after the last event
    // is drawn there.
    let height = (row_seconds.len() + 1) * ROW_HEIGHT;
    let count = |class: &str| boxes.iter().filter(|b| b.class == class).count();

    // Writing to a String cannot fail.
    let mut html = String::with_capacity(300 * boxes.len() + 4096);
    html.push_str(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Timeline</title>\n<style>\n",
    );
    html.push_str(STYLE);
    for kind in FaultKind::ALL {
        writeln!(
            html,
            ".{}{{background:{}}}",
            kind.name(),
            css_rgb(fault_tint(kind))
        )
        .unwrap();
    }
    for (class, color) in [
        ("config-ok", MEMBERSHIP_OK_COLOR),
        ("config-failed", MEMBERSHIP_FAILED_COLOR),
    ] {
        writeln!(html, ".{class}{{background:{};color:#fff}}", css_rgb(color)).unwrap();
    }
    html.push_str("</style></head><body>\n");
    if !anomalies.is_empty() {
        writeln!(
            html,
            "<div class=\"anomalies\"><p><b>Not linearizable: {} key{}.</b> The operations \
             involved are outlined in red; each link leads to the operation that could not \
             be linearized (outlined and haloed).</p><ol>",
            anomalies.len(),
            if anomalies.len() == 1 { "" } else { "s" }
        )
        .unwrap();
        for (index, anomaly) in anomalies.iter().enumerate() {
            writeln!(
                html,
                "<li><a href=\"#anomaly-{index}\">key {}</a> ({} operations): {}</li>",
                Escaped(&anomaly.key),
                anomaly.operations,
                Escaped(&anomaly.reason)
            )
            .unwrap();
        }
        html.push_str("</ol></div>\n");
    }
    writeln!(
        html,
        "<p>{} operations: ok {}, fail {}, info {}, never completed {}. Rows follow the \
         order of events, one per invocation or completion, not a clock; a grey line marks \
         each second. Hover a box for details.</p>",
        count("ok") + count("fail") + count("info") + count("info open"),
        count("ok"),
        count("fail"),
        count("info"),
        count("info open"),
    )
    .unwrap();
    html.push_str(
        "<p class=\"key\"><span class=\"ok\">ok</span><span class=\"fail\">fail</span>\
         <span class=\"info\">info</span><span class=\"info open\">never completed</span></p>\n",
    );

    writeln!(html, "<div class=\"head\" style=\"width:{width}px\">").unwrap();
    for (column, heading) in columns.iter().enumerate() {
        writeln!(
            html,
            "<div style=\"left:{}px\">{}</div>",
            GUTTER + column * COLUMN_PITCH,
            Escaped(heading)
        )
        .unwrap();
    }
    html.push_str("</div>\n");

    writeln!(
        html,
        "<div class=\"rows\" style=\"width:{width}px;height:{height}px\">"
    )
    .unwrap();
    let mut previous_second = None;
    for (row, &second) in row_seconds.iter().enumerate() {
        if previous_second != Some(second) {
            writeln!(
                html,
                "<div class=\"second\" style=\"top:{}px\">{second} s</div>",
                row * ROW_HEIGHT
            )
            .unwrap();
            previous_second = Some(second);
        }
    }
    for b in &boxes {
        let marks = match (b.anomaly, b.stuck) {
            (Some(index), true) => format!(" anomaly stuck\" id=\"anomaly-{index}"),
            (Some(_), false) => " anomaly".to_string(),
            (None, _) => String::new(),
        };
        writeln!(
            html,
            "<div class=\"box {}{marks}\" style=\"left:{}px;top:{}px;height:{}px\" title=\"{}\">{}</div>",
            b.class,
            GUTTER + b.column * COLUMN_PITCH,
            b.top_row * ROW_HEIGHT,
            b.rows * ROW_HEIGHT,
            Escaped(&b.title),
            Escaped(&b.text)
        )
        .unwrap();
    }
    html.push_str("</div>\n</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::event;
    use crate::history::{EventType, MembershipOutcome, OpFn};
    use crate::plot::data::tests::{fault, membership};
    use serde_json::{json, Value};

    /// Four operations, one of each outcome and one that never completes:
    /// rows 0 p2 read, 1 p10 cas, 2 p2 read ok, 3 p10 cas fail, 4 p3 write,
    /// 5 p4 read, 6 p3 write info (1.2 s).
    fn small_history() -> Vec<Event> {
        use EventType::*;
        let with = |mut event: Event, value: Value| {
            event.value = value;
            event
        };
        let mut failed = with(event(10, Fail, OpFn::Cas, 30), json!([1, 2]));
        failed.error = Some((22, "expected 1, had 0".into()));
        vec![
            event(2, Invoke, OpFn::Read, 0),
            with(event(10, Invoke, OpFn::Cas, 10), json!([1, 2])),
            with(event(2, Ok, OpFn::Read, 20), json!(3)),
            failed,
            with(event(3, Invoke, OpFn::Write, 200), json!(4)),
            event(4, Invoke, OpFn::Read, 300),
            with(event(3, Info, OpFn::Write, 1200), json!(4)),
        ]
    }

    fn boxes_of_class<'a>(layout: &'a Layout, class: &str) -> Vec<&'a TimelineBox> {
        layout.boxes.iter().filter(|b| b.class == class).collect()
    }

    #[test]
    fn one_box_per_operation_in_its_process_column_from_invocation_to_completion() {
        let layout = layout(&small_history(), &[], None);
        // Numeric order: p10 after p3 and p4.
        assert_eq!(layout.columns, ["p2", "p3", "p4", "p10"]);
        assert_eq!(layout.row_seconds, [0, 0, 0, 0, 0, 0, 1]);
        let geometry = |class| -> Vec<(usize, usize, usize)> {
            boxes_of_class(&layout, class)
                .iter()
                .map(|b| (b.column, b.top_row, b.rows))
                .collect()
        };
        assert_eq!(geometry("ok"), [(0, 0, 2)]);
        assert_eq!(geometry("fail"), [(3, 1, 2)]);
        assert_eq!(geometry("info"), [(1, 4, 2)]);
        // Never completed: down to the end of the history, row 7.
        assert_eq!(geometry("info open"), [(2, 5, 2)]);
        assert_eq!(layout.boxes.len(), 4);

        let text = |class| boxes_of_class(&layout, class)[0].text.clone();
        assert_eq!(text("ok"), "read 1 3");
        assert_eq!(text("fail"), "cas 1 [1,2] err 22");
        assert_eq!(text("info"), "write 1 4");
        assert_eq!(text("info open"), "read 1");
        let title = &boxes_of_class(&layout, "fail")[0].title;
        assert!(title.contains("error 22: expected 1, had 0"), "{title}");
        assert!(
            title.contains("invoked 0.010000 s, completed 0.030000 s (20.000 ms)"),
            "{title}"
        );
        assert!(boxes_of_class(&layout, "info open")[0]
            .title
            .contains("never completed"));
    }

    #[test]
    fn html_has_a_box_of_the_right_class_per_operation() {
        let html = render(&small_history(), &[], None);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.ends_with("</body></html>\n"));
        assert_eq!(html.matches("<div class=\"box ").count(), 4);
        for class in ["ok", "fail", "info", "info open"] {
            assert_eq!(
                html.matches(&format!("<div class=\"box {class}\"")).count(),
                1,
                "{class}"
            );
        }
        // Rows are 16 px and columns 106 px apart after a 48 px gutter: the open read
        // in p4's column runs from row 5 to the end of the history at row 7.
        assert!(
            html.contains("<div class=\"box info open\" style=\"left:260px;top:80px;height:32px\"")
        );
        assert!(html.contains("<div class=\"box ok\" style=\"left:48px;top:0px;height:32px\""));
        // One line for each second the events reach, and no script or remote resource.
        assert_eq!(html.matches("class=\"second\"").count(), 2);
        assert!(!html.contains("<script") && !html.contains("http"));
    }

    #[test]
    fn values_keys_and_error_texts_are_escaped() {
        use EventType::*;
        let nasty = json!("<b>&\"x\"</b>");
        let mut invocation = event(0, Invoke, OpFn::Write, 0);
        invocation.key = json!("<k>");
        invocation.value = nasty.clone();
        let mut completion = event(0, Fail, OpFn::Write, 5);
        completion.key = json!("<k>");
        completion.value = nasty;
        completion.error = Some((1000, "<script>alert('&')</script>".into()));
        let html = render(&[invocation, completion], &[], None);
        for raw in ["<b>", "<k>", "<script", "'&'"] {
            assert!(!html.contains(raw), "{raw} unescaped");
        }
        // In the box and in its tooltip alike.
        assert!(html.contains(
            "&quot;&lt;k&gt;&quot; &quot;&lt;b&gt;&amp;\\&quot;x\\&quot;&lt;/b&gt;&quot; err 1000</div>"
        ));
        assert!(html.contains("error 1000: &lt;script&gt;alert(&#39;&amp;&#39;)&lt;/script&gt;"));
    }

    #[test]
    fn faults_and_membership_changes_have_their_own_columns() {
        use NemesisKind::*;
        let nemesis = [
            // Between rows 1 and 2, until row 4.
            fault(PartitionStart, 15, &["n1", "n2"]),
            fault(Heal, 200, &[]),
            membership(250, MembershipOutcome::Ok),
            // Still in effect at the end: to the end of the history.
            fault(Kill, 1000, &["n1"]),
        ];
        let layout = layout(&small_history(), &nemesis, None);
        assert_eq!(
            layout.columns,
            ["partition", "kill", "membership", "p2", "p3", "p4", "p10"]
        );
        let geometry = |class| -> Vec<(usize, usize, usize)> {
            boxes_of_class(&layout, class)
                .iter()
                .map(|b| (b.column, b.top_row, b.rows))
                .collect()
        };
        assert_eq!(geometry("partition"), [(0, 2, 2)]);
        assert_eq!(geometry("kill"), [(1, 6, 1)]);
        assert_eq!(geometry("config-ok"), [(2, 5, 1)]);
        assert_eq!(geometry("ok"), [(3, 0, 2)]);
        assert_eq!(
            boxes_of_class(&layout, "config-ok")[0].text,
            "remove_server n2"
        );
        let html = render(&small_history(), &nemesis, None);
        assert!(html.contains(".partition{background:rgb(222,208,250)}"));
    }

    #[test]
    fn operations_of_a_key_that_is_not_linearizable_are_marked_and_linked() {
        use crate::checker::check;
        use EventType::*;
        let with = |mut event: Event, value: Value| {
            event.value = value;
            event
        };
        // p1 writes 1, then p2 reads 2, which nobody wrote; p3 writes 5 to another key.
        let mut other_key = vec![
            with(event(3, Invoke, OpFn::Write, 0), json!(5)),
            with(event(3, Ok, OpFn::Write, 1), json!(5)),
        ];
        for e in &mut other_key {
            e.key = json!(7);
        }
        let mut history = vec![
            with(event(1, Invoke, OpFn::Write, 2), json!(1)),
            with(event(1, Ok, OpFn::Write, 3), json!(1)),
            event(2, Invoke, OpFn::Read, 4),
            with(event(2, Ok, OpFn::Read, 5), json!(2)),
        ];
        history.extend(other_key);
        let report = check(&history, std::time::Duration::from_secs(5));
        assert_eq!(report.keys[0].validity, Validity::Invalid);

        let layout = layout(&history, &[], Some(&report));
        assert_eq!(layout.anomalies.len(), 1);
        assert_eq!(layout.anomalies[0].key, "1");
        assert!(layout.anomalies[0].reason.contains("read of 2"));
        let marked: Vec<(&str, Option<usize>, bool)> = layout
            .boxes
            .iter()
            .map(|b| (b.text.as_str(), b.anomaly, b.stuck))
            .collect();
        assert!(marked.contains(&("read 1 2", Some(0), true)), "{marked:?}");
        // The other key's read is not involved.
        assert!(marked.contains(&("write 7 5", None, false)), "{marked:?}");

        let html = render(&history, &[], Some(&report));
        let head = html
            .find("<div class=\"anomalies\">")
            .expect("the anomaly list");
        let link = html
            .find("<a href=\"#anomaly-0\">key 1</a>")
            .expect("a link");
        let target = html
            .find("<div class=\"box ok anomaly stuck\" id=\"anomaly-0\"")
            .expect("the linked box");
        assert!(head < link && link < html.find("<div class=\"rows\"").unwrap());
        assert!(html[target..]
            .starts_with("<div class=\"box ok anomaly stuck\" id=\"anomaly-0\" style"));
        assert!(html.contains("read of 2 by process 2"));
        // Without a check nothing is marked.
        let plain = render(&history, &[], None);
        assert!(!plain.contains("<div class=\"anomalies\">"));
        assert!(!plain.contains(" anomaly"));
    }

    #[test]
    fn an_empty_history_is_still_a_page() {
        let html = render(&[], &[], None);
        assert!(html.contains("0 operations"));
        assert_eq!(html.matches("<div class=\"box ").count(), 0);
    }

    #[test]
    fn times_show_to_the_microsecond() {
        assert_eq!(Seconds(12_345_678_912).to_string(), "12.345678");
        assert_eq!(Seconds(5_000).to_string(), "0.000005");
        assert_eq!(Millis(1_234_567).to_string(), "1.234");
        assert_eq!(Millis(1_000_000_000).to_string(), "1000.000");
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            Escaped(r#"<a href="x">&'</a>"#).to_string(),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(Escaped("plain [1,2]").to_string(), "plain [1,2]");
    }
}
