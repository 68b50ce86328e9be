use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::operations::{split_by_key, KeyHistory, NIL};
use super::simulation::{linearizable_history, Workload};
use super::*;

const BUDGET: Duration = Duration::from_secs(10);

// ---- hand-made histories -------------------------------------------------------------

/// An invocation and its completion; times in nanoseconds.
fn op(process: u64, f: OpFn, value: Value, result: Value, call: u64, ret: u64) -> Vec<Event> {
    let event = |kind, value, time| Event {
        process,
        kind,
        f,
        key: json!(0),
        value,
        time,
        node: "n0".into(),
        error: None,
    };
    vec![
        event(EventType::Invoke, value, call),
        event(EventType::Ok, result, ret),
    ]
}

fn write(process: u64, value: i64, call: u64, ret: u64) -> Vec<Event> {
    op(process, OpFn::Write, json!(value), json!(value), call, ret)
}

fn cas(process: u64, from: i64, to: i64, call: u64, ret: u64) -> Vec<Event> {
    let pair = json!([from, to]);
    op(process, OpFn::Cas, pair.clone(), pair, call, ret)
}

fn read(process: u64, seen: Value, call: u64, ret: u64) -> Vec<Event> {
    op(process, OpFn::Read, Value::Null, seen, call, ret)
}

/// The same op, completed as `kind` instead of ok.
fn completed_as(kind: EventType, mut events: Vec<Event>) -> Vec<Event> {
    events[1].kind = kind;
    events
}

/// The same op, never answered.
fn unanswered(mut events: Vec<Event>) -> Vec<Event> {
    events.truncate(1);
    events
}

fn on_key(key: i64, mut events: Vec<Event>) -> Vec<Event> {
    for event in &mut events {
        event.key = json!(key);
    }
    events
}

fn history(ops: Vec<Vec<Event>>) -> Vec<Event> {
    let mut events: Vec<Event> = ops.into_iter().flatten().collect();
    events.sort_by_key(|event| event.time);
    events
}

fn key_verdict(ops: Vec<Vec<Event>>) -> KeyReport {
    let report = check(&history(ops), BUDGET);
    assert_eq!(report.keys.len(), 1, "one key expected: {:?}", report.keys);
    report.keys.into_iter().next().expect("one key")
}

#[test]
fn sequential_history_is_valid() {
    let report = check(
        &history(vec![
            write(1, 1, 0, 10),
            read(2, json!(1), 20, 30),
            cas(1, 1, 2, 40, 50),
            read(2, json!(2), 60, 70),
        ]),
        BUDGET,
    );
    assert_eq!(report.validity, Validity::Valid);
    assert_eq!(report.keys[0].validity, Validity::Valid);
    assert_eq!(report.keys[0].op_count, 4);
    assert!(report.keys[0].reason.is_none());
    assert!(report.keys[0].anomaly.is_empty());
    assert!(report.missing_ok.is_empty());
}

#[test]
fn stale_read_is_invalid() {
    let key = key_verdict(vec![
        write(1, 1, 0, 10),
        write(1, 2, 20, 30),
        read(2, json!(1), 40, 50),
    ]);
    assert_eq!(key.validity, Validity::Invalid);
}

#[test]
fn lost_write_is_invalid() {
    // The write of 3 was acknowledged, yet a later read still sees the value before it.
    let key = key_verdict(vec![
        write(1, 1, 0, 10),
        cas(2, 1, 2, 20, 30),
        write(1, 3, 40, 50),
        read(3, json!(2), 60, 70),
    ]);
    assert_eq!(key.validity, Validity::Invalid);
}

#[test]
fn cas_acknowledged_from_a_wrong_value_is_invalid() {
    let key = key_verdict(vec![write(1, 1, 0, 10), cas(2, 2, 3, 20, 30)]);
    assert_eq!(key.validity, Validity::Invalid);
    // A cas on the empty register cannot succeed either.
    let key = key_verdict(vec![cas(2, 0, 3, 20, 30)]);
    assert_eq!(key.validity, Validity::Invalid);
}

#[test]
fn read_of_a_value_never_written_is_invalid() {
    let key = key_verdict(vec![write(1, 1, 0, 10), read(2, json!(4), 5, 30)]);
    assert_eq!(key.validity, Validity::Invalid);
    assert!(key.reason.as_deref().unwrap_or("").contains("read of 4"));
}

