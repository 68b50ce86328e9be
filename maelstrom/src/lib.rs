//! harness: a Maelstrom-compatible test runner for the lin-kv workload.
//!
//! - [`history`]: the event files a run writes.
//! - [`checker`]: per-key linearizability of a compare-and-set register.
//! - [`plot`]: latency, latency-quantile and throughput pictures, faults shaded and
//!   membership changes marked, and the HTML timeline of every operation.
//! - [`runner`]: processes, simulated network, clients, nemesis, results.

pub mod checker;
pub mod history;
pub mod plot;
pub mod runner;
