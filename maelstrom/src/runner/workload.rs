//! The lin-kv workload's rules, free of threads and sockets so they can be tested:
//! which thread works on which key and does what, the request rate, the client timeout,
//! and how a reply (or its absence) becomes an ok, fail or info in the history.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

use crate::history::{Event, EventType, OpFn};

/// A key moves on once more than this many distinct processes have worked on it
/// (Jepsen's `process-limit 20` in Maelstrom's lin-kv).
pub const PROCESSES_PER_KEY: usize = 20;

/// Values written and compared are 0..=4, as in Maelstrom.
const VALUE_COUNT: u64 = 5;

/// Maelstrom's client timeout: max(10 x latency, 1 s).
pub fn client_timeout(latency_ms: f64) -> Duration {
    Duration::from_secs_f64((10.0 * latency_ms).max(1000.0) / 1000.0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Only reads.
    Reader,
    /// One third writes, two thirds compare-and-sets.
    Writer,
}

/// Threads form groups of 2N, one key per group.
pub fn group_of(thread: usize, node_count: usize) -> usize {
    thread / (2 * node_count)
}

/// The first N threads of group 0 only read; everyone else writes and compares-and-sets.
pub fn role_of(thread: usize, node_count: usize) -> Role {
    if thread < node_count {
        Role::Reader
    } else {
        Role::Writer
    }
}

/// What to ask next. Returns the function and the history's invoke value.
pub fn choose_op(role: Role, rng: &mut impl Rng) -> (OpFn, Value) {
    match role {
        Role::Reader => (OpFn::Read, Value::Null),
        Role::Writer if rng.gen_range(0..3) == 0 => {
            (OpFn::Write, json!(rng.gen_range(0..VALUE_COUNT)))
        }
        Role::Writer => (
            OpFn::Cas,
            json!([rng.gen_range(0..VALUE_COUNT), rng.gen_range(0..VALUE_COUNT)]),
        ),
    }
}

/// The request body for an operation (msg_id is added by the client).
pub fn request_body(f: OpFn, key: u64, value: &Value) -> Map<String, Value> {
    let body = match f {
        OpFn::Read => json!({"type": "read", "key": key}),
        OpFn::Write => json!({"type": "write", "key": key, "value": value}),
        OpFn::Cas => json!({"type": "cas", "key": key, "from": value[0], "to": value[1]}),
    };
    match body {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

/// The key each group of threads currently works on.
struct GroupKey {
    key: u64,
    processes: HashSet<u64>,
}

pub struct KeyGroups {
    groups: Vec<Mutex<GroupKey>>,
    next_key: AtomicU64,
}

impl KeyGroups {
    /// Group g starts on key g; fresh keys are then handed out in order to whichever
    /// group moves on first, like the shared `(range)` of Jepsen's independent generator.
    pub fn new(group_count: usize) -> Self {
        KeyGroups {
            groups: (0..group_count as u64)
                .map(|key| {
                    Mutex::new(GroupKey {
                        key,
                        processes: HashSet::new(),
                    })
                })
                .collect(),
            next_key: AtomicU64::new(group_count as u64),
        }
    }

    /// The key `process` should use for its next operation in `group`, moving the group
    /// to a fresh key when this process would be the 21st on the current one.
    pub fn key_for(&self, group: usize, process: u64) -> u64 {
        let mut current = self.groups[group].lock().unwrap();
        if !current.processes.contains(&process) && current.processes.len() >= PROCESSES_PER_KEY {
            current.key = self.next_key.fetch_add(1, Ordering::SeqCst);
            current.processes.clear();
        }
        current.processes.insert(process);
        current.key
    }
}

/// Jepsen's `stagger`: each operation starts a uniform [0, 2/rate) after the previous
/// one was due, or when a thread is free if all were busy (no catching up in bursts).
/// At rate 0 nothing is scheduled: Maelstrom then only sleeps out the time limit.
pub struct RateSchedule {
    /// `None` at rate 0.
    mean_gap: Option<Duration>,
    state: Mutex<(Option<Instant>, StdRng)>,
}

impl RateSchedule {
    pub fn new(rate: f64, seed: u64) -> Self {
        RateSchedule {
            mean_gap: (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate)),
            state: Mutex::new((None, StdRng::seed_from_u64(seed))),
        }
    }

    /// When the caller, free at `now`, should start its operation; `None` if never.
    pub fn next_start(&self, now: Instant) -> Option<Instant> {
        let mean_gap = self.mean_gap?;
        let mut state = self.state.lock().unwrap();
        let (next_due, rng) = &mut *state;
        let start = next_due.map_or(now, |due| due.max(now));
        *next_due = Some(start + mean_gap.mul_f64(rng.gen_range(0.0..2.0)));
        Some(start)
    }
}

/// The error codes that mean "this did not happen and never will".
pub fn is_definite(code: i64) -> bool {
    matches!(code, 1 | 10 | 11 | 12 | 14 | 20 | 21 | 22 | 30)
}

/// How a client's request ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// read_ok/write_ok/cas_ok; for reads, the value read.
    Ok(Value),
    /// An `error` reply with its code and text.
    Error { code: i64, text: String },
    /// No reply within the client timeout.
    Timeout,
    /// A reply that does not follow the schema (wrong type, extra keys, ...).
    Malformed(String),
}

/// Reads a reply body for `f` against Maelstrom's closed reply schemas.
pub fn interpret_reply(f: OpFn, body: &Map<String, Value>) -> Outcome {
    let kind = body.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind == "error" {
        // Maelstrom reads an error with no code it knows (none at all included) as an
        // indefinite error: a read fails, a write or cas may have happened.
        return match body.get("code").and_then(Value::as_i64) {
            Some(code) => Outcome::Error {
                code,
                text: body
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            },
            None => Outcome::Error {
                code: Event::NO_CODE,
                text: format!(
                    "error without an integer code: {}",
                    Value::Object(body.clone())
                ),
            },
        };
    }
    let (expected, value_key) = match f {
        OpFn::Read => ("read_ok", Some("value")),
        OpFn::Write => ("write_ok", None),
        OpFn::Cas => ("cas_ok", None),
    };
    if kind != expected {
        return Outcome::Malformed(format!("expected {expected} or error, got type {kind:?}"));
    }
    let allowed =
        |key: &str| matches!(key, "type" | "in_reply_to" | "msg_id") || Some(key) == value_key;
    if let Some(extra) = body.keys().find(|key| !allowed(key)) {
        return Outcome::Malformed(format!("{expected} has an unexpected key {extra:?}"));
    }
    if body
        .get("msg_id")
        .is_some_and(|id| !(id.is_i64() || id.is_u64()))
    {
        return Outcome::Malformed(format!("{expected} has a non-integer msg_id"));
    }
    match value_key {
        Some(key) => match body.get(key) {
            Some(value) => Outcome::Ok(value.clone()),
            None => Outcome::Malformed(format!("{expected} has no {key}")),
        },
        None => Outcome::Ok(Value::Null),
    }
}

/// The history type of an outcome. A read never changes state, so a read that did not
/// succeed surely did not happen: fail. A write or cas without a definite answer may
/// still take effect: info. A malformed reply is info even for reads, as in Maelstrom.
pub fn completion_type(f: OpFn, outcome: &Outcome) -> EventType {
    match outcome {
        Outcome::Ok(_) => EventType::Ok,
        Outcome::Error { code, .. } if is_definite(*code) => EventType::Fail,
        Outcome::Error { .. } | Outcome::Timeout if f == OpFn::Read => EventType::Fail,
        Outcome::Error { .. } | Outcome::Timeout => EventType::Info,
        Outcome::Malformed(_) => EventType::Info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn groups_of_two_n_with_readers_only_at_the_start() {
        let n = 3;
        let groups: Vec<usize> = (0..12).map(|thread| group_of(thread, n)).collect();
        assert_eq!(groups, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
        let roles: Vec<Role> = (0..12).map(|thread| role_of(thread, n)).collect();
        assert_eq!(&roles[..3], [Role::Reader; 3]);
        assert!(roles[3..].iter().all(|role| *role == Role::Writer));
    }

    #[test]
    fn writers_split_one_third_writes_two_thirds_cas() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut writes = 0;
        let trials = 30_000;
        for _ in 0..trials {
            match choose_op(Role::Writer, &mut rng) {
                (OpFn::Write, value) => {
                    assert!(value.as_u64().unwrap() < 5);
                    writes += 1;
                }
                (OpFn::Cas, value) => {
                    assert!(value[0].as_u64().unwrap() < 5 && value[1].as_u64().unwrap() < 5);
                }
                (OpFn::Read, _) => panic!("writers never read"),
            }
        }
        let share = writes as f64 / trials as f64;
        assert!((share - 1.0 / 3.0).abs() < 0.02, "write share {share}");
        assert_eq!(choose_op(Role::Reader, &mut rng), (OpFn::Read, Value::Null));
    }

    #[test]
    fn requests_follow_the_lin_kv_schema() {
        assert_eq!(
            Value::Object(request_body(OpFn::Cas, 4, &json!([1, 2]))),
            json!({"type": "cas", "key": 4, "from": 1, "to": 2})
        );
        assert_eq!(
            Value::Object(request_body(OpFn::Write, 0, &json!(3))),
            json!({"type": "write", "key": 0, "value": 3})
        );
        assert_eq!(
            Value::Object(request_body(OpFn::Read, 1, &Value::Null)),
            json!({"type": "read", "key": 1})
        );
    }

    #[test]
    fn a_group_moves_to_a_fresh_key_after_twenty_processes() {
        let groups = KeyGroups::new(2);
        assert_eq!(groups.key_for(0, 0), 0);
        assert_eq!(groups.key_for(1, 6), 1);
        for process in 0..PROCESSES_PER_KEY as u64 {
            assert_eq!(groups.key_for(0, process), 0);
        }
        // Known processes stay; the 21st distinct one moves the group on.
        assert_eq!(groups.key_for(0, 3), 0);
        assert_eq!(groups.key_for(0, 100), 2);
        assert_eq!(groups.key_for(0, 5), 2);
        assert_eq!(groups.key_for(1, 6), 1);
    }

    #[test]
    fn rate_schedule_mean_gap_is_one_over_rate() {
        let schedule = RateSchedule::new(50.0, 1);
        let start = Instant::now();
        let mut previous = schedule.next_start(start).unwrap();
        assert_eq!(previous, start);
        let samples = 20_000;
        let mut total = Duration::ZERO;
        let mut longest = Duration::ZERO;
        for _ in 0..samples {
            // A thread that is always free early gets exactly the scheduled times.
            let next = schedule.next_start(start).unwrap();
            total += next - previous;
            longest = longest.max(next - previous);
            previous = next;
        }
        let mean = total.as_secs_f64() / samples as f64;
        assert!((mean - 0.02).abs() < 0.0005, "mean gap {mean}");
        assert!(longest < Duration::from_millis(40));
    }

    #[test]
    fn rate_schedule_does_not_burst_after_busy_periods() {
        let schedule = RateSchedule::new(10.0, 2);
        let start = Instant::now();
        schedule.next_start(start);
        let late = start + Duration::from_secs(5);
        assert_eq!(schedule.next_start(late), Some(late));
        assert!(schedule.next_start(late).unwrap() >= late);
    }

    #[test]
    fn rate_zero_schedules_nothing() {
        let schedule = RateSchedule::new(0.0, 3);
        assert_eq!(schedule.next_start(Instant::now()), None);
    }

    #[test]
    fn timeout_is_ten_latencies_but_at_least_a_second() {
        assert_eq!(client_timeout(0.0), Duration::from_secs(1));
        assert_eq!(client_timeout(50.0), Duration::from_secs(1));
        assert_eq!(client_timeout(250.0), Duration::from_millis(2500));
    }

    #[test]
    fn errors_classify_by_definiteness_and_function() {
        for code in [1, 10, 11, 12, 14, 20, 21, 22, 30] {
            let outcome = Outcome::Error {
                code,
                text: String::new(),
            };
            for f in [OpFn::Read, OpFn::Write, OpFn::Cas] {
                assert_eq!(completion_type(f, &outcome), EventType::Fail, "code {code}");
            }
        }
        for code in [0, 13, 1000, 1234] {
            let outcome = Outcome::Error {
                code,
                text: String::new(),
            };
            assert_eq!(completion_type(OpFn::Read, &outcome), EventType::Fail);
            assert_eq!(completion_type(OpFn::Write, &outcome), EventType::Info);
            assert_eq!(completion_type(OpFn::Cas, &outcome), EventType::Info);
        }
        assert_eq!(
            completion_type(OpFn::Read, &Outcome::Timeout),
            EventType::Fail
        );
        assert_eq!(
            completion_type(OpFn::Write, &Outcome::Timeout),
            EventType::Info
        );
        assert_eq!(
            completion_type(OpFn::Cas, &Outcome::Timeout),
            EventType::Info
        );
        let malformed = Outcome::Malformed(String::new());
        for f in [OpFn::Read, OpFn::Write, OpFn::Cas] {
            assert_eq!(completion_type(f, &malformed), EventType::Info);
        }
        assert_eq!(
            completion_type(OpFn::Read, &Outcome::Ok(json!(2))),
            EventType::Ok
        );
    }

    #[test]
    fn replies_are_held_to_closed_schemas() {
        let ok_read = body(json!({"type": "read_ok", "value": 3, "in_reply_to": 1, "msg_id": 9}));
        assert_eq!(interpret_reply(OpFn::Read, &ok_read), Outcome::Ok(json!(3)));
        let null_read = body(json!({"type": "read_ok", "value": null, "in_reply_to": 1}));
        assert_eq!(
            interpret_reply(OpFn::Read, &null_read),
            Outcome::Ok(Value::Null)
        );
        let extra = body(json!({"type": "read_ok", "value": 3, "in_reply_to": 1, "key": 0}));
        assert!(matches!(
            interpret_reply(OpFn::Read, &extra),
            Outcome::Malformed(_)
        ));
        let no_value = body(json!({"type": "read_ok", "in_reply_to": 1}));
        assert!(matches!(
            interpret_reply(OpFn::Read, &no_value),
            Outcome::Malformed(_)
        ));
        let wrong_type = body(json!({"type": "write_ok", "in_reply_to": 1}));
        assert!(matches!(
            interpret_reply(OpFn::Cas, &wrong_type),
            Outcome::Malformed(_)
        ));
        let write_with_value = body(json!({"type": "write_ok", "in_reply_to": 1, "value": 1}));
        assert!(matches!(
            interpret_reply(OpFn::Write, &write_with_value),
            Outcome::Malformed(_)
        ));
        let error =
            body(json!({"type": "error", "in_reply_to": 1, "code": 22, "text": "no", "extra": 1}));
        assert_eq!(
            interpret_reply(OpFn::Cas, &error),
            Outcome::Error {
                code: 22,
                text: "no".into()
            }
        );
        // No integer code: an indefinite error, as Maelstrom's `unknown` one, so a read
        // fails and a write or cas is info.
        for codeless in [
            body(json!({"type": "error", "in_reply_to": 1})),
            body(json!({"type": "error", "in_reply_to": 1, "code": "22", "text": "no"})),
        ] {
            for (f, kind) in [
                (OpFn::Read, EventType::Fail),
                (OpFn::Write, EventType::Info),
                (OpFn::Cas, EventType::Info),
            ] {
                let outcome = interpret_reply(f, &codeless);
                let Outcome::Error { code, text } = &outcome else {
                    panic!("{outcome:?}");
                };
                assert_eq!(*code, Event::NO_CODE);
                assert!(
                    text.starts_with("error without an integer code: {"),
                    "{text}"
                );
                assert_eq!(completion_type(f, &outcome), kind, "{f:?}");
            }
        }
    }
}
