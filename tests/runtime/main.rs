//! Integration tests of the runtime contract of generated workflows.

mod common;
mod errors;
mod failures;
mod metadata;
mod modules;
mod policies;
mod scheduling;
