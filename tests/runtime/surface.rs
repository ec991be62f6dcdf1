//! The names a user reaches for first: where they live and what they return.

use std::sync::{Arc, Mutex};

use flow_runtime::{Recorder, RunContext, RunOptions, node, workflow};

pub struct Seed(u32);
#[derive(Debug)]
pub struct Named(String);

#[node]
async fn named(seed: &Seed, ctx: &RunContext) -> Result<Named, String> {
    // The node and the workflow are both named by `&str`; the node's description is
    // `node_info()`.
    let (wf, node): (&str, &str) = (ctx.workflow(), ctx.node());
    assert_eq!(ctx.node_info().name(), node);
    assert_eq!(ctx.node_info().fn_name(), "named");
    if seed.0 == 0 {
        return Err("zero".into());
    }
    Ok(Named(format!("{wf}/{node}")))
}

#[workflow(named)]
pub async fn naming(seed: Seed) -> Named;

#[tokio::test]
async fn a_closure_observer_needs_no_annotation_and_the_recorder_is_at_the_root() {
    let kinds = Arc::new(Mutex::new(Vec::new()));
    let seen = kinds.clone();
    let recorder = Recorder::new();
    let out = naming::run(
        RunOptions::new().on_event(move |e| seen.lock().unwrap().push(e.kind.name())),
        Seed(1),
    )
    .await
    .unwrap();
    assert_eq!(out.0, "naming/named");
    assert_eq!(
        *kinds.lock().unwrap(),
        [
            "run_started",
            "node_started",
            "node_finished",
            "run_finished"
        ]
    );
    naming::run(RunOptions::new().observe(recorder.clone()), Seed(2))
        .await
        .unwrap();
    assert_eq!(recorder.events().len(), 4);
}

#[tokio::test]
async fn errors_name_their_node_as_contexts_do() {
    let err = naming(Seed(0)).await.unwrap_err();
    assert_eq!(err.workflow(), "naming");
    assert_eq!(err.node(), Some("named"));
    assert_eq!(err.node_info().map(|n| n.fn_name()), Some("named"));
}
