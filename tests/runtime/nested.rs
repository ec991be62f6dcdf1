//! Sub-workflows: a workflow listed as a node of another, its inputs and output typed the
//! same way, with fan-out at every level.

use crate::common::*;
use flow_runtime::{ErrorKind, node, workflow};
use tokio::sync::Barrier;

pub struct Meet {
    /// Two parties: one node deep inside the innermost workflow, one in the outermost.
    pub barrier: Barrier,
    pub fail_leaf: bool,
}

pub mod inner {
    //! Level 3: a fan-out of two leaves joined.
    use super::*;

    pub struct Seed(pub u32);
    pub struct LeafA(pub u32);
    pub struct LeafB(pub u32);
    #[derive(Debug, PartialEq)]
    pub struct Leaves(pub u32);

    #[node]
    async fn leaf_a(meet: &Meet, seed: &Seed) -> Result<LeafA, String> {
        // Waits for the outermost workflow's `signal` node: both run at once, or neither
        // finishes.
        meet.barrier.wait().await;
        if meet.fail_leaf {
            return Err("leaf a broke".into());
        }
        Ok(LeafA(seed.0 + 1))
    }
    #[node]
    async fn leaf_b(seed: &Seed) -> LeafB {
        sleep_ms(5).await;
        LeafB(seed.0 * 10)
    }
    #[node]
    async fn leaves(a: &LeafA, b: &LeafB) -> Leaves {
        Leaves(a.0 + b.0)
    }

    #[workflow(leaf_a, leaf_b, leaves)]
    pub async fn grow(meet: &Meet, seed: Seed) -> Leaves;
}

pub mod middle {
    //! Level 2: the inner workflow beside a sibling node, joined.
    use super::inner::{Leaves, Seed, grow};
    use super::*;

    pub struct Start(pub u32);
    pub struct Side(pub u32);
    #[derive(Debug, PartialEq)]
    pub struct Branch(pub u32);

    #[node]
    async fn seed(start: &Start) -> Seed {
        Seed(start.0)
    }
    #[node]
    async fn side(start: &Start) -> Side {
        sleep_ms(7).await;
        Side(start.0 + 100)
    }
    #[node]
    async fn branch(l: &Leaves, s: &Side) -> Branch {
        Branch(l.0 + s.0)
    }

    #[workflow(seed, grow, side, branch)]
    pub async fn tree(meet: &Meet, start: Start) -> Branch;
}

mod outer {
    //! Level 1: the middle workflow beside a node that meets the innermost leaf.
    use super::middle::{Branch, Start, tree};
    use super::*;

    pub struct Signal;
    #[derive(Debug, PartialEq)]
    pub struct Forest(pub u32);

    #[node]
    async fn start(n: &u32) -> Start {
        Start(*n)
    }
    #[node]
    async fn signal(meet: &Meet) -> Signal {
        meet.barrier.wait().await;
        Signal
    }
    #[node]
    async fn forest(b: &Branch, _s: &Signal) -> Forest {
        Forest(b.0)
    }

    #[workflow(start, tree, signal, forest)]
    pub async fn woods(meet: &Meet, n: u32) -> Forest;
}

#[tokio::test(start_paused = true)]
async fn nested_fan_out_runs_concurrently_at_every_depth() {
    let meet = Meet {
        barrier: Barrier::new(2),
        fail_leaf: false,
    };
    let start = tokio::time::Instant::now();
    let forest = outer::woods(&meet, 2).await.unwrap();
    // leaves = (2 + 1) + 2 * 10 = 23; branch = 23 + 102.
    assert_eq!(forest, outer::Forest(125));
    // The longest path: side (7 ms) beside grow (5 ms).
    assert_eq!(start.elapsed(), ms(7));
}