#[test]
fn concurrent_overlapping_history_is_valid() {
    // p1's write of 1 spans everything up to t=100; only by ordering it after p2's write
    // of 2 and before p5's cas do all the reads make sense.
    let ops = vec![
        write(1, 1, 0, 100),
        write(2, 2, 10, 50),
        read(3, json!(2), 20, 30),
        read(4, json!(1), 60, 70),
        cas(5, 1, 3, 65, 110),
        read(3, json!(3), 105, 120),
    ];
    assert_eq!(key_verdict(ops.clone()).validity, Validity::Valid);

    // Shrinking p1's write to end before p2's makes the read of 1 at t=60 stale.
    let mut shrunk = ops;
    shrunk[0] = write(1, 1, 0, 5);
    assert_eq!(key_verdict(shrunk).validity, Validity::Invalid);
}

#[test]
fn operations_that_touch_at_an_instant_are_concurrent() {
    // The write returns at the very nanosecond the read is invoked: either order is fine.
    let key = key_verdict(vec![
        write(1, 1, 0, 4),
        write(2, 2, 5, 20),
        read(3, json!(1), 20, 30),
    ]);
    assert_eq!(key.validity, Validity::Valid);
}

#[test]
fn completions_pair_with_their_own_process() {
    // p2 invokes first but answers last: its write spans [0, 100] and may follow p1's.
    // Pairing completions in arrival order instead would bound it at t=10 and make the
    // final read of 2 impossible.
    let key = key_verdict(vec![
        write(2, 2, 0, 100),
        write(1, 1, 5, 10),
        read(3, json!(1), 20, 30),
        read(3, json!(2), 110, 120),
    ]);
    assert_eq!(key.validity, Validity::Valid);
}

#[test]
fn info_write_may_take_effect_after_later_operations() {
    // The write of 2 timed out at t=30, but a read at t=60 sees it after a read at t=40
    // still saw 1: it took effect late, which an info op may.
    let late = |info_write: Vec<Event>| {
        key_verdict(vec![
            write(1, 1, 0, 10),
            info_write,
            read(3, json!(1), 40, 50),
            read(4, json!(2), 60, 70),
        ])
    };
    let info = completed_as(EventType::Info, write(2, 2, 20, 30));
    assert_eq!(late(info).validity, Validity::Valid);
    let no_answer_at_all = unanswered(write(2, 2, 20, 30));
    assert_eq!(late(no_answer_at_all).validity, Validity::Valid);
    // Had the same write been acknowledged at t=30, the read at t=40 would be stale.
    assert_eq!(late(write(2, 2, 20, 30)).validity, Validity::Invalid);
}

#[test]
fn info_cas_may_take_effect_late() {
    let key = key_verdict(vec![
        write(1, 1, 0, 10),
        completed_as(EventType::Info, cas(2, 1, 3, 20, 30)),
        read(3, json!(1), 40, 50),
        read(4, json!(3), 60, 70),
    ]);
    assert_eq!(key.validity, Validity::Valid);
}

#[test]
fn info_operations_that_never_took_effect_are_valid() {
    let key = key_verdict(vec![
        write(1, 1, 0, 10),
        completed_as(EventType::Info, write(2, 2, 20, 30)),
        unanswered(cas(3, 1, 4, 25, 35)),
        read(4, json!(1), 40, 50),
        read(4, json!(1), 60, 70),
    ]);
    assert_eq!(key.validity, Validity::Valid);
}

#[test]
fn info_operation_cannot_take_effect_before_its_invocation() {
    let key = key_verdict(vec![
        write(1, 1, 0, 10),
        read(3, json!(2), 20, 30),
        completed_as(EventType::Info, write(2, 2, 40, 50)),
    ]);
    assert_eq!(key.validity, Validity::Invalid);
}

#[test]
fn failed_operations_did_not_happen() {
    let failed_write = || completed_as(EventType::Fail, write(2, 2, 20, 30));
    let key = key_verdict(vec![
        write(1, 1, 0, 10),
        failed_write(),
        read(3, json!(2), 40, 50),
    ]);
    assert_eq!(key.validity, Validity::Invalid);

    let key = key_verdict(vec![
        write(1, 1, 0, 10),
        failed_write(),
        read(3, json!(1), 40, 50),
    ]);
    assert_eq!(key.validity, Validity::Valid);
    assert_eq!(key.op_count, 3, "failed ops still count as invoked");
}

#[test]
fn read_of_null_matches_any_state() {
    let key = key_verdict(vec![
        write(1, 1, 0, 10),
        read(2, Value::Null, 20, 30),
        cas(1, 1, 2, 40, 50),
        read(2, Value::Null, 60, 70),
    ]);
    assert_eq!(key.validity, Validity::Valid);
}

