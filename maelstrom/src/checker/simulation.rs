//! Test-only generator of histories that are linearizable by construction: concurrent
//! clients run against registers that apply each operation atomically at a random
//! instant inside its call–return interval, shaped like Maelstrom's lin-kv workload.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::history::{Event, EventType, OpFn};

const MILLISECOND: u64 = 1_000_000;
/// Maelstrom's client timeout with default latency: after it an op is recorded as info.
const CLIENT_TIMEOUT: u64 = 1_000 * MILLISECOND;

pub struct Workload {
    pub seed: u64,
    pub clients: u64,
    /// Invocations to generate in total.
    pub operations: usize,
    pub keys: u64,
    /// Chance that an op gets no answer and is recorded as info after the timeout.
    pub info_probability: f64,
}

struct Planned {
    process: u64,
    f: OpFn,
    key: u64,
    /// write: the value; cas: [from, to]; read: null.
    argument: Value,
    call: u64,
    ret: u64,
    answered: bool,
    /// When the register applies it; `None` for an unanswered op that never took effect.
    effect: Option<u64>,
}

/// A linearizable history: half the clients only read, the others write (1/3) or cas
/// (2/3) values 0..=4. Unanswered ops take effect with probability 1/2, at any instant
/// up to half a second after their timeout, or never.
pub fn linearizable_history(workload: &Workload) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(workload.seed);
    let mut planned = plan(workload, &mut rng);
    let outcomes = apply_in_effect_order(&planned, workload.keys);

    let mut events = Vec::with_capacity(2 * planned.len());
    for (op, outcome) in planned.drain(..).zip(outcomes) {
        let event = |kind, value, time| Event {
            process: op.process,
            kind,
            f: op.f,
            key: json!(op.key),
            value,
            time,
            node: format!("n{}", op.process % 3),
            error: None,
        };
        events.push(event(EventType::Invoke, op.argument.clone(), op.call));
        let completion = match outcome {
            _ if !op.answered => event(EventType::Info, op.argument.clone(), op.ret),
            Applied::Read(Value::Null) => Event {
                error: Some((20, "key does not exist".into())),
                ..event(EventType::Fail, Value::Null, op.ret)
            },
            Applied::Read(seen) => event(EventType::Ok, seen, op.ret),
            Applied::Done => event(EventType::Ok, op.argument.clone(), op.ret),
            Applied::Refused => Event {
                error: Some((22, "precondition failed".into())),
                ..event(EventType::Fail, op.argument.clone(), op.ret)
            },
        };
        events.push(completion);
    }
    events.sort_by_key(|event| event.time);
    events
}

fn plan(workload: &Workload, rng: &mut StdRng) -> Vec<Planned> {
    let mut next_process = workload.clients;
    let mut processes: Vec<u64> = (0..workload.clients).collect();
    let mut free_at: Vec<u64> = (0..workload.clients)
        .map(|_| rng.gen_range(0..MILLISECOND))
        .collect();
    let mut planned = Vec::with_capacity(workload.operations);
    while planned.len() < workload.operations {
        // The client that is free first invokes next, so calls come out in time order.
        let client = (0..workload.clients as usize)
            .min_by_key(|&c| free_at[c])
            .expect("at least one client");
        let call = free_at[client] + rng.gen_range(0..8 * MILLISECOND);
        let reader = (client as u64) < workload.clients / 2;
        let (f, argument) = match rng.gen_range(0..3) {
            _ if reader => (OpFn::Read, Value::Null),
            0 => (OpFn::Write, json!(rng.gen_range(0..5))),
            _ => (OpFn::Cas, json!([rng.gen_range(0..5), rng.gen_range(0..5)])),
        };
        let answered = !rng.gen_bool(workload.info_probability);
        let (ret, effect) = if answered {
            let ret = call + rng.gen_range(MILLISECOND / 2..12 * MILLISECOND);
            (ret, Some(rng.gen_range(call..=ret)))
        } else {
            let ret = call + CLIENT_TIMEOUT;
            let effect = rng
                .gen_bool(0.5)
                .then(|| rng.gen_range(call..ret + CLIENT_TIMEOUT / 2));
            (ret, effect)
        };
        planned.push(Planned {
            process: processes[client],
            f,
            key: rng.gen_range(0..workload.keys),
            argument,
            call,
            ret,
            answered,
            effect,
        });
        free_at[client] = ret;
        if !answered {
            // Jepsen gives the client a fresh process after an info.
            processes[client] = next_process;
            next_process += 1;
        }
    }
    planned
}

enum Applied {
    Read(Value),
    Done,
    Refused,
}

/// Runs every op that takes effect against its key's register in effect order.
fn apply_in_effect_order(planned: &[Planned], keys: u64) -> Vec<Applied> {
    let mut registers = vec![Value::Null; keys as usize];
    let mut outcomes: Vec<Applied> = planned.iter().map(|_| Applied::Refused).collect();
    let mut order: Vec<usize> = (0..planned.len())
        .filter(|&i| planned[i].effect.is_some())
        .collect();
    order.sort_by_key(|&i| planned[i].effect);
    for index in order {
        let op = &planned[index];
        let register = &mut registers[op.key as usize];
        outcomes[index] = match op.f {
            OpFn::Read => Applied::Read(register.clone()),
            OpFn::Write => {
                *register = op.argument.clone();
                Applied::Done
            }
            OpFn::Cas if *register == op.argument[0] => {
                *register = op.argument[1].clone();
                Applied::Done
            }
            OpFn::Cas => Applied::Refused,
        };
    }
    outcomes
}
