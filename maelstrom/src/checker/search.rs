//! Wing–Gong–Lowe search for one key, the algorithm behind Knossos' `wgl` and Porcupine.
//!
//! The operations' call and return events form one doubly linked list in time order. The
//! search walks it from the front: at a call it tries to linearize that operation next
//! (the model must allow it in the current state); on success the operation's call and
//! return are unlinked and the walk restarts from the front. Reaching a return means the
//! operation it belongs to had to be linearized before anything later and could not be:
//! undo the last choice and try the entry after it. All completed operations linearized
//! means the history is linearizable; undoing with nothing left means it is not.
//!
//! Info operations have no return event (their return is at +infinity), so they never
//! block the walk and the search never has to linearize them, which models "took effect
//! at some point after the invocation, or never".
//!
//! A configuration (register value, set of linearized operations) fully determines the
//! rest of the search, so each one is explored once: a memo of visited configurations
//! prunes every revisit, which is what keeps long histories tractable. The memo also
//! prunes configurations dominated by an explored one that linearized fewer info
//! operations; without that, every subset of the pending infos would be a distinct
//! configuration and proving a history with a few dozen infos invalid would never end.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use super::operations::{Action, KeyHistory, Operation, ValueId, NIL};

/// The list's sentinel: entry 0 is both its head and its end (the list is circular).
const HEAD: usize = 0;
/// Reading the clock costs more than a search step; look at it this often. The first look
/// comes only after this many steps, so a tiny key gets a verdict even with no budget.
const CLOCK_CHECK_INTERVAL: u64 = 1024;
/// How far down the linearization an anomaly report looks for the write that set the
/// register; bounded so that recording a failure stays cheap on huge histories.
const PATH_SCAN_LIMIT: usize = 256;

pub enum Outcome {
    Linearizable,
    NotLinearizable(Failure),
    TimedOut { configurations: usize },
}

/// The deepest point the search reached before it had to give up on a branch.
#[derive(Debug)]
pub struct Failure {
    /// The operation (index into the key's operations) that had to be linearized next
    /// and could not be.
    pub stuck: usize,
    /// The register's value at that point.
    pub state: ValueId,
    /// How many operations had been linearized.
    pub linearized: usize,
    /// Operations still unlinearized that were invoked before `stuck` returned; none of
    /// them could be placed before it either.
    pub pending: Vec<usize>,
    /// The end of the linearization at that point, in order: operations concurrent with
    /// the anomaly, preceded by the last write or cas that set the register.
    pub path_tail: Vec<usize>,
}

/// How an operation is accounted for in the set of linearized operations: a completed
/// one by its own bit (numbered in call order), an info one by its kind.
///
/// Info operations with the same action are interchangeable: one can be linearized in
/// a configuration only once every operation that returned before its invocation is
/// linearized, after which it has no constraint left. So two configurations with the same
/// register value and completed operations are the same problem if they linearized the
/// same number of infos of each kind, whichever ones they were.
#[derive(Clone, Copy)]
enum Slot {
    Completed(usize),
    Info(usize),
}

pub struct Search<'a> {
    operations: &'a [Operation],
    /// Circular doubly linked list of entries; entry 0 is the sentinel.
    next: Vec<usize>,
    prev: Vec<usize>,
    entry_op: Vec<usize>,
    entry_is_call: Vec<bool>,
    call_entry: Vec<usize>,
    return_entry: Vec<Option<usize>>,

    slots: Vec<Slot>,
    /// Linearized completed operations, numbered in call order.
    completed_bits: Vec<u64>,
    completed_total: usize,
    completed_linearized: usize,
    /// Every completed operation numbered below this is linearized. The search cannot
    /// linearize an operation invoked after the first unlinearized one returned, so the
    /// linearized ones above the prefix are few and the memo key stays short.
    prefix: usize,
    /// How many info operations of each kind (distinct action) are linearized.
    info_counts: Vec<u32>,

    /// Explored configurations: (register value, completed part of the set) -> the info
    /// counts explored with it, kept as an antichain under pointwise order.
    memo: Memo,
    memo_key: Vec<u64>,
    configurations: usize,
}

/// (register value, completed part of the linearized set) -> info counts explored with it.
type Memo = HashMap<Box<[u64]>, Vec<Box<[u32]>>, BuildHasherDefault<WordHasher>>;

/// One linearized operation on the search stack.
struct Frame {
    op: usize,
    state_before: ValueId,
    /// The pass it was linearized in, to resume the walk in the same pass.
    pass: Pass,
}

/// Each position of the walk is scanned twice: first for completed operations, then for
/// info operations. Trying infos last lets the memo's dominance rule (see
/// [`Search::remember`]) prune most branches that linearize them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Completed,
    Info,
}

