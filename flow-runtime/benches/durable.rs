//! What a durable run costs: a run journaled in an SQLite store against the same workflow
//! run in memory, and the journal's cost per node against the floor, a bare single-row
//! SQLite transaction in the same process and mode (WAL, `synchronous = NORMAL`).
//!
//! ```text
//! cargo bench -p flow-runtime --bench durable
//! ```
//!
//! Per node: `(chain_20 - chain_1) / 19`, where each chain is a fresh run (a new run id per
//! iteration), so the run's own start and end cancel out.

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use flow_runtime::store::{Entry, EntryKind, SqliteStore, Store};
use flow_runtime::{RunOptions, node, workflow};
use serde::{Deserialize, Serialize};

macro_rules! chain {
    ($($from:ident -> $node:ident -> $to:ident),* $(,)?) => {
        $(
            #[derive(Serialize, Deserialize)]
            pub struct $to(u64);

            #[node]
            async fn $node(x: &$from) -> $to {
                $to(x.0 + 1)
            }
        )*
    };
}

#[derive(Serialize, Deserialize)]
pub struct S0(u64);

chain!(
    S0 -> n1 -> S1, S1 -> n2 -> S2, S2 -> n3 -> S3, S3 -> n4 -> S4, S4 -> n5 -> S5,
    S5 -> n6 -> S6, S6 -> n7 -> S7, S7 -> n8 -> S8, S8 -> n9 -> S9, S9 -> n10 -> S10,
    S10 -> n11 -> S11, S11 -> n12 -> S12, S12 -> n13 -> S13, S13 -> n14 -> S14,
    S14 -> n15 -> S15, S15 -> n16 -> S16, S16 -> n17 -> S17, S17 -> n18 -> S18,
    S18 -> n19 -> S19, S19 -> n20 -> S20,
);

#[workflow(n1, durable)]
pub async fn chain_1(x: S0) -> S1;

#[workflow(
    n1, n2, n3, n4, n5, n6, n7, n8, n9, n10, n11, n12, n13, n14, n15, n16, n17, n18, n19, n20,
    durable
)]
pub async fn chain_20(x: S0) -> S20;

#[node]
async fn spread(n: &u64) -> Vec<u64> {
    (0..*n).collect()
}

#[derive(Serialize, Deserialize)]
pub struct Square(u64);

#[node]
async fn square(x: &u64) -> Square {
    Square(x * x)
}

#[derive(Serialize, Deserialize)]
pub struct Sum(u64);

#[node]
async fn sum(xs: &[Square]) -> Sum {
    Sum(xs.iter().map(|s| s.0).sum())
}

#[workflow(spread, map(square), sum, durable)]
pub async fn fan_100(n: u64) -> Sum;

static NEXT: AtomicU64 = AtomicU64::new(0);

fn id() -> String {
    format!("bench-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("flow-bench-durable-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let store = SqliteStore::open(dir.join("runs.db")).expect("store");

    let mut g = c.benchmark_group("journal");
    // The floor: one committed single-row transaction, WAL + NORMAL, as the store uses.
    let conn = rusqlite::Connection::open(dir.join("floor.db")).expect("floor db");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL);",
    )
    .expect("floor schema");
    let mut k = 0i64;
    g.bench_function("bare_transaction", |b| {
        b.iter(|| {
            k += 1;
            conn.execute_batch("BEGIN").unwrap();
            conn.prepare_cached("INSERT INTO t (k, v) VALUES (?1, ?2)")
                .unwrap()
                .execute([k, k])
                .unwrap();
            conn.execute_batch("COMMIT").unwrap();
        })
    });
    g.bench_function("chain_1/durable", |b| {
        b.to_async(&rt).iter(|| async {
            chain_1::run(RunOptions::new().run_id(id()).store(&store), S0(1))
                .await
                .unwrap()
        })
    });
    g.bench_function("chain_20/durable", |b| {
        b.to_async(&rt).iter(|| async {
            chain_20::run(RunOptions::new().run_id(id()).store(&store), S0(1))
                .await
                .unwrap()
        })
    });
    g.bench_function("chain_20/in_memory", |b| {
        b.to_async(&rt)
            .iter(|| async { chain_20::run(RunOptions::new(), S0(1)).await.unwrap() })
    });
    g.bench_function("fan_100/durable", |b| {
        b.to_async(&rt).iter(|| async {
            fan_100::run(RunOptions::new().run_id(id()).store(&store), 100)
                .await
                .unwrap()
        })
    });
    g.bench_function("fan_100/in_memory", |b| {
        b.to_async(&rt)
            .iter(|| async { fan_100::run(RunOptions::new(), 100).await.unwrap() })
    });
    // One node's entry through the store alone: the SQL part of a node's journal cost.
    let mut element = 0usize;
    g.bench_function("store_append", |b| {
        b.iter(|| {
            element += 1;
            let now = std::time::SystemTime::now();
            let entry = Entry {
                node: "n7".into(),
                element: Some(element),
                kind: EntryKind::Completed,
                seq: element as u32,
                payload: Some("8".into()),
                started: now,
                ended: now,
            };
            Store::append(&store, "append", &[entry]).unwrap();
        })
    });

    g.finish();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
