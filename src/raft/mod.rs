mod entry;
pub use entry::{Entry, EntryData, Index, NodeId, Term};
