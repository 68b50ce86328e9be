//! Maelstrom's wire format: one JSON object per line, `{"src", "dest", "body"}`.
//!
//! Parsing sorts every inbound line into what the node must do with it, including the
//! contract's answers to bad input: a line that is not a message is only logged; a
//! message with a `msg_id` but missing or mistyped fields gets error 12; an unknown
//! `type` gets error 10.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::raft::{ConfigView, Configuration, Entry, Index, Message, Term};

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
    /// Client requests another server passed on, in the order it took them.
    Forward {
        from: String,
        forwards: Vec<Forward>,
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

/// The envelope as parsed: `src`, and the body left unparsed until its `type` is known,
/// so that it is read once, straight into the message it is.
#[derive(Deserialize)]
struct Envelope<'a> {
    src: String,
    #[serde(rename = "dest")]
    _dest: IgnoredAny,
    #[serde(borrow)]
    body: &'a RawValue,
}

/// What every body is first read for: how to answer it. Both fields are kept raw, so
/// that a mistyped one is told apart from a missing one.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    msg_id: Option<&'a RawValue>,
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
    let body = envelope.body.get();
    // Servers write the type first: their messages are read straight into place, and
    // only one that fails is read again, below, for the answer the contract asks.
    if let Some(kind) = leading_type(body) {
        if let Some(Ok(inbound)) = parse_from_server(&src, kind, body) {
            return Ok(inbound);
        }
    }
    let head = read_head(body).map_err(|e| {
        Rejected::NotAMessage(format!("body is not an object ({e}): {}", excerpt(line)))
    })?;
    let msg_id = head.msg_id;
    let bad = |code: u64, text: String| match msg_id {
        Some(msg_id) => Rejected::Error {
            src: src.clone(),
            msg_id,
            code,
            text,
        },
        None => Rejected::Unanswerable(format!("from {src}: {text}")),
    };
    let Some(kind) = head.kind else {
        return Err(bad(
            code::MALFORMED_REQUEST,
            "body has no string \"type\"".into(),
        ));
    };
    let malformed =
        |e: serde_json::Error| bad(code::MALFORMED_REQUEST, format!("malformed {kind}: {e}"));
    match &*kind {
        "init" => {
            #[derive(Deserialize)]
            struct Init {
                msg_id: u64,
                node_id: String,
                node_ids: Vec<String>,
            }
            let init: Init = serde_json::from_str(body).map_err(malformed)?;
            Ok(Inbound::Init {
                from: src,
                msg_id: init.msg_id,
                node_id: init.node_id,
                node_ids: init.node_ids,
            })
        }
        other => {
            if let Some(parsed) = parse_from_server(&src, other, body) {
                return parsed.map_err(|e| match e {
                    ServerError::Json(e) => malformed(e),
                    ServerError::NoRequest => {
                        bad(code::MALFORMED_REQUEST, "forward of no request".into())
                    }
                });
            }
            let Some(request) = parse_request(other, body) else {
                return Err(bad(
                    code::NOT_SUPPORTED,
                    format!("unsupported message type {other:?}"),
                ));
            };
            let Some(msg_id) = msg_id else {
                return Err(Rejected::Unanswerable(format!(
                    "{kind} from {src} has no integer msg_id"
                )));
            };
            let request = request.map_err(malformed)?;
            Ok(Inbound::Client {
                origin: ClientRef {
                    client: src,
                    msg_id,
                },
                request,
            })
        }
    }
}

/// Why a message between servers did not parse.
enum ServerError {
    Json(serde_json::Error),
    /// A forward whose request has no request type.
    NoRequest,
}

