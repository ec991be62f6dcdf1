//! Nodes in another crate.