impl<'a> Search<'a> {
    pub fn new(key: &'a KeyHistory) -> Self {
        let operations = &key.operations[..];
        let mut slots = Vec::with_capacity(operations.len());
        let mut completed_total = 0;
        let mut info_kinds: HashMap<Action, usize> = HashMap::new();
        for op in operations {
            if op.ret.is_some() {
                slots.push(Slot::Completed(completed_total));
                completed_total += 1;
            } else {
                let kinds = info_kinds.len();
                slots.push(Slot::Info(*info_kinds.entry(op.action).or_insert(kinds)));
            }
        }

        // (time, return?, op): on equal times calls go first, so operations that touch
        // only at an instant count as concurrent rather than ordered.
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * operations.len());
        for (index, op) in operations.iter().enumerate() {
            events.push((op.call, false, index));
            if let Some(ret) = op.ret {
                events.push((ret.max(op.call), true, index));
            }
        }
        events.sort_unstable();

        let entries = events.len() + 1;
        let mut entry_op = vec![usize::MAX; entries];
        let mut entry_is_call = vec![false; entries];
        let mut call_entry = vec![HEAD; operations.len()];
        let mut return_entry = vec![None; operations.len()];
        for (position, &(_, is_return, op)) in events.iter().enumerate() {
            let entry = position + 1;
            entry_op[entry] = op;
            entry_is_call[entry] = !is_return;
            if is_return {
                return_entry[op] = Some(entry);
            } else {
                call_entry[op] = entry;
            }
        }

