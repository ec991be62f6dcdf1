//! Mapping a trivial async fn over 100 000 items with at most 64 in flight: a workflow's
//! `map(node, concurrency = 64)` against the same work written with
//! `futures::stream::iter(..).map(..).buffered(64).collect()`.
//!
//! ```text
//! cargo bench -p flow-runtime --bench map
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use flow_runtime::{node, workflow};
use futures_util::StreamExt;
use std::hint::black_box;

pub struct Doubled(pub u64);

async fn double_by_hand(x: &u64) -> Doubled {
    Doubled(black_box(*x) * 2)
}

#[node]
async fn double(x: &u64) -> Doubled {
    Doubled(black_box(*x) * 2)
}

#[workflow(map(double, concurrency = 64))]
pub async fn double_all(xs: &[u64]) -> Vec<Doubled>;

async fn buffered(xs: &[u64]) -> Vec<Doubled> {
    futures_util::stream::iter(xs)
        .map(double_by_hand)
        .buffered(64)
        .collect()
        .await
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let xs: Vec<u64> = (0..100_000).collect();
    let a = rt.block_on(double_all(&xs)).unwrap();
    let b = rt.block_on(buffered(&xs));
    assert!(
        a.iter().zip(&b).all(|(a, b)| a.0 == b.0) && a.len() == b.len(),
        "both forms compute the same result"
    );

    let mut group = c.benchmark_group("map_100k_concurrency_64");
    group.bench_function("buffered_64_by_hand", |b| {
        b.to_async(&rt).iter(|| buffered(&xs))
    });
    group.bench_function("workflow_map", |b| b.to_async(&rt).iter(|| double_all(&xs)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