/// A message from another server (Raft, or a forwarded request) of type `kind`; None
/// when `kind` is not one.
fn parse_from_server(src: &str, kind: &str, body: &str) -> Option<Result<Inbound, ServerError>> {
    if kind == "forward" {
        #[derive(Deserialize)]
        struct ForwardBody<'a> {
            #[serde(borrow)]
            forwards: Vec<RawForward<'a>>,
        }
        #[derive(Deserialize)]
        struct RawForward<'a> {
            origin: ClientRef,
            #[serde(borrow)]
            request: &'a RawValue,
            hops: u32,
        }
        let parsed = serde_json::from_str(body)
            .map_err(ServerError::Json)
            .and_then(|body: ForwardBody| {
                let forwards = (body.forwards.into_iter())
                    .map(|forward| {
                        let request = forward.request.get();
                        let kind = match leading_type(request) {
                            Some(kind) => Some(Cow::Borrowed(kind)),
                            None => read_head(request).ok().and_then(|head| head.kind),
                        };
                        let request = kind
                            .and_then(|kind| parse_request(&kind, request))
                            .ok_or(ServerError::NoRequest)?
                            .map_err(ServerError::Json)?;
                        Ok(Forward {
                            origin: forward.origin,
                            request,
                            hops: forward.hops,
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Inbound::Forward {
                    from: src.to_owned(),
                    forwards,
                })
            });
        return Some(parsed);
    }
    if !RAFT_TYPES.contains(&kind) {
        return None;
    }
    Some(
        parse_raft(kind, body)
            .map(|msg| Inbound::Raft {
                from: src.to_owned(),
                msg,
            })
            .map_err(ServerError::Json),
    )
}

/// The `type` of a body that starts with it, as this node writes bodies (serde writes
/// an enum's tag first), when it has no escapes: found without parsing the body.
fn leading_type(body: &str) -> Option<&str> {
    let rest = body.strip_prefix(r#"{"type":""#)?;
    let kind = &rest[..rest.find('"')?];
    (!kind.contains('\\')).then_some(kind)
}

/// Reads a Raft message of type `kind`. The two that carry replication, most of the
/// traffic, are read straight into their variant: serde reads an internally tagged enum
/// by first copying the whole body, entries and all, into a buffer of its own. The
/// others are rare, and read through [`Message`]'s own derive.
fn parse_raft(kind: &str, body: &str) -> serde_json::Result<Message> {
    #[derive(Deserialize)]
    struct AppendEntries {
        term: Term,
        prev_log_index: Index,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: Index,
        read_seq: u64,
        #[serde(default)]
        sent_at: u64,
        #[serde(default)]
        election_timeout: u64,
    }
    #[derive(Deserialize)]
    struct AppendEntriesResponse {
        term: Term,
        success: bool,
        match_index: Index,
        rejected_index: Index,
        hint_index: Index,
        hint_term: Option<Term>,
        read_seq: u64,
        #[serde(default)]
        sent_at: u64,
    }
    match kind {
        "append_entries" => {
            let m: AppendEntries = serde_json::from_str(body)?;
            Ok(Message::AppendEntries {
                term: m.term,
                prev_log_index: m.prev_log_index,
                prev_log_term: m.prev_log_term,
                entries: m.entries,
                leader_commit: m.leader_commit,
                read_seq: m.read_seq,
                sent_at: m.sent_at,
                election_timeout: m.election_timeout,
            })
        }
        "append_entries_response" => {
            let m: AppendEntriesResponse = serde_json::from_str(body)?;
            Ok(Message::AppendEntriesResponse {
                term: m.term,
                success: m.success,
                match_index: m.match_index,
                rejected_index: m.rejected_index,
                hint_index: m.hint_index,
                hint_term: m.hint_term,
                read_seq: m.read_seq,
                sent_at: m.sent_at,
            })
        }
        _ => serde_json::from_str(body),
    }
}

/// A body's `type` when it is a string and `msg_id` when it is an unsigned integer, as
/// answering needs them; an error only when the body is not an object. Duplicate keys
/// (which serde refuses) are read as JSON values are: the last one counts.
fn read_head(body: &str) -> serde_json::Result<Answerable<'_>> {
    // Serde reads a struct from an array too.
    if !body.starts_with('{') {
        return Err(serde::de::Error::custom("expected an object"));
    }
    let (kind, msg_id) = match serde_json::from_str::<Head>(body) {
        Ok(head) => (
            head.kind.and_then(|raw| text(raw.get())),
            head.msg_id
                .and_then(|raw| serde_json::from_str(raw.get()).ok()),
        ),
        Err(_) => {
            let body: Map<String, Value> = serde_json::from_str(body)?;
            let kind = body.get("type").and_then(Value::as_str);
            (
                kind.map(|t| Cow::Owned(t.to_owned())),
                body.get("msg_id").and_then(Value::as_u64),
            )
        }
    };
    Ok(Answerable { kind, msg_id })
}

struct Answerable<'a> {
    kind: Option<Cow<'a, str>>,
    msg_id: Option<u64>,
}