        Search {
            operations,
            next: (0..entries).map(|e| (e + 1) % entries).collect(),
            prev: (0..entries).map(|e| (e + entries - 1) % entries).collect(),
            entry_op,
            entry_is_call,
            call_entry,
            return_entry,
            slots,
            completed_bits: vec![0; completed_total.div_ceil(64)],
            completed_total,
            completed_linearized: 0,
            prefix: 0,
            info_counts: vec![0; info_kinds.len()],
            memo: HashMap::default(),
            memo_key: Vec::new(),
            configurations: 0,
        }
    }

    pub fn run(mut self, budget: Duration) -> Outcome {
        let started = Instant::now();
        if self.completed_total == 0 {
            return Outcome::Linearizable;
        }
        let mut state = NIL;
        let mut stack: Vec<Frame> = Vec::new();
        let mut deepest: Option<Failure> = None;
        let mut entry = self.next[HEAD];
        let mut pass = Pass::Completed;
        let mut steps = 0u64;
        loop {
            if steps > 0
                && steps.is_multiple_of(CLOCK_CHECK_INTERVAL)
                && started.elapsed() >= budget
            {
                return Outcome::TimedOut {
                    configurations: self.configurations,
                };
            }
            steps += 1;
            // While a completed operation is unlinearized its return is still listed,
            // and the walk stops there before it can wrap around.
            assert_ne!(entry, HEAD, "walked past every return entry");
            let op = self.entry_op[entry];

            if self.entry_is_call[entry] {
                let in_pass = match self.slots[op] {
                    Slot::Completed(_) => pass == Pass::Completed,
                    Slot::Info(_) => pass == Pass::Info,
                };
                if let Some(after) = self.operations[op].action.apply(state).filter(|_| in_pass) {
                    self.mark(op);
                    if self.remember(after) {
                        stack.push(Frame {
                            op,
                            state_before: state,
                            pass,
                        });
                        state = after;
                        self.lift(op);
                        if self.completed_linearized == self.completed_total {
                            return Outcome::Linearizable;
                        }
                        entry = self.next[HEAD];
                        pass = Pass::Completed;
                        continue;
                    }
                    self.unmark(op);
                }
                entry = self.next[entry];
            } else if pass == Pass::Completed && !self.info_counts.is_empty() {
                pass = Pass::Info;
                entry = self.next[HEAD];
            } else {
                if deepest.as_ref().is_none_or(|d| stack.len() > d.linearized) {
                    deepest = Some(self.failure(op, state, &stack));
                }
                let Some(undone) = stack.pop() else {
                    let failure = deepest.expect("recorded just above");
                    return Outcome::NotLinearizable(failure);
                };
                state = undone.state_before;
                self.unmark(undone.op);
                self.unlift(undone.op);
                entry = self.next[self.call_entry[undone.op]];
                pass = undone.pass;
            }
        }
    }

    /// Unlinks the operation's entries from the list.
    fn lift(&mut self, op: usize) {
        self.unlink(self.call_entry[op]);
        if let Some(ret) = self.return_entry[op] {
            self.unlink(ret);
        }
    }

    /// Undoes [`Self::lift`]: relinking in the reverse order restores the list exactly,
    /// since lifts and unlifts nest like a stack.
    fn unlift(&mut self, op: usize) {
        if let Some(ret) = self.return_entry[op] {
            self.relink(ret);
        }
        self.relink(self.call_entry[op]);
    }

    fn unlink(&mut self, entry: usize) {
        let (prev, next) = (self.prev[entry], self.next[entry]);
        self.next[prev] = next;
        self.prev[next] = prev;
    }

    fn relink(&mut self, entry: usize) {
        let (prev, next) = (self.prev[entry], self.next[entry]);
        self.next[prev] = entry;
        self.prev[next] = entry;
    }

    fn mark(&mut self, op: usize) {
        match self.slots[op] {
            Slot::Completed(bit) => {
                self.completed_bits[bit / 64] |= 1 << (bit % 64);
                self.completed_linearized += 1;
                while self.prefix < self.completed_total && self.is_linearized(self.prefix) {
                    self.prefix += 1;
                }
            }
            Slot::Info(kind) => self.info_counts[kind] += 1,
        }
    }

    fn unmark(&mut self, op: usize) {
        match self.slots[op] {
            Slot::Completed(bit) => {
                self.completed_bits[bit / 64] &= !(1 << (bit % 64));
                self.completed_linearized -= 1;
                self.prefix = self.prefix.min(bit);
            }
            Slot::Info(kind) => self.info_counts[kind] -= 1,
        }
    }

    fn is_linearized(&self, completed: usize) -> bool {
        self.completed_bits[completed / 64] & (1 << (completed % 64)) != 0
    }

    /// Records the configuration (`state`, current linearized set) unless an explored
    /// one dominates it; false means "prune".
    ///
    /// (s, S) dominates (s, S') when S' is S plus info operations (counted per kind, see
    /// [`Slot`]): infos never have to be linearized, so every way to finish from (s, S')
    /// also finishes from (s, S). This also holds when (s, S) is still being explored
    /// higher up the stack, since that exploration covers everything (s, S') can reach.
    ///
    /// The completed part of the key is canonical and short: register value and prefix
    /// length, then the bit words from the prefix up to the last linearized completed
    /// operation.
    fn remember(&mut self, state: ValueId) -> bool {
        let key = &mut self.memo_key;
        key.clear();
        key.push(u64::from(state) | (self.prefix as u64) << 32);
        let mut above_prefix = self.completed_linearized - self.prefix;
        let mut word = self.prefix / 64;
        let mut skip_low_bits = self.prefix % 64;
        while above_prefix > 0 {
            let bits = self.completed_bits[word];
            key.push(bits);
            above_prefix -= (bits >> skip_low_bits).count_ones() as usize;
            skip_low_bits = 0;
            word += 1;
        }

        let infos = &self.info_counts[..];
        match self.memo.get_mut(key.as_slice()) {
            Some(explored) => {
                if explored.iter().any(|seen| at_most(seen, infos)) {
                    return false;
                }
                explored.retain(|seen| !at_most(infos, seen));
                explored.push(infos.into());
            }
            None => {
                self.memo.insert(key.as_slice().into(), vec![infos.into()]);
            }
        }
        self.configurations += 1;
        true
    }

    /// Describes the dead end at the return of `stuck`.
    fn failure(&self, stuck: usize, state: ValueId, stack: &[Frame]) -> Failure {
        let mut pending = Vec::new();
        let mut entry = self.next[HEAD];
        while Some(entry) != self.return_entry[stuck] {
            let op = self.entry_op[entry];
            if self.entry_is_call[entry] && op != stuck {
                pending.push(op);
            }
            entry = self.next[entry];
        }

        let window_start = pending
            .iter()
            .map(|&op| &self.operations[op])
            .filter(|op| op.ret.is_some())
            .chain([&self.operations[stuck]])
            .map(|op| op.call)
            .min()
            .unwrap_or(0);
        let mut path_tail = Vec::new();
        for &Frame { op, .. } in stack.iter().rev().take(PATH_SCAN_LIMIT) {
            let operation = &self.operations[op];
            if operation.ret.is_none_or(|ret| ret >= window_start) {
                path_tail.push(op);
            } else if !matches!(operation.action, Action::Read(_)) {
                path_tail.push(op);
                break;
            }
        }
        path_tail.reverse();

        Failure {
            stuck,
            state,
            linearized: stack.len(),
            pending,
            path_tail,
        }
    }
}

/// Pointwise `small <= large`: multiset inclusion of info counts.
fn at_most(small: &[u32], large: &[u32]) -> bool {
    small.iter().zip(large).all(|(s, l)| s <= l)
}

/// A fast multiplicative hasher for the memo's word slices (the default SipHash costs
/// more than the rest of a search step).
#[derive(Default)]
pub struct WordHasher(u64);

impl WordHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
        }
        for &byte in chunks.remainder() {
            self.mix(u64::from(byte));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.mix(word);
    }

    fn write_usize(&mut self, word: usize) {
        self.mix(word as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