#[test]
fn every_function_needs_an_ok() {
    let report = check(
        &history(vec![write(1, 1, 0, 10), read(2, json!(1), 20, 30)]),
        BUDGET,
    );
    // No cas at all: cas does not occur, so it is not required.
    assert_eq!(report.keys[0].validity, Validity::Valid);
    assert_eq!(report.missing_ok, vec![]);
    assert_eq!(report.validity, Validity::Valid);

    // A failed cas occurs, and is no substitute for an ok one.
    let report = check(
        &history(vec![
            write(1, 1, 0, 10),
            read(2, json!(1), 20, 30),
            completed_as(EventType::Fail, cas(1, 2, 3, 40, 50)),
        ]),
        BUDGET,
    );
    assert_eq!(report.missing_ok, vec![OpFn::Cas]);
    assert_eq!(report.validity, Validity::Invalid);

    // Only functions that occur count, as in Jepsen's stats: no history, no demand.
    let empty = check(&[], BUDGET);
    assert_eq!(empty.missing_ok, vec![]);
    assert_eq!(empty.validity, Validity::Valid);
    // A cas invoked but never completed does not occur in the stats either.
    let report = check(
        &history(vec![
            write(1, 1, 0, 10),
            read(2, json!(1), 20, 30),
            unanswered(cas(3, 1, 2, 40, 50)),
        ]),
        BUDGET,
    );
    assert_eq!(report.missing_ok, vec![]);
    assert_eq!(report.validity, Validity::Valid);
    // The keys alone are valid even when the stats rule is not.
    let report = check(
        &history(vec![
            write(1, 1, 0, 10),
            completed_as(EventType::Info, read(2, json!(1), 20, 30)),
        ]),
        BUDGET,
    );
    assert_eq!(report.missing_ok, vec![OpFn::Read]);
    assert_eq!(
        (report.validity, report.keys_validity()),
        (Validity::Invalid, Validity::Valid)
    );
}

#[test]
fn merging_verdicts_follows_jepsen() {
    use Validity::*;
    assert_eq!(merge([]), Valid);
    assert_eq!(merge([Valid, Unknown, Valid]), Unknown);
    assert_eq!(merge([Unknown, Invalid, Valid]), Invalid);
}

#[test]
fn one_bad_key_makes_the_history_invalid() {
    let report = check(
        &history(vec![
            on_key(0, write(1, 1, 0, 10)),
            on_key(0, cas(1, 1, 2, 20, 30)),
            on_key(0, read(2, json!(2), 40, 50)),
            on_key(1, write(3, 1, 5, 15)),
            on_key(1, write(3, 2, 25, 35)),
            on_key(1, read(4, json!(1), 45, 55)),
            on_key(2, write(5, 4, 5, 15)),
            on_key(2, read(6, json!(4), 45, 55)),
        ]),
        BUDGET,
    );
    let verdicts: Vec<(Value, Validity)> = report
        .keys
        .iter()
        .map(|key| (key.key.clone(), key.validity))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            (json!(0), Validity::Valid),
            (json!(1), Validity::Invalid),
            (json!(2), Validity::Valid),
        ]
    );
    assert_eq!(report.validity, Validity::Invalid);
    assert!(report.keys[0].anomaly.is_empty());
    assert!(report.keys[1].anomaly.iter().all(|e| e.key == json!(1)));
}

#[test]
fn anomaly_window_shows_the_offending_read_and_what_it_contradicts() {
    let events = history(vec![
        write(1, 0, 0, 10),
        read(3, json!(0), 12, 18),
        write(1, 1, 20, 30),
        write(1, 2, 40, 50),
        read(3, json!(1), 60, 70),
        read(3, json!(2), 80, 90),
    ]);
    let key = &check(&events, BUDGET).keys[0];
    assert_eq!(key.validity, Validity::Invalid);

    let offending_read = &events[8..10];
    assert_eq!(offending_read[1].value, json!(1));
    for event in offending_read {
        assert!(key.anomaly.contains(event), "missing {event:?}");
    }
    // The write of 2 is what makes the read of 1 stale.
    assert!(key.anomaly.contains(&events[6]));
    assert!(
        key.anomaly.len() <= 6,
        "the window should stay small: {:#?}",
        key.anomaly
    );
    let reason = key.reason.as_deref().expect("a reason");
    assert!(reason.contains("read of 1"), "{reason}");
    assert!(reason.contains("register at 2"), "{reason}");
}

