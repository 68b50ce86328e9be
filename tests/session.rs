//! A scripted stdin/stdout session with the real binary on a one-node cluster.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use serde_json::{json, Value};

struct Node {
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<Value>,
}

impl Node {
    fn start(args: &[&str]) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_raft-ng"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start raft-ng");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, replies) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap();
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("stdout carried a non-JSON line {line:?}: {e}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Node {
            child,
            stdin,
            replies,
        }
    }

    fn send_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn send(&mut self, body: Value) {
        self.send_line(&json!({"src": "c1", "dest": "n0", "body": body}).to_string());
    }

    /// The next message to a client; messages to other servers (which do not run
    /// here) are passed over.
    fn reply(&self) -> Value {
        let reply = loop {
            let line = self
                .replies
                .recv_timeout(Duration::from_secs(5))
                .expect("a reply within 5 s");
            if !line["dest"].as_str().unwrap_or("").starts_with('n') {
                break line;
            }
        };
        let keys: Vec<&str> = reply
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["body", "dest", "src"],
            "closed envelope schema: {reply}"
        );
        reply["body"].clone()
    }

    /// Sends a request and returns the reply to it.
    fn call(&mut self, body: Value) -> Value {
        let msg_id = body["msg_id"].clone();
        self.send(body);
        let reply = self.reply();
        assert_eq!(
            reply["in_reply_to"], msg_id,
            "reply to the request: {reply}"
        );
        reply
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn init(node: &mut Node) {
    init_with(node, &["n0"]);
}

/// Initialises the node as n0 of `node_ids`.
fn init_with(node: &mut Node, node_ids: &[&str]) {
    node.send_line(
        &json!({"src": "c0", "dest": "n0", "body": {"type": "init", "msg_id": 1, "node_id": "n0", "node_ids": node_ids}})
            .to_string(),
    );
    let reply = node
        .replies
        .recv_timeout(Duration::from_secs(5))
        .expect("init_ok");
    assert_eq!(
        reply,
        json!({"src": "n0", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1}})
    );
}

