//! `messages.svg`, after Maelstrom's: a Lamport diagram of the run's messages. Every
//! node and client has a vertical line, nodes first; each send and each receipt is one
//! step down the page, so a message is an arrow from the step it was sent at, on its
//! sender's line, to the step it arrived at, on its receiver's. Arrows are black between
//! nodes, blue to and from clients and pink for error replies, and labelled with the
//! body's type and fields; the whole message is in the arrow's tooltip. A message that
//! was sent but never received (cut by a partition, sent to a dead node, or still in
//! flight at the end) is a short dashed stub with a cross.
//!
//! The diagram starts after the init messages and, like Maelstrom's, stops after
//! [`JOURNAL_LIMIT`] events, noting how many it leaves out: a run sends tens of
//! thousands of messages, and a diagram of all of them would be too large to open.
//! Receipts of the messages it shows are still drawn after the limit, so no arrow is
//! cut short. The left margin gives the run's time every [`LABEL_EVERY`] steps.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use serde_json::{Map, Value};

use super::timeline::Escaped;

/// Sends and receipts drawn at most, as Maelstrom's `journal-limit`.
pub const JOURNAL_LIMIT: usize = 10_000;
/// Node names and times are repeated every this many steps, so a reader deep in the
/// diagram still knows which line is which.
const LABEL_EVERY: usize = 50;
/// Pixels from one step to the next.
const STEP: f64 = 20.0;
/// Space above the first step, for the column names.
const TOP: f64 = 40.0;
/// Room on the left for the times.
const GUTTER: f64 = 70.0;
/// The narrowest distance between two lines, and the width all lines share at least.
const MIN_PITCH: f64 = 110.0;
const MIN_WIDTH: f64 = 1100.0;
/// Labels longer than this are cut, as Maelstrom cuts them.
const LABEL_CHARS: usize = 48;
/// The average width of a label's character, in pixels, and the fewest characters a
/// label keeps however short its arrow.
const CHAR_WIDTH: f64 = 6.0;
const MIN_LABEL_CHARS: f64 = 8.0;
/// Tooltips longer than this are cut.
const BODY_CHARS: usize = 400;

/// A message as the diagram needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: u64,
    pub src: String,
    pub dest: String,
    /// The body's `type`.
    pub kind: String,
    /// What the arrow says: the type and the fields that are not ids (for an error,
    /// its text), cut to [`LABEL_CHARS`].
    pub label: String,
    /// The whole body as JSON, cut to [`BODY_CHARS`], for the tooltip.
    pub body: String,
}

impl Message {
    pub fn new(id: u64, src: &str, dest: &str, body: &Map<String, Value>) -> Message {
        let kind = body
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let detail = if kind == "error" {
            body.get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        } else {
            let fields: Map<String, Value> = body
                .iter()
                .filter(|(name, _)| !matches!(name.as_str(), "type" | "msg_id" | "in_reply_to"))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            if fields.is_empty() {
                String::new()
            } else {
                Value::Object(fields).to_string()
            }
        };
        Message {
            id,
            src: src.to_string(),
            dest: dest.to_string(),
            label: cut(&format!("{kind} {detail}"), LABEL_CHARS),
            kind,
            body: cut(&Value::Object(body.clone()).to_string(), BODY_CHARS),
        }
    }
}

/// One event of the network, stamped with nanoseconds since the start of the run.
#[derive(Clone, Debug, PartialEq)]
pub enum NetEvent {
    Sent { time: u64, message: Message },
    Received { time: u64, id: u64 },
}

/// The events the diagram draws, in the order they happened, and how many sends and
/// receipts past [`JOURNAL_LIMIT`] it leaves out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Journal {
    pub events: Vec<NetEvent>,
    pub left_out: u64,
}

fn cut(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        text.trim_end().to_string()
    } else {
        let mut short: String = text.chars().take(limit - 1).collect();
        short.push('…');
        short
    }
}

/// Nodes first in numeric order (n2 before n10), then clients likewise.
fn column_order(name: &str) -> (bool, String, u64) {
    let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit());
    let prefix = &name[..name.len() - digits.len()];
    (
        name.starts_with('c'),
        prefix.to_string(),
        digits.parse().unwrap_or(u64::MAX),
    )
}

/// One arrow: its message, and where it starts and ends.
struct Arrow<'a> {
    message: &'a Message,
    sent_step: usize,
    /// `None` when the message was never received.
    received_step: Option<usize>,
}