/// A JSON string's text, borrowed unless it has escapes; None when not a string.
fn text(raw: &str) -> Option<Cow<'_, str>> {
    match serde_json::from_str::<&str>(raw) {
        Ok(text) => Some(Cow::Borrowed(text)),
        Err(_) => serde_json::from_str::<String>(raw).ok().map(Cow::Owned),
    }
}

/// Reads a client request of type `kind` straight into its variant; None when `kind` is
/// not a client request type. Keys and values are any JSON, so they stay [`Value`]s.
fn parse_request(kind: &str, body: &str) -> Option<serde_json::Result<Request>> {
    #[derive(Deserialize)]
    struct Key {
        key: Value,
    }
    #[derive(Deserialize)]
    struct Write {
        key: Value,
        value: Value,
    }
    #[derive(Deserialize)]
    struct Cas {
        key: Value,
        from: Value,
        to: Value,
    }
    #[derive(Deserialize)]
    struct Node {
        node: String,
    }
    let node = || serde_json::from_str::<Node>(body).map(|n| n.node);
    Some(match kind {
        "read" => serde_json::from_str(body).map(|Key { key }| Request::Read { key }),
        "write" => {
            serde_json::from_str(body).map(|Write { key, value }| Request::Write { key, value })
        }
        "cas" => {
            serde_json::from_str(body).map(|Cas { key, from, to }| Request::Cas { key, from, to })
        }
        "add_voter" => node().map(|node| Request::AddVoter { node }),
        "add_non_voter" => node().map(|node| Request::AddNonVoter { node }),
        "remove_server" => node().map(|node| Request::RemoveServer { node }),
        "transfer_leadership" => node().map(|node| Request::TransferLeadership { node }),
        "read_config" => Ok(Request::ReadConfig),
        _ => return None,
    })
}

/// The first part of a bad line, for a log message that stays one short line.
fn excerpt(line: &str) -> String {
    const MAX: usize = 120;
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// An outbound envelope: exactly the keys Maelstrom's schema allows.
#[derive(Serialize)]
struct Outbound<'a, B> {
    src: &'a str,
    dest: &'a str,
    body: B,
}

/// One outbound line, without its newline. The body is serialized where it lies (a raft
/// [`Message`] as much as a reply's [`Value`]), never first copied into a `Value`.
pub fn envelope(src: &str, dest: &str, body: impl Serialize) -> String {
    serde_json::to_string(&Outbound { src, dest, body }).expect("message bodies serialize")
}