#[test]
fn anomaly_window_includes_concurrent_candidates() {
    // Two concurrent writes, then a read of a value neither wrote.
    let events = history(vec![
        write(1, 1, 0, 30),
        write(2, 2, 10, 40),
        read(3, json!(3), 20, 50),
    ]);
    let key = &check(&events, BUDGET).keys[0];
    assert_eq!(key.validity, Validity::Invalid);
    for event in &events {
        assert!(key.anomaly.contains(event), "missing {event:?}");
    }
}

#[test]
fn zero_budget_gives_unknown() {
    let events = linearizable_history(&Workload {
        seed: 7,
        clients: 10,
        operations: 2_000,
        keys: 1,
        info_probability: 0.01,
    });
    let report = check(&events, Duration::ZERO);
    assert_eq!(report.keys[0].validity, Validity::Unknown);
    assert!(report.keys[0].reason.is_some());
    assert!(report.missing_ok.is_empty());
    assert_eq!(report.validity, Validity::Unknown);
    assert_eq!(report.validity.exit_code(), 2);

    // A tiny key finishes before the clock is first read, so it still gets a verdict,
    // and an invalid key outranks an unknown one.
    let mut with_bad_key = events;
    with_bad_key.extend(on_key(9, read(1_000, json!(4), 0, 10)));
    let report = check(&with_bad_key, Duration::ZERO);
    let verdicts: Vec<Validity> = report.keys.iter().map(|key| key.validity).collect();
    assert_eq!(verdicts, vec![Validity::Unknown, Validity::Invalid]);
    assert_eq!(report.validity, Validity::Invalid);
    // As Jepsen's independent checker: only the invalid key is a failure, and the
    // unknown one says why under Knossos's `cause`.
    let json = report.to_json();
    assert_eq!(json["failures"], json!([9]));
    let unknown = &json["results"][report.keys[0].key.to_string()]["linearizable"];
    assert!(unknown["cause"].as_str().unwrap().contains("time budget"));
}

#[test]
fn report_json_has_the_results_shape() {
    let report = check(
        &history(vec![
            write(1, 1, 0, 10),
            write(1, 2, 20, 30),
            read(2, json!(1), 40, 50),
        ]),
        BUDGET,
    );
    let json = report.to_json();
    assert_eq!(json["valid?"], json!(false));
    // The stats rule (no cas here) is not the workload's business.
    assert!(json.get("missing-ok").is_none());
    assert_eq!(json["failures"], json!([0]));
    let key = &json["results"]["0"];
    assert_eq!(key["valid?"], json!(false));
    let linearizable = &key["linearizable"];
    assert_eq!(linearizable["valid?"], json!(false));
    assert_eq!(linearizable["op-count"], json!(3));
    assert!(linearizable["reason"].is_string());
    assert_eq!(linearizable["anomaly"][0]["type"], json!("invoke"));
    // Knossos's op: the read of 1 that could not be linearized, as completed.
    assert_eq!(linearizable["op"]["type"], json!("ok"));
    assert_eq!(linearizable["op"]["value"], json!(1));
    assert_eq!(linearizable["op"]["f"], json!("read"));
    assert_eq!(Validity::Unknown.to_json(), json!("unknown"));
    assert_eq!(Validity::Valid.to_json(), json!(true));
}

// ---- generated histories ---------------------------------------------------------------

#[test]
fn simulated_linearizable_histories_are_valid() {
    for seed in 0..20 {
        let events = linearizable_history(&Workload {
            seed,
            clients: 10,
            operations: 2_000,
            keys: 1 + seed % 3,
            info_probability: 0.02,
        });
        let report = check(&events, BUDGET);
        for key in &report.keys {
            assert_eq!(key.validity, Validity::Valid, "seed {seed}: {key:?}");
        }
    }
}

#[test]
fn simulated_history_with_one_corrupted_read_is_invalid() {
    // Proving a history invalid means exhausting every configuration before the anomaly;
    // infos multiply those, so this one is kept to a size a debug build checks quickly.
    let mut events = linearizable_history(&Workload {
        seed: 3,
        clients: 10,
        operations: 1_000,
        keys: 1,
        info_probability: 0.02,
    });
    let victim = events
        .iter()
        .rposition(|e| e.f == OpFn::Read && e.kind == EventType::Ok && e.time > 2_000_000_000)
        .expect("a late ok read");
    events[victim].value = json!(99);
    let key = &check(&events, BUDGET).keys[0];
    assert_eq!(key.validity, Validity::Invalid);
    assert!(key.anomaly.contains(&events[victim]));
    assert!(key.reason.as_deref().unwrap_or("").contains("read of 99"));
}

