//! harness: a Maelstrom-compatible test runner for the lin-kv workload.
//!
//! - [`history`]: the event files a run writes.
//! - [`checker`]: per-key linearizability of a compare-and-set register.
//! - [`plot`]: latency and throughput pictures, faults shaded, membership changes marked.
//! - [`runner`]: processes, simulated network, clients, nemesis, results.

pub mod checker;
pub mod history;
pub mod plot;
pub mod runner;