/// Appends one outbound line and its newline to `out`, a batch of lines to write at once.
pub fn push_line(out: &mut Vec<u8>, src: &str, dest: &str, body: impl Serialize) {
    serde_json::to_writer(&mut *out, &Outbound { src, dest, body })
        .expect("message bodies serialize");
    out.push(b'\n');
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

/// One message carrying requests a server passes on to the same server, in order.
pub fn forward_body(forwards: &[Forward]) -> Value {
    json!({ "type": "forward", "forwards": forwards })
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
        // Several requests in one message come out in the order they were put in.
        let read = Forward {
            origin: ClientRef {
                client: "c3".into(),
                msg_id: 8,
            },
            request: Request::Read { key: json!("k") },
            hops: 2,
        };
        let forwards = vec![forward, read];
        let line = envelope("n2", "n0", forward_body(&forwards));
        assert_eq!(
            parse(&line),
            Ok(Inbound::Forward {
                from: "n2".into(),
                forwards
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
        let line = envelope("n1", "n0", forward_body(std::slice::from_ref(&forward)));
        assert_eq!(
            parse(&line),
            Ok(Inbound::Forward {
                from: "n1".into(),
                forwards: vec![forward]
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
    fn mistyped_heads_and_bodies_get_the_contracts_answers() {
        // A msg_id that is not an unsigned integer cannot be answered.
        let negative = parse(r#"{"src":"c1","dest":"n0","body":{"type":"cas","msg_id":-1}}"#);
        assert!(matches!(negative, Err(Rejected::Unanswerable(_))));
        let untyped = parse(r#"{"src":"c1","dest":"n0","body":{"type":7,"msg_id":2}}"#);
        assert!(matches!(
            untyped,
            Err(Rejected::Error {
                msg_id: 2,
                code: 12,
                ..
            })
        ));
        assert!(matches!(
            parse(r#"{"src":"c1","dest":"n0","body":[1]}"#),
            Err(Rejected::NotAMessage(_))
        ));
        assert!(matches!(
            parse(r#"{"src":"c1","body":{"type":"read","msg_id":1,"key":1}}"#),
            Err(Rejected::NotAMessage(_))
        ));
        // Duplicate keys, which serde's structs refuse, still get an answer.
        let twice =
            parse(r#"{"src":"c1","dest":"n0","body":{"type":"read","type":"read","msg_id":5}}"#);
        assert!(matches!(
            twice,
            Err(Rejected::Error {
                msg_id: 5,
                code: 12,
                ..
            })
        ));
        // Escaped text in the type is read as text.
        let escaped =
            parse(r#"{"src":"c1","dest":"n0","body":{"type":"re\u0061d","msg_id":6,"key":"k"}}"#);
        assert_eq!(
            escaped,
            Ok(Inbound::Client {
                origin: ClientRef {
                    client: "c1".into(),
                    msg_id: 6
                },
                request: Request::Read { key: json!("k") },
            })
        );
        // A forward whose request is not one is malformed, and answered to its sender.
        let forward = parse(
            r#"{"src":"n1","dest":"n0","body":{"type":"forward","msg_id":8,"forwards":[{"hops":1,"origin":{"client":"c1","msg_id":2},"request":{"type":"read","key":1}},{"hops":1,"origin":{"client":"c1","msg_id":3},"request":{"type":"frob"}}]}}"#,
        );
        assert!(matches!(
            forward,
            Err(Rejected::Error {
                msg_id: 8,
                code: 12,
                ..
            })
        ));
    }

    #[test]
    fn replication_messages_read_straight_into_their_variants() {
        use crate::kv::{Command, KvOp};
        use crate::raft::EntryData;
        let entries = vec![
            Entry {
                term: 2,
                index: 7,
                data: EntryData::Noop,
            },
            Entry {
                term: 2,
                index: 8,
                data: EntryData::Command(
                    Command {
                        client: "c1".into(),
                        msg_id: 4,
                        proposer: "n1".into(),
                        op: KvOp::Cas {
                            key: json!(1),
                            from: json!([2]),
                            to: json!({"a": null}),
                        },
                    }
                    .encode(),
                ),
            },
        ];
        let messages = [
            Message::AppendEntries {
                term: 2,
                prev_log_index: 6,
                prev_log_term: 1,
                entries,
                leader_commit: 5,
                read_seq: 9,
                sent_at: 1234,
                election_timeout: 300,
            },
            Message::AppendEntriesResponse {
                term: 2,
                success: false,
                match_index: 0,
                rejected_index: 6,
                hint_index: 4,
                hint_term: Some(1),
                read_seq: 9,
                sent_at: 1234,
            },
        ];
        for msg in messages {
            let line = envelope("n1", "n0", &msg);
            let from = "n1".to_string();
            assert_eq!(parse(&line), Ok(Inbound::Raft { from, msg }));
        }
        // Fields added later default, as the enum's derive has them.
        let old = r#"{"src":"n1","dest":"n0","body":{"type":"append_entries_response","term":1,"success":true,"match_index":3,"rejected_index":0,"hint_index":0,"hint_term":null,"read_seq":0}}"#;
        assert!(matches!(
            parse(old),
            Ok(Inbound::Raft {
                msg: Message::AppendEntriesResponse { sent_at: 0, .. },
                ..
            })
        ));
        let missing =
            r#"{"src":"n1","dest":"n0","body":{"type":"append_entries","msg_id":3,"term":1}}"#;
        assert!(matches!(
            parse(missing),
            Err(Rejected::Error { code: 12, .. })
        ));
    }

    #[test]
    fn outbound_lines_serialize_bodies_where_they_lie() {
        let msg = Message::TimeoutNow { term: 4 };
        assert_eq!(
            envelope("n0", "n1", &msg),
            r#"{"src":"n0","dest":"n1","body":{"type":"timeout_now","term":4}}"#
        );
        let mut lines = Vec::new();
        push_line(&mut lines, "n0", "c1", write_ok(3));
        push_line(&mut lines, "n0", "n2", &msg);
        let text = String::from_utf8(lines).unwrap();
        let parsed: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0]["body"], write_ok(3));
        assert_eq!(parsed[1]["body"], raft_body(&msg));
        assert!(text.ends_with('\n'));
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
