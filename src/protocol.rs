//! Maelstrom's wire format: one JSON object per line, `{"src", "dest", "body"}`.
//!
//! Parsing sorts every inbound line into what the node must do with it, including the
//! contract's answers to bad input: a line that is not a message is only logged; a
//! message with a `msg_id` but missing or mistyped fields gets error 12; an unknown
//! `type` gets error 10.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::raft::{ConfigView, Configuration, Message};

/// Maelstrom's error codes that this node sends.
pub mod code {
    pub const NOT_SUPPORTED: u64 = 10;
    /// Definite: the request was surely never proposed nor forwarded.
    pub const TEMPORARILY_UNAVAILABLE: u64 = 11;
    pub const MALFORMED_REQUEST: u64 = 12;
    pub const KEY_DOES_NOT_EXIST: u64 = 20;
    pub const PRECONDITION_FAILED: u64 = 22;
}

/// A client's request: lin-kv's three, or an operator's membership request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    Read { key: Value },
    Write { key: Value, value: Value },
    Cas { key: Value, from: Value, to: Value },
    AddVoter { node: String },
    AddNonVoter { node: String },
    RemoveServer { node: String },
    TransferLeadership { node: String },
    ReadConfig,
}

impl Request {
    /// The `type` of the reply that says the request took effect.
    pub fn ok_type(&self) -> &'static str {
        match self {
            Request::Read { .. } => "read_ok",
            Request::Write { .. } => "write_ok",
            Request::Cas { .. } => "cas_ok",
            Request::AddVoter { .. } => "add_voter_ok",
            Request::AddNonVoter { .. } => "add_non_voter_ok",
            Request::RemoveServer { .. } => "remove_server_ok",
            Request::TransferLeadership { .. } => "transfer_leadership_ok",
            Request::ReadConfig => "read_config_ok",
        }
    }
}

/// Client request types, as they appear on the wire.
const REQUEST_TYPES: [&str; 8] = [
    "read",
    "write",
    "cas",
    "add_voter",
    "add_non_voter",
    "remove_server",
    "transfer_leadership",
    "read_config",
];

/// Who asked, so that whichever server ends up answering can address the reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientRef {
    pub client: String,
    pub msg_id: u64,
}

/// A client request passed from server to server on its way to the leader.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Forward {
    pub origin: ClientRef,
    pub request: Request,
    /// How many servers it has passed through: bounds forwarding loops.
    pub hops: u32,
}

#[derive(Debug, PartialEq)]
pub enum Inbound {
    Init {
        from: String,
        msg_id: u64,
        node_id: String,
        node_ids: Vec<String>,
    },
    Client {
        origin: ClientRef,
        request: Request,
    },
    Raft {
        from: String,
        msg: Message,
    },
    Forward {
        from: String,
        forward: Forward,
    },
}

/// Why a line was not handled, and how to answer it.
#[derive(Debug, PartialEq)]
pub enum Rejected {
    /// Not JSON, or not an envelope: log only, there is nobody to answer.
    NotAMessage(String),
    /// A message that cannot be answered (no msg_id): log only.
    Unanswerable(String),
    /// Answer `src` with an error to `msg_id`.
    Error {
        src: String,
        msg_id: u64,
        code: u64,
        text: String,
    },
}

#[derive(Deserialize)]
struct Envelope {
    src: String,
    #[allow(dead_code)]
    dest: String,
    body: Map<String, Value>,
}

const RAFT_TYPES: [&str; 7] = [
    "request_vote",
    "request_vote_response",
    "append_entries",
    "append_entries_response",
    "timeout_now",
    "install_snapshot",
    "install_snapshot_response",
];

