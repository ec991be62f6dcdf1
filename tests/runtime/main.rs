//! Integration tests of the runtime contract of generated workflows.

mod branches;
mod collect;
mod common;
mod contract;
mod defaults;
mod errors;
mod failures;
mod limits;
mod maps;
mod metadata;
mod modules;
mod nested;
mod observe;
mod ordering;
mod outputs;
mod policies;
mod scheduling;
mod surface;
mod tolerated;
