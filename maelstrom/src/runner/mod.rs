//! Filled in by the runner work.