/// The one-node cluster elects itself within an election timeout or two; a write
/// waits for that, or fails definitely with 11 if it takes longer. Retry until one
/// succeeds.
fn first_write(node: &mut Node, key: Value, value: Value) {
    for msg_id in 100.. {
        let reply =
            node.call(json!({"type": "write", "msg_id": msg_id, "key": key, "value": value}));
        if reply["type"] == "write_ok" {
            assert_eq!(reply, json!({"type": "write_ok", "in_reply_to": msg_id}));
            return;
        }
        assert_eq!(
            reply["code"], 11,
            "only 'no leader yet' may fail a write: {reply}"
        );
        assert!(msg_id < 200, "no leader after 100 tries");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn one_node_session_follows_the_contract() {
    let mut node = Node::start(&[]);
    init(&mut node);
    first_write(&mut node, json!(0), json!(3));

    let read = node.call(json!({"type": "read", "msg_id": 2, "key": 0}));
    assert_eq!(
        read,
        json!({"type": "read_ok", "in_reply_to": 2, "value": 3})
    );

    let cas = node.call(json!({"type": "cas", "msg_id": 3, "key": 0, "from": 3, "to": "4"}));
    assert_eq!(cas, json!({"type": "cas_ok", "in_reply_to": 3}));
    let read = node.call(json!({"type": "read", "msg_id": 4, "key": 0}));
    assert_eq!(read["value"], json!("4"), "values keep their JSON type");

    let cas = node.call(json!({"type": "cas", "msg_id": 5, "key": 0, "from": 3, "to": 1}));
    assert_eq!(
        (cas["type"].clone(), cas["code"].clone()),
        (json!("error"), json!(22))
    );
    let missing = node.call(json!({"type": "read", "msg_id": 6, "key": 9}));
    assert_eq!(missing["code"], 20);
    let missing_cas = node.call(json!({"type": "cas", "msg_id": 7, "key": 9, "from": 1, "to": 2}));
    assert_eq!(missing_cas["code"], 20);

    // Lines that are not messages are skipped without an answer...
    node.send_line("this is not json");
    node.send_line("{\"src\": \"c1\"}");
    node.send_line("{\"src\":\"c1\",\"dest\":\"n0\",\"body\":{\"type\":\"zap\"}}");
    // ...a message with a msg_id gets an error...
    let unknown = node.call(json!({"type": "frobnicate", "msg_id": 8}));
    assert_eq!(unknown["code"], 10);
    let no_value = node.call(json!({"type": "write", "msg_id": 9, "key": 1}));
    assert_eq!(no_value["code"], 12);
    let bad_key_type = node.call(json!({"type": "read", "msg_id": 10}));
    assert_eq!(bad_key_type["code"], 12);

    // ...and the node keeps serving, with nothing lost.
    let read = node.call(json!({"type": "read", "msg_id": 11, "key": 0}));
    assert_eq!(
        read,
        json!({"type": "read_ok", "in_reply_to": 11, "value": "4"})
    );
    assert!(
        node.child.try_wait().unwrap().is_none(),
        "the node is still running"
    );
}

/// Right after init the node has no leader yet: a request then waits for the election
/// instead of failing with 11.
#[test]
fn a_request_during_the_first_election_waits_for_it() {
    let mut node = Node::start(&[]);
    init(&mut node);
    let reply = node.call(json!({"type": "write", "msg_id": 2, "key": 0, "value": 1}));
    assert_eq!(reply, json!({"type": "write_ok", "in_reply_to": 2}));
}

#[test]
fn durable_state_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("raft-ng-session-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data_dir = dir.to_str().unwrap();
    {
        let mut node = Node::start(&["--data-dir", data_dir]);
        init(&mut node);
        first_write(&mut node, json!(5), json!(2));
    }
    // Killed (Drop), restarted on the same directory: the write is still there.
    let mut node = Node::start(&["--data-dir", data_dir]);
    init(&mut node);
    let mut read = json!(null);
    for msg_id in 1..100 {
        read = node.call(json!({"type": "read", "msg_id": msg_id, "key": 5}));
        if read["type"] == "read_ok" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(read["value"], json!(2), "last answer: {read}");
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The admin API on a node that is the only voter of two: n1 is never started, so it
/// can join as a non-voter (which needs nobody's acknowledgement) but never catch up.
#[test]
fn admin_requests_change_and_show_the_configuration() {
    let mut node = Node::start(&["--initial-voters", "1"]);
    init_with(&mut node, &["n0", "n1"]);
    first_write(&mut node, json!(1), json!(1));

    let config = node.call(json!({"type": "read_config", "msg_id": 2}));
    assert_eq!(config["type"], "read_config_ok", "{config}");
    assert_eq!(config["leader"], "n0");
    assert_eq!(config["committed"]["voters"], json!(["n0"]));
    assert_eq!(config["latest"]["non_voters"], json!([]));

    let added = node.call(json!({"type": "add_non_voter", "msg_id": 3, "node": "n1"}));
    assert_eq!(added, json!({"type": "add_non_voter_ok", "in_reply_to": 3}));
    let config = node.call(json!({"type": "read_config", "msg_id": 4}));
    assert_eq!(config["committed"]["non_voters"], json!(["n1"]));
    assert!(config["committed"]["index"].as_u64().unwrap() > 0);

    // Definite refusals, with nothing changed.
    let unknown = node.call(json!({"type": "remove_server", "msg_id": 5, "node": "n7"}));
    assert_eq!(unknown["code"], 12, "{unknown}");
    let not_voter = node.call(json!({"type": "transfer_leadership", "msg_id": 6, "node": "n1"}));
    assert_eq!(not_voter["code"], 11, "{not_voter}");
    let last = node.call(json!({"type": "remove_server", "msg_id": 7, "node": "n0"}));
    assert_eq!(last["code"], 12, "{last}");
    let malformed = node.call(json!({"type": "add_voter", "msg_id": 8}));
    assert_eq!(malformed["code"], 12, "{malformed}");

    // Promoting n1 makes it staging; it never answers, so the change is given up.
    node.send(json!({"type": "add_voter", "msg_id": 9, "node": "n1"}));
    let config = node.call(json!({"type": "read_config", "msg_id": 10}));
    assert_eq!(config["staging"], json!(["n1"]), "{config}");
    let busy = node.call(json!({"type": "remove_server", "msg_id": 11, "node": "n1"}));
    assert_eq!(busy["code"], 11, "one change at a time: {busy}");
    let given_up = loop {
        let message = node
            .replies
            .recv_timeout(Duration::from_secs(10))
            .expect("an answer to add_voter");
        if message["body"]["in_reply_to"] == 9 {
            break message;
        }
    };
    assert_eq!(given_up["body"]["code"], 11, "{given_up}");

    let removed = node.call(json!({"type": "remove_server", "msg_id": 12, "node": "n1"}));
    assert_eq!(
        removed,
        json!({"type": "remove_server_ok", "in_reply_to": 12})
    );
    let config = node.call(json!({"type": "read_config", "msg_id": 13}));
    assert_eq!(config["committed"]["voters"], json!(["n0"]));
    assert_eq!(config["committed"]["non_voters"], json!([]));
    let read = node.call(json!({"type": "read", "msg_id": 14, "key": 1}));
    assert_eq!(read["value"], 1, "clients are served throughout");
}

#[test]
fn a_line_of_invalid_utf8_is_skipped_and_the_next_request_answered() {
    let mut node = Node::start(&[]);
    init(&mut node);
    node.stdin
        .write_all(b"{\"src\": \"c1\", \"dest\": \"n0\", \"body\": \"\xff\xfe\"}\n")
        .unwrap();
    let reply = node.call(json!({"type": "write", "msg_id": 2, "key": 0, "value": 1}));
    assert_eq!(reply, json!({"type": "write_ok", "in_reply_to": 2}));
    assert!(
        node.child.try_wait().unwrap().is_none(),
        "the node is still running"
    );
}

/// `raft_ng::node::abort_on_panic`, which the binary's `main` installs first, makes a
/// panic in any thread end the process. The test runs itself again as a child that
/// installs the hook, panics in a spawned thread and keeps its main thread alive: the
/// child must die of SIGABRT at once. (The environment variable exists only in this
/// test; the node has no way to be made to panic on purpose.)
#[test]
fn a_panic_in_any_thread_ends_the_process() {
    const CHILD: &str = "RAFT_NG_SESSION_PANIC_CHILD";
    if std::env::var_os(CHILD).is_some() {
        raft_ng::node::abort_on_panic();
        std::thread::spawn(|| panic!("a deliberate panic in a worker thread"));
        // Without the hook the worker dies alone and this returns: the test passes,
        // and the parent sees a clean exit.
        std::thread::sleep(Duration::from_secs(20));
        return;
    }
    let started = std::time::Instant::now();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["a_panic_in_any_thread_ends_the_process", "--exact"])
        .env(CHILD, "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run the child");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(6), "killed by SIGABRT: {status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// n0, a voter of n0, n1, n2 as far as it knows, was removed while it was cut off. Its
/// pre-vote is refused with the committed configuration that leaves it out: from then
/// on it passes client requests to those voters instead of holding and failing them.
#[test]
fn a_server_removed_while_cut_off_learns_it_and_forwards_its_clients() {
    let mut node = Node::start(&[]);
    init_with(&mut node, &["n0", "n1", "n2"]);
    let pre_vote = loop {
        let message = node
            .replies
            .recv_timeout(Duration::from_secs(5))
            .expect("a pre-vote request");
        if message["dest"] == "n1" && message["body"]["type"] == "request_vote" {
            break message["body"].clone();
        }
    };
    assert_eq!(pre_vote["pre_vote"], true, "{pre_vote}");
    let refusal = json!({"type": "request_vote_response", "term": 3, "granted": false,
        "pre_vote": true, "sent_at": pre_vote["sent_at"],
        "removed": {"index": 9, "voters": ["n1", "n2"]}});
    node.send_line(&json!({"src": "n1", "dest": "n0", "body": refusal}).to_string());

    node.send(json!({"type": "read", "msg_id": 2, "key": 0}));
    let forwarded = loop {
        let message = node
            .replies
            .recv_timeout(Duration::from_secs(2))
            .expect("the read passed on");
        assert_ne!(message["dest"], "c1", "answered instead: {message}");
        if message["body"]["type"] == "forward" {
            break message;
        }
    };
    assert!(
        forwarded["dest"] == "n1" || forwarded["dest"] == "n2",
        "{forwarded}"
    );
    // It does not campaign any more. The first round's request to n2 (taken out with
    // n1's, so stamped alike) may reach stdout only now, when its peer thread was slow.
    while let Ok(message) = node.replies.recv_timeout(Duration::from_secs(2)) {
        let same_round = message["body"]["sent_at"] == pre_vote["sent_at"];
        if message["body"]["type"] == "request_vote" && !same_round {
            panic!("campaigned again: {message}");
        }
    }
}