pub fn parse(line: &str) -> Result<Inbound, Rejected> {
    let envelope: Envelope = serde_json::from_str(line)
        .map_err(|e| Rejected::NotAMessage(format!("not a message ({e}): {}", excerpt(line))))?;
    let src = envelope.src;
    let body = Value::Object(envelope.body);
    let msg_id = body.get("msg_id").and_then(Value::as_u64);
    let kind = body.get("type").and_then(Value::as_str).map(str::to_owned);
    let bad = |code: u64, text: String| match msg_id {
        Some(msg_id) => Rejected::Error {
            src: src.clone(),
            msg_id,
            code,
            text,
        },
        None => Rejected::Unanswerable(format!("from {src}: {text}")),
    };
    let Some(kind) = kind else {
        return Err(bad(
            code::MALFORMED_REQUEST,
            "body has no string \"type\"".into(),
        ));
    };
    let malformed =
        |e: serde_json::Error| bad(code::MALFORMED_REQUEST, format!("malformed {kind}: {e}"));
    match kind.as_str() {
        "init" => {
            #[derive(Deserialize)]
            struct Init {
                msg_id: u64,
                node_id: String,
                node_ids: Vec<String>,
            }
            let init: Init = serde_json::from_value(body.clone()).map_err(malformed)?;
            Ok(Inbound::Init {
                from: src,
                msg_id: init.msg_id,
                node_id: init.node_id,
                node_ids: init.node_ids,
            })
        }
        t if REQUEST_TYPES.contains(&t) => {
            let Some(msg_id) = msg_id else {
                return Err(Rejected::Unanswerable(format!(
                    "{kind} from {src} has no integer msg_id"
                )));
            };
            let request: Request = serde_json::from_value(body.clone()).map_err(malformed)?;
            Ok(Inbound::Client {
                origin: ClientRef {
                    client: src,
                    msg_id,
                },
                request,
            })
        }
        "forward" => {
            let forward: Forward = serde_json::from_value(body.clone()).map_err(malformed)?;
            Ok(Inbound::Forward { from: src, forward })
        }
        t if RAFT_TYPES.contains(&t) => {
            let msg: Message = serde_json::from_value(body.clone()).map_err(malformed)?;
            Ok(Inbound::Raft { from: src, msg })
        }
        other => Err(bad(
            code::NOT_SUPPORTED,
            format!("unsupported message type {other:?}"),
        )),
    }
}

