//! A fixed number of runs of one workflow of the overhead benchmarks, generated or
//! hand-written, for an instruction counter. Instruction counts do not move with the load on
//! the machine, so they show differences of a few instructions per run that wall-clock
//! timings cannot:
//!
//! ```text
//! cargo bench -p flow-runtime --bench instructions --no-run
//! valgrind --tool=callgrind target/release/deps/instructions-<hash> diamond flow
//! valgrind --tool=callgrind target/release/deps/instructions-<hash> diamond hand
//! ```
//!
//! Each run is awaited in one task (as criterion's async iteration does); divide the total
//! by the number of runs (20 000 unless a third argument says otherwise). Under
//! `cargo bench` every pair runs once, checking that both sides compute the same thing.

use std::hint::black_box;

mod shapes;

use shapes::{chain100, diamond, fan100};

/// Runs `shape` (`diamond`, `chain`, `fan`) `runs` times, generated (`flow`) or hand-written
/// (`hand`); the sum of the outputs, or `None` for an unknown shape or side.
async fn run(shape: &str, side: &str, runs: u64) -> Option<u64> {
    let mut sum = 0;
    for _ in 0..runs {
        sum += match (shape, side) {
            ("diamond", "flow") => {
                black_box(diamond::generated(diamond::In(black_box(1))).await)
                    .ok()?
                    .0
            }
            ("diamond", "hand") => {
                black_box(diamond::hand_written(diamond::In(black_box(1))).await).0
            }
            ("chain", "flow") => {
                black_box(chain100::generated(chain100::In(black_box(1))).await)
                    .ok()?
                    .0
            }
            ("chain", "hand") => {
                black_box(chain100::hand_written(chain100::In(black_box(1))).await).0
            }
            ("fan", "flow") => {
                black_box(fan100::generated(fan100::In(black_box(1))).await)
                    .ok()?
                    .0
            }
            ("fan", "hand") => black_box(fan100::hand_written(fan100::In(black_box(1))).await).0,
            _ => return None,
        };
    }
    Some(sum)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench` (and any filter): check both sides, count nothing.
    let by_cargo = args.iter().any(|a| a == "--bench");
    match args.as_slice() {
        _ if by_cargo => {
            for shape in ["diamond", "chain", "fan"] {
                let flow = rt.block_on(run(shape, "flow", 1));
                let hand = rt.block_on(run(shape, "hand", 1));
                assert!(
                    flow.is_some() && flow == hand,
                    "{shape}: {flow:?} != {hand:?}"
                );
            }
            println!("instructions: both sides agree; run under valgrind to count");
        }
        [shape, side, rest @ ..] => {
            let runs = match rest.first().map(|n| n.parse::<u64>()) {
                None => 20_000,
                Some(Ok(n)) => n,
                Some(Err(e)) => {
                    eprintln!("runs: {e}");
                    std::process::exit(2);
                }
            };
            match rt.block_on(run(shape, side, runs)) {
                Some(sum) => println!("{shape} {side}: {runs} runs, sum {sum}"),
                None => {
                    eprintln!("usage: instructions [diamond|chain|fan] [flow|hand] [runs]");
                    std::process::exit(2);
                }
            }
        }
        _ => {
            eprintln!("usage: instructions [diamond|chain|fan] [flow|hand] [runs]");
            std::process::exit(2);
        }
    }
}
