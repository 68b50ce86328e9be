//! Filled in by the checker work.
