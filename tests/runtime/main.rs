//! Integration tests of the runtime contract of generated workflows.

mod branches;
mod common;
mod errors;
mod failures;
mod metadata;
mod modules;
mod policies;
mod scheduling;