#[tokio::test(start_paused = true)]
async fn a_sub_workflow_is_still_a_workflow() {
    let meet = Meet {
        barrier: Barrier::new(1),
        fail_leaf: false,
    };
    assert_eq!(
        inner::grow(&meet, inner::Seed(1)).await.unwrap(),
        inner::Leaves(12)
    );
    assert_eq!(
        middle::tree(&meet, middle::Start(1)).await.unwrap(),
        middle::Branch(113)
    );
    // Its graph lists the sub-workflow as a node.
    let graph = middle::tree::graph();
    let names: Vec<&str> = graph.nodes().iter().map(|n| n.name()).collect();
    assert_eq!(names, ["seed", "grow", "side", "branch"]);
}

#[tokio::test(start_paused = true)]
async fn a_failure_deep_inside_ends_every_level() {
    let meet = Meet {
        barrier: Barrier::new(2),
        fail_leaf: true,
    };
    let err = outer::woods(&meet, 2).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NodeFailed);
    assert_eq!(err.workflow(), "grow");
    assert_eq!(err.node_name(), Some("leaf_a"));
}

mod mapped {
    //! A sub-workflow mapped over a collection: nested fan-out per element.
    use super::*;

    pub struct Doubled(pub u64);
    pub struct Tripled(pub u64);
    #[derive(Debug, PartialEq)]
    pub struct Both(pub u64);

    #[node]
    async fn double(x: &u64) -> Doubled {
        sleep_ms(10).await;
        Doubled(x * 2)
    }
    #[node]
    async fn triple(x: &u64) -> Tripled {
        sleep_ms(10).await;
        Tripled(x * 3)
    }
    #[node]
    async fn both(d: &Doubled, t: &Tripled) -> Both {
        Both(d.0 + t.0)
    }

    #[workflow(double, triple, both)]
    pub async fn five_times(x: u64) -> Both;

    #[workflow(map(five_times, concurrency = 10))]
    pub async fn all_five_times(xs: Vec<u64>) -> Vec<Both>;
}

#[tokio::test(start_paused = true)]
async fn a_sub_workflow_can_be_mapped() {
    let start = tokio::time::Instant::now();
    let out = mapped::all_five_times((0..20).collect()).await.unwrap();
    assert_eq!(
        out,
        (0..20).map(|x| mapped::Both(x * 5)).collect::<Vec<_>>()
    );
    // Two waves of ten elements; inside each, double and triple side by side.
    assert_eq!(start.elapsed(), ms(20));
}

/// Workflows with every shape are `Send` (they can be spawned), through `run` too.
#[test]
fn every_shape_is_send() {
    fn assert_send<F: Send>(_: &F) {}
    let meet = Meet {
        barrier: Barrier::new(2),
        fail_leaf: false,
    };
    assert_send(&outer::woods(&meet, 1));
    assert_send(&outer::woods::run(
        flow_runtime::RunOptions::new(),
        &meet,
        1,
    ));
    assert_send(&mapped::all_five_times(vec![1]));
    assert_send(&mapped::all_five_times::run(
        flow_runtime::RunOptions::new(),
        vec![1],
    ));
    let kinds = crate::collect::conditional::Kinds(&[]);
    assert_send(&crate::collect::conditional::gather::run(
        flow_runtime::RunOptions::new(),
        kinds,
    ));
    let p = crate::collect::racing::Plan {
        mirrors: [(0, false); 3],
        started: Counter::default(),
        dropped: Counter::default(),
        after: Counter::default(),
    };
    assert_send(&crate::collect::racing::load::run(
        flow_runtime::RunOptions::new(),
        &p,
    ));
    let doc = crate::branches::routing::Doc {
        kinds: &[],
        calls: Default::default(),
    };
    assert_send(&crate::branches::routing::analyse::run(
        flow_runtime::RunOptions::new(),
        &doc,
    ));
    let fail_probe = crate::maps::Probe::default();
    assert_send(&crate::maps::failing::keep_going::run(
        flow_runtime::RunOptions::new(),
        &fail_probe,
        crate::maps::failing::Input(vec![]),
    ));
}
