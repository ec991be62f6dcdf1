//! Overhead of generated workflows against hand-written `tokio::join!` code doing the same
//! work, on three shapes with trivial node bodies: a diamond of 4, a chain of 100 and a
//! fan-out of 1 → 100 → 1. Both sides of each pair run in the same process and runtime.
//!
//! ```text
//! cargo bench -p flow-runtime --bench overhead
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

mod shapes;

use shapes::{chain100, diamond, fan100};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");

    // Both sides must compute the same thing.
    rt.block_on(async {
        assert_eq!(
            diamond::generated(diamond::In(1)).await.unwrap().0,
            diamond::hand_written(diamond::In(1)).await.0
        );
        assert_eq!(
            chain100::generated(chain100::In(1)).await.unwrap().0,
            chain100::hand_written(chain100::In(1)).await.0
        );
        assert_eq!(
            fan100::generated(fan100::In(1)).await.unwrap().0,
            fan100::hand_written(fan100::In(1)).await.0
        );
    });

    let mut g = c.benchmark_group("diamond_4");
    g.bench_function("hand_written", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(diamond::hand_written(diamond::In(black_box(1))).await) })
    });
    g.bench_function("flow", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(diamond::generated(diamond::In(black_box(1))).await) })
    });
    // The same run, its output unwrapped as a caller's `?` would: `black_box` then takes the
    // 8-byte output, as on the hand-written side, instead of the 16-byte `Result`.
    g.bench_function("flow_unwrapped", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                diamond::generated(diamond::In(black_box(1)))
                    .await
                    .expect("the diamond does not fail"),
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("chain_100");
    g.bench_function("hand_written", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(chain100::hand_written(chain100::In(black_box(1))).await) })
    });
    g.bench_function("flow", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(chain100::generated(chain100::In(black_box(1))).await) })
    });
    g.finish();

    let mut g = c.benchmark_group("fan_out_1_100_1");
    g.bench_function("hand_written", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(fan100::hand_written(fan100::In(black_box(1))).await) })
    });
    g.bench_function("flow", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(fan100::generated(fan100::In(black_box(1))).await) })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
