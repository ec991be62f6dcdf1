//! Two CPU-bound nodes, each about 10 ms of work: joined in the workflow's task (they run one
//! after the other) against marked `#[node(spawn)]` (each its own task, so on a multi-thread
//! runtime with two workers they run at once). On a 2-core machine the spawned pair should
//! take about half the time of the joined pair.
//!
//! ```text
//! cargo bench -p flow-runtime --bench spawn
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use flow_runtime::{node, workflow};
use std::hint::black_box;

/// How much work each node does (iterations of a hash-like mix).
#[derive(Clone)]
pub struct Work(pub u64);
pub struct Left(pub u64);
pub struct Right(pub u64);
pub struct Sum(pub u64);

fn crunch(seed: u64, n: u64) -> u64 {
    let mut x = seed;
    for i in 0..n {
        x = x.rotate_left(5) ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
    x
}

#[node]
async fn left(w: &Work) -> Left {
    Left(crunch(1, black_box(w.0)))
}
#[node]
async fn right(w: &Work) -> Right {
    Right(crunch(2, black_box(w.0)))
}
#[node(spawn)]
async fn left_spawned(w: &Work) -> Left {
    Left(crunch(1, black_box(w.0)))
}
#[node(spawn)]
async fn right_spawned(w: &Work) -> Right {
    Right(crunch(2, black_box(w.0)))
}
#[node]
async fn sum(l: &Left, r: &Right) -> Sum {
    Sum(l.0 ^ r.0)
}

#[workflow(left, right, sum)]
pub async fn joined(w: Work) -> Sum;

#[workflow(left_spawned, right_spawned, sum)]
pub async fn spawned(w: Work) -> Sum;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // About 10 ms per node on a current x86_64 core.
    let work = Work(8_000_000);
    let a = rt.block_on(joined(work.clone())).unwrap().0;
    let b = rt.block_on(spawned(work.clone())).unwrap().0;
    assert_eq!(a, b, "both forms compute the same result");

    let mut group = c.benchmark_group("two_cpu_bound_nodes");
    group.sample_size(20);
    group.bench_function("joined_in_one_task", |b| {
        b.to_async(&rt).iter(|| joined(work.clone()))
    });
    group.bench_function("spawn", |b| b.to_async(&rt).iter(|| spawned(work.clone())));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