/// A healthy 60-second run at 1,000 ops/s on one key. Timing is printed, not asserted:
/// `cargo test --release -p harness --lib checker::tests::sixty -- --ignored --nocapture`.
#[test]
#[ignore = "slow in debug builds; run in release to see the timing"]
fn sixty_thousand_operations() {
    let events = linearizable_history(&Workload {
        seed: 60,
        clients: 10,
        operations: 60_000,
        keys: 1,
        info_probability: 0.005,
    });
    let infos = events.iter().filter(|e| e.kind == EventType::Info).count();
    let started = Instant::now();
    let report = check(&events, Duration::from_secs(60));
    let elapsed = started.elapsed();
    println!(
        "checked {} events ({} ops, {infos} info) spanning {:.1}s of history in {elapsed:?}",
        events.len(),
        report.keys[0].op_count,
        events.last().map_or(0, |e| e.time) as f64 / 1e9,
    );
    assert_eq!(
        report.validity,
        Validity::Valid,
        "{:?}",
        report.keys[0].reason
    );
}

// ---- cross-check against brute force ------------------------------------------------------

/// Every order of the ops that respects real time, tried exhaustively: completed ops
/// must all be placed, info ops may be placed or left out.
fn brute_force_linearizable(key: &KeyHistory) -> bool {
    fn extend(key: &KeyHistory, placed: &mut Vec<bool>, state: u32) -> bool {
        let ops = &key.operations;
        let all_completed_placed = ops
            .iter()
            .zip(placed.iter())
            .all(|(op, &done)| done || op.ret.is_none());
        if all_completed_placed {
            return true;
        }
        for candidate in 0..ops.len() {
            if placed[candidate] {
                continue;
            }
            // Something unplaced that returned before this was invoked must go first.
            let blocked = (0..ops.len()).any(|other| {
                !placed[other] && ops[other].ret.is_some_and(|ret| ret < ops[candidate].call)
            });
            if blocked {
                continue;
            }
            if let Some(after) = ops[candidate].action.apply(state) {
                placed[candidate] = true;
                let found = extend(key, placed, after);
                placed[candidate] = false;
                if found {
                    return true;
                }
            }
        }
        false
    }
    extend(key, &mut vec![false; key.operations.len()], NIL)
}

/// Small random histories, often not linearizable, with every kind of outcome.
fn random_small_history(rng: &mut StdRng) -> Vec<Event> {
    let mut events = Vec::new();
    let mut next_process = 3;
    for client in 0..3u64 {
        let mut process = client;
        let mut time = rng.gen_range(0..20);
        for _ in 0..rng.gen_range(1..=3) {
            let call = time + rng.gen_range(0..15);
            let ret = call + rng.gen_range(0..30);
            let mut ops = match rng.gen_range(0..3) {
                0 => read(process, json!(rng.gen_range(0..3)), call, ret),
                1 => write(process, rng.gen_range(0..3), call, ret),
                _ => cas(process, rng.gen_range(0..3), rng.gen_range(0..3), call, ret),
            };
            match rng.gen_range(0..10) {
                0 => ops[1].kind = EventType::Fail,
                1 => ops[1].kind = EventType::Info,
                2 => ops.truncate(1),
                3 if ops[0].f == OpFn::Read => ops[1].value = Value::Null,
                _ => {}
            }
            if ops.len() == 1 || ops[1].kind == EventType::Info {
                process = next_process;
                next_process += 1;
            }
            events.extend(ops);
            time = ret + 1;
        }
    }
    events.sort_by_key(|event| event.time);
    events
}

#[test]
fn agrees_with_brute_force_on_small_random_histories() {
    let mut rng = StdRng::seed_from_u64(42);
    let (mut valid, mut invalid) = (0, 0);
    for round in 0..3_000 {
        let events = random_small_history(&mut rng);
        let expected = split_by_key(&events)
            .first()
            .is_none_or(brute_force_linearizable);
        let got = check(&events, BUDGET)
            .keys
            .first()
            .map_or(Validity::Valid, |key| key.validity);
        let expected = if expected {
            valid += 1;
            Validity::Valid
        } else {
            invalid += 1;
            Validity::Invalid
        };
        assert_eq!(got, expected, "round {round}: {events:#?}");
    }
    // Both verdicts must be well represented for the comparison to mean anything.
    assert!(
        valid > 300 && invalid > 300,
        "valid {valid}, invalid {invalid}"
    );
}