/// The first part of a bad line, for a log message that stays one short line.
fn excerpt(line: &str) -> String {
    const MAX: usize = 120;
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// One outbound line: the envelope, exactly the keys Maelstrom's schema allows.
pub fn envelope(src: &str, dest: &str, body: Value) -> String {
    json!({ "src": src, "dest": dest, "body": body }).to_string()
}

pub fn init_ok(in_reply_to: u64) -> Value {
    json!({ "type": "init_ok", "in_reply_to": in_reply_to })
}

pub fn read_ok(in_reply_to: u64, value: Value) -> Value {
    json!({ "type": "read_ok", "in_reply_to": in_reply_to, "value": value })
}

pub fn write_ok(in_reply_to: u64) -> Value {
    json!({ "type": "write_ok", "in_reply_to": in_reply_to })
}

pub fn cas_ok(in_reply_to: u64) -> Value {
    json!({ "type": "cas_ok", "in_reply_to": in_reply_to })
}

/// The bare acknowledgement of an admin request, e.g. `add_voter_ok`.
pub fn admin_ok(in_reply_to: u64, ok_type: &str) -> Value {
    json!({ "type": ok_type, "in_reply_to": in_reply_to })
}

/// The answer to `read_config`: who leads, and the committed and latest configurations.
pub fn read_config_ok(in_reply_to: u64, leader: &str, term: u64, view: &ConfigView) -> Value {
    let config = |(index, c): &(u64, Configuration)| json!({ "index": index, "voters": c.voters, "non_voters": c.non_voters });
    json!({
        "type": "read_config_ok",
        "in_reply_to": in_reply_to,
        "leader": leader,
        "term": term,
        "committed": config(&view.committed),
        "latest": config(&view.latest),
        "staging": view.staging.iter().collect::<Vec<_>>(),
    })
}

pub fn error(in_reply_to: u64, code: u64, text: &str) -> Value {
    json!({ "type": "error", "in_reply_to": in_reply_to, "code": code, "text": text })
}

pub fn raft_body(msg: &Message) -> Value {
    serde_json::to_value(msg).expect("raft messages serialize")
}

pub fn forward_body(forward: &Forward) -> Value {
    let mut body = serde_json::to_value(forward).expect("forwards serialize");
    body["type"] = json!("forward");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_requests_parse_with_any_json_values() {
        let line = r#"{"id":4,"src":"c3","dest":"n0","body":{"type":"cas","msg_id":7,"key":0,"from":"1","to":[2]}}"#;
        let expected = Inbound::Client {
            origin: ClientRef {
                client: "c3".into(),
                msg_id: 7,
            },
            request: Request::Cas {
                key: json!(0),
                from: json!("1"),
                to: json!([2]),
            },
        };
        assert_eq!(parse(line), Ok(expected));
    }

    #[test]
    fn bad_input_is_classified_by_the_contract() {
        assert!(matches!(parse("not json"), Err(Rejected::NotAMessage(_))));
        assert!(matches!(
            parse(r#"{"src":"c1"}"#),
            Err(Rejected::NotAMessage(_))
        ));
        let missing =
            parse(r#"{"src":"c1","dest":"n0","body":{"type":"write","msg_id":3,"key":1}}"#);
        assert!(matches!(
            missing,
            Err(Rejected::Error {
                msg_id: 3,
                code: 12,
                ..
            })
        ));
        let unknown = parse(r#"{"src":"c1","dest":"n0","body":{"type":"frobnicate","msg_id":4}}"#);
        assert!(matches!(
            unknown,
            Err(Rejected::Error {
                msg_id: 4,
                code: 10,
                ..
            })
        ));
        let anonymous = parse(r#"{"src":"c1","dest":"n0","body":{"type":"frobnicate"}}"#);
        assert!(matches!(anonymous, Err(Rejected::Unanswerable(_))));
    }

    #[test]
    fn raft_and_forward_messages_round_trip() {
        let msg = Message::RequestVote {
            term: 3,
            last_log_index: 9,
            last_log_term: 2,
            pre_vote: true,
            transfer: false,
            sent_at: 5,
        };
        let line = envelope("n1", "n0", raft_body(&msg));
        assert_eq!(
            parse(&line),
            Ok(Inbound::Raft {
                from: "n1".into(),
                msg
            })
        );
        let forward = Forward {
            origin: ClientRef {
                client: "c9".into(),
                msg_id: 2,
            },
            request: Request::Write {
                key: json!(1),
                value: json!(4),
            },
            hops: 1,
        };
        let line = envelope("n2", "n0", forward_body(&forward));
        assert_eq!(
            parse(&line),
            Ok(Inbound::Forward {
                from: "n2".into(),
                forward
            })
        );
    }

    #[test]
    fn admin_requests_parse_and_forward() {
        let line = r#"{"src":"c4","dest":"n1","body":{"type":"read_config","msg_id":2}}"#;
        let Ok(Inbound::Client { request, .. }) = parse(line) else {
            panic!("read_config parses");
        };
        assert_eq!(request, Request::ReadConfig);
        let line =
            r#"{"src":"c4","dest":"n1","body":{"type":"remove_server","msg_id":3,"node":"n2"}}"#;
        let Ok(Inbound::Client { origin, request }) = parse(line) else {
            panic!("remove_server parses");
        };
        assert_eq!(request.ok_type(), "remove_server_ok");
        let forward = Forward {
            origin,
            request,
            hops: 1,
        };
        let line = envelope("n1", "n0", forward_body(&forward));
        assert_eq!(
            parse(&line),
            Ok(Inbound::Forward {
                from: "n1".into(),
                forward
            })
        );
        let nameless = parse(r#"{"src":"c4","dest":"n1","body":{"type":"add_voter","msg_id":4}}"#);
        assert!(matches!(
            nameless,
            Err(Rejected::Error {
                msg_id: 4,
                code: 12,
                ..
            })
        ));
    }

    #[test]
    fn replies_carry_only_the_allowed_keys() {
        let body = read_ok(5, json!(3));
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3);
        let line: Value = serde_json::from_str(&envelope("n0", "c1", body)).unwrap();
        assert_eq!(line.as_object().unwrap().len(), 3);
        assert_eq!(line["body"]["value"], json!(3));
    }
}