fn arrows(journal: &Journal) -> Vec<Arrow<'_>> {
    let mut arrows: Vec<Arrow> = Vec::new();
    let mut by_id: HashMap<u64, usize> = HashMap::new();
    for (step, event) in journal.events.iter().enumerate() {
        match event {
            NetEvent::Sent { message, .. } => {
                by_id.insert(message.id, arrows.len());
                arrows.push(Arrow {
                    message,
                    sent_step: step,
                    received_step: None,
                });
            }
            NetEvent::Received { id, .. } => {
                if let Some(&arrow) = by_id.get(id) {
                    arrows[arrow].received_step = Some(step);
                }
            }
        }
    }
    arrows
}

fn color(message: &Message) -> &'static str {
    if message.kind == "error" {
        "pink"
    } else if message.src.starts_with('c') || message.dest.starts_with('c') {
        "client"
    } else {
        "server"
    }
}

const STYLE: &str = "
text{font:11px Helvetica,Arial,sans-serif}
.col{fill:#000;font-weight:bold;text-anchor:middle}
.col.again{fill:#aaa}
.time{fill:#888;text-anchor:end}
.life{stroke:#ccc}
.server{stroke:#000}
.client{stroke:#5aa0ee}
.pink{stroke:#ff1e90}
.arrow line{stroke-width:2}
.lost line{stroke-width:2;stroke-dasharray:4 3}
.label{text-anchor:middle;stroke:#fff;stroke-width:3px;paint-order:stroke;fill:#000}
.notice{fill:#d96918;text-anchor:middle}
";

/// The whole diagram.
pub fn render(journal: &Journal) -> String {
    let arrows = arrows(journal);
    let columns: BTreeSet<(bool, String, u64, &str)> = arrows
        .iter()
        .flat_map(|arrow| [&arrow.message.src, &arrow.message.dest])
        .map(|name| {
            let (client, prefix, number) = column_order(name);
            (client, prefix, number, name.as_str())
        })
        .collect();
    let columns: Vec<&str> = columns.into_iter().map(|(.., name)| name).collect();
    let pitch = (MIN_WIDTH / columns.len().max(1) as f64).max(MIN_PITCH);
    let width = GUTTER + pitch * columns.len() as f64;
    let steps = journal.events.len();
    let x_of: HashMap<&str, f64> = columns
        .iter()
        .enumerate()
        .map(|(index, name)| (*name, GUTTER + pitch * (index as f64 + 0.5)))
        .collect();
    let y_of = |step: usize| TOP + STEP * (step as f64 + 0.5);
    let height = y_of(steps) + 3.0 * STEP;

    // Writing to a String cannot fail.
    let mut svg = String::with_capacity(400 * steps + 4096);
    writeln!(
        svg,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         version=\"1.1\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\">\n<style>{STYLE}</style>"
    )
    .unwrap();
    svg.push_str("<defs>");
    for class in ["server", "client", "pink"] {
        writeln!(
            svg,
            "<marker id=\"head-{class}\" viewBox=\"0 0 10 8\" refX=\"10\" refY=\"4\" \
             markerWidth=\"10\" markerHeight=\"8\" markerUnits=\"userSpaceOnUse\" \
             orient=\"auto\"><path d=\"M0,0 L10,4 L0,8 z\" fill=\"{}\"/></marker>",
            match class {
                "server" => "#000",
                "client" => "#5aa0ee",
                _ => "#ff1e90",
            }
        )
        .unwrap();
    }
    svg.push_str("</defs>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");

    // Lifelines, then names and times every LABEL_EVERY steps.
    for name in &columns {
        let x = x_of[name];
        writeln!(
            svg,
            "<line class=\"life\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>",
            TOP - 6.0,
            y_of(steps)
        )
        .unwrap();
    }
    for step in (0..steps.max(1)).step_by(LABEL_EVERY) {
        let y = if step == 0 {
            TOP - 12.0
        } else {
            y_of(step) - 4.0
        };
        let again = if step == 0 { "" } else { " again" };
        for name in &columns {
            writeln!(
                svg,
                "<text class=\"col{again}\" x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
                x_of[name],
                Escaped(name)
            )
            .unwrap();
        }
        if let Some(event) = journal.events.get(step) {
            let time = match event {
                NetEvent::Sent { time, .. } | NetEvent::Received { time, .. } => *time,
            };
            writeln!(
                svg,
                "<text class=\"time\" x=\"{:.1}\" y=\"{:.1}\">{:.3} s</text>",
                GUTTER - 6.0,
                y_of(step) + 4.0,
                time as f64 / 1e9
            )
            .unwrap();
        }
    }

    for arrow in &arrows {
        draw_arrow(&mut svg, arrow, &x_of, &y_of);
    }

    let shown = match arrows.len() {
        1 => "1 message".to_string(),
        count => format!("{count} messages"),
    };
    let notice = if journal.left_out > 0 {
        format!(
            "{shown} shown; {} later sends and receipts are left out",
            journal.left_out
        )
    } else {
        format!("{shown}, all shown")
    };
    writeln!(
        svg,
        "<text class=\"notice\" x=\"{:.1}\" y=\"{:.1}\">{notice}</text>\n</svg>",
        width / 2.0,
        y_of(steps) + 1.5 * STEP
    )
    .unwrap();
    svg
}

fn draw_arrow(
    svg: &mut String,
    arrow: &Arrow,
    x_of: &HashMap<&str, f64>,
    y_of: &impl Fn(usize) -> f64,
) {
    let message = arrow.message;
    let class = color(message);
    let (x0, y0) = (x_of[message.src.as_str()], y_of(arrow.sent_step));
    let x_dest = x_of[message.dest.as_str()];
    let title = format!(
        "<title>{} → {} {}</title>",
        Escaped(&message.src),
        Escaped(&message.dest),
        Escaped(&message.body)
    );
    let Some(received) = arrow.received_step else {
        // A third of the way towards the receiver, one step down, ending in a cross.
        let x1 = x0 + (x_dest - x0) / 3.0;
        let y1 = y0 + STEP;
        // Its type beside the cross, on the side it was heading for.
        let (anchor, x_text) = if x_dest < x0 {
            ("end", x1 - 8.0)
        } else {
            ("start", x1 + 8.0)
        };
        writeln!(
            svg,
            "<g class=\"lost\">{title}<line class=\"{class}\" x1=\"{x0:.1}\" y1=\"{y0:.1}\" \
             x2=\"{x1:.1}\" y2=\"{y1:.1}\"/><path class=\"{class}\" d=\"M{:.1},{:.1} l8,8 \
             m0,-8 l-8,8\" stroke-width=\"2\"/><text class=\"label\" \
             style=\"text-anchor:{anchor}\" x=\"{x_text:.1}\" y=\"{:.1}\">{} lost</text></g>",
            x1 - 4.0,
            y1 - 4.0,
            y1 + 4.0,
            Escaped(&cut(&message.kind, MIN_LABEL_CHARS as usize * 2))
        )
        .unwrap();
        return;
    };
    let (x1, y1) = (x_dest, y_of(received));
    let angle = (y1 - y0).atan2(x1 - x0).to_degrees();
    // Text reads left to right whichever way the arrow points.
    let text_angle = if angle.abs() > 90.0 {
        angle - 180.0
    } else {
        angle
    };
    let (mx, my) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    // No longer than the arrow, so that labels of neighbouring arrows stay apart.
    let fits = (((x1 - x0).hypot(y1 - y0) - 12.0) / CHAR_WIDTH).max(MIN_LABEL_CHARS) as usize;
    writeln!(
        svg,
        "<g class=\"arrow\">{title}<line class=\"{class}\" x1=\"{x0:.1}\" y1=\"{y0:.1}\" \
         x2=\"{x1:.1}\" y2=\"{y1:.1}\" marker-end=\"url(#head-{class})\"/>\
         <text class=\"label\" x=\"{mx:.1}\" y=\"{my:.1}\" dy=\"-4\" \
         transform=\"rotate({text_angle:.1} {mx:.1} {my:.1})\">{}</text></g>",
        Escaped(&cut(&message.label, fits))
    )
    .unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sent(time: u64, id: u64, src: &str, dest: &str, body: Value) -> NetEvent {
        NetEvent::Sent {
            time,
            message: Message::new(id, src, dest, body.as_object().unwrap()),
        }
    }

    fn received(time: u64, id: u64) -> NetEvent {
        NetEvent::Received { time, id }
    }

    #[test]
    fn labels_leave_out_ids_and_show_error_texts() {
        let body = json!({"type": "cas", "msg_id": 4, "key": 1, "from": 2, "to": 3});
        let message = Message::new(9, "c4", "n1", body.as_object().unwrap());
        assert_eq!(message.kind, "cas");
        assert_eq!(message.label, r#"cas {"from":2,"key":1,"to":3}"#);
        assert!(message.body.contains("\"msg_id\":4"));
        let error = json!({"type": "error", "in_reply_to": 4, "code": 22, "text": "expected 2"});
        let message = Message::new(10, "n1", "c4", error.as_object().unwrap());
        assert_eq!(message.label, "error expected 2");
        let ok = json!({"type": "write_ok", "in_reply_to": 5});
        assert_eq!(
            Message::new(11, "n1", "c4", ok.as_object().unwrap()).label,
            "write_ok"
        );
        let long = json!({"type": "append_entries", "entries": vec![7; 40]});
        let label = Message::new(12, "n1", "n2", long.as_object().unwrap()).label;
        assert_eq!(label.chars().count(), LABEL_CHARS);
        assert!(label.ends_with('…'));
    }

    #[test]
    fn columns_put_nodes_first_in_numeric_order() {
        let mut names = vec!["c10", "n10", "c2", "n2", "n1"];
        names.sort_by_key(|name| column_order(name));
        assert_eq!(names, ["n1", "n2", "n10", "c2", "c10"]);
    }

    #[test]
    fn each_received_message_is_an_arrow_from_its_send_to_its_receipt() {
        let journal = Journal {
            events: vec![
                sent(
                    10,
                    1,
                    "c3",
                    "n0",
                    json!({"type": "read", "key": 1, "msg_id": 1}),
                ),
                received(11, 1),
                sent(12, 2, "n0", "n1", json!({"type": "ping"})),
                sent(13, 3, "n0", "n2", json!({"type": "ping"})),
                received(14, 2),
                sent(
                    15,
                    4,
                    "n0",
                    "c3",
                    json!({"type": "error", "code": 11, "text": "<busy>"}),
                ),
                received(16, 4),
            ],
            left_out: 0,
        };
        let svg = render(&journal);
        assert!(svg.starts_with("<?xml"));
        assert!(svg.trim_end().ends_with("</svg>"));
        // Three arrows, one stub for the ping n2 never got.
        assert_eq!(svg.matches("<g class=\"arrow\">").count(), 3);
        assert_eq!(svg.matches("<g class=\"lost\">").count(), 1);
        assert!(svg.contains(">ping lost</text></g>"));
        // Columns: n0, n1, n2, then c3; 1100 px shared by four, after a 70 px gutter.
        let x = |column: f64| 70.0 + 275.0 * (column + 0.5);
        let y = |step: f64| 40.0 + 20.0 * (step + 0.5);
        // The read goes from c3 at step 0 to n0 at step 1.
        assert!(svg.contains(&format!(
            "<line class=\"client\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" \
             marker-end=\"url(#head-client)\"/>",
            x(3.0),
            y(0.0),
            x(0.0),
            y(1.0)
        )));
        // The ping between nodes is black; the error reply pink, its text escaped.
        assert!(svg.contains(&format!(
            "<line class=\"server\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"",
            x(0.0),
            y(2.0),
            x(1.0),
            y(4.0)
        )));
        assert!(svg.contains("<line class=\"pink\""));
        assert!(svg.contains(">error &lt;busy&gt;</text>"));
        assert!(!svg.contains("<busy>"));
        assert!(svg.contains("4 messages, all shown"));
        for name in ["n0", "n1", "n2", "c3"] {
            assert!(svg.contains(&format!(">{name}</text>")), "{name}");
        }
    }

    #[test]
    fn a_label_is_no_longer_than_its_arrow() {
        // Ten nodes share 1100 px: 110 px apart, so an arrow to the next node, one step
        // down, is about 112 px long and its label keeps (112 - 12) / 6 = 16 characters.
        let mut events = Vec::new();
        for node in 2..10 {
            events.push(sent(
                0,
                node,
                &format!("n{node}"),
                "n0",
                json!({"type": "x"}),
            ));
        }
        events.push(sent(
            1,
            1,
            "n0",
            "n1",
            json!({"type": "append", "entries": [1, 2, 3]}),
        ));
        events.push(received(2, 1));
        let svg = render(&Journal {
            events,
            left_out: 0,
        });
        let label = "append {\"entries\":[1,2,3]}";
        let shown: String = label.chars().take(15).collect::<String>() + "…";
        let escaped = shown.replace('"', "&quot;");
        assert!(svg.contains(&format!(">{escaped}</text>")), "{svg}");
    }

    #[test]
    fn a_cut_journal_says_how_much_it_leaves_out() {
        let journal = Journal {
            events: vec![sent(1, 1, "n0", "n1", json!({"type": "x"})), received(2, 1)],
            left_out: 1234,
        };
        assert!(render(&journal)
            .contains("1 message shown; 1234 later sends and receipts are left out"));
        // An empty journal is still a picture.
        let empty = render(&Journal::default());
        assert!(empty.contains("0 messages, all shown") && empty.ends_with("</svg>\n"));
    }
}
