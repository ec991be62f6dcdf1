//! `map(node)`: a node written for one `&Item` runs once per element of a `Vec<Item>`.

use crate::common::*;
use flow_runtime::{ErrorKind, NodeError, node, workflow};
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Default)]
pub struct Probe {
    pub started: Counter,
    pub live: AtomicUsize,
    pub high: AtomicUsize,
    pub reduced: Counter,
    pub dropped: Counter,
}

impl Probe {
    fn enter(&self) -> Live<'_> {
        self.started.hit();
        let now = self.live.fetch_add(1, Ordering::SeqCst) + 1;
        self.high.fetch_max(now, Ordering::SeqCst);
        Live(self)
    }
}

pub struct Live<'a>(&'a Probe);
impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

mod ordered {
    use super::*;

    pub struct Square(pub u64);
    #[derive(Debug, PartialEq)]
    pub struct Total(pub Vec<u64>);

    #[node]
    async fn split(n: &u64) -> Vec<u64> {
        (0..*n).collect()
    }
    /// Later elements finish first.
    #[node]
    async fn square(probe: &Probe, x: &u64) -> Square {
        let _live = probe.enter();
        sleep_ms(1000 - x * 7 % 1000).await;
        Square(x * x)
    }
    #[node]
    async fn collect(probe: &Probe, squares: &[Square]) -> Total {
        probe.reduced.hit();
        Total(squares.iter().map(|s| s.0).collect())
    }

    #[workflow(split, map(square, concurrency = 4), collect)]
    pub async fn squares(probe: &Probe, n: u64) -> Total;

    #[workflow(split, map(square), collect)]
    pub async fn squares_unbounded(probe: &Probe, n: u64) -> Total;
}

#[tokio::test(start_paused = true)]
async fn outputs_are_in_input_order_and_in_flight_is_bounded() {
    use ordered::*;
    let probe = Probe::default();
    let total = squares(&probe, 100).await.unwrap();
    assert_eq!(total, Total((0..100).map(|x| x * x).collect()));
    assert_eq!(probe.started.get(), 100);
    assert_eq!(probe.high.load(Ordering::SeqCst), 4);
    assert_eq!(probe.reduced.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn without_a_bound_every_element_runs_at_once() {
    use ordered::*;
    let probe = Probe::default();
    let start = tokio::time::Instant::now();
    let total = squares_unbounded(&probe, 50).await.unwrap();
    assert_eq!(total.0.len(), 50);
    assert_eq!(probe.high.load(Ordering::SeqCst), 50);
    // The slowest element (x = 0, 1000 ms) bounds the run.
    assert_eq!(start.elapsed(), ms(1000));
}

#[tokio::test(start_paused = true)]
async fn an_empty_collection_completes_at_once_and_consumers_run() {
    use ordered::*;
    let probe = Probe::default();
    let start = tokio::time::Instant::now();
    assert_eq!(squares(&probe, 0).await.unwrap(), Total(vec![]));
    assert_eq!(start.elapsed(), ms(0));
    assert_eq!(probe.started.get(), 0);
    assert_eq!(probe.reduced.get(), 1);
}

pub mod failing {
    use super::*;

    #[derive(Debug)]
    pub struct Bad(pub u64);
    impl std::fmt::Display for Bad {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "bad item {}", self.0)
        }
    }
    impl std::error::Error for Bad {}

    pub struct Input(pub Vec<u64>);
    pub struct Checked(pub u64);

    #[node]
    async fn items(input: &Input) -> Vec<u64> {
        input.0.clone()
    }
    /// Element 3 fails after 10 ms; the others take 100 ms.
    #[node]
    async fn check(probe: &Probe, x: &u64) -> Result<Checked, Bad> {
        let _live = probe.enter();
        let _guard = DropGuard(&probe.dropped);
        if *x == 3 {
            sleep_ms(10).await;
            return Err(Bad(*x));
        }
        sleep_ms(100).await;
        std::mem::forget(_guard);
        Ok(Checked(*x))
    }
    #[node]
    #[allow(clippy::ptr_arg)] // `&Vec<T>` works as well as `&[T]`.
    async fn count(probe: &Probe, checked: &Vec<Checked>) -> usize {
        probe.reduced.hit();
        checked.len()
    }
    #[node]
    async fn report(probe: &Probe, checked: &[Result<Checked, NodeError>]) -> Vec<String> {
        probe.reduced.hit();
        checked
            .iter()
            .map(|c| match c {
                Ok(c) => format!("ok {}", c.0),
                Err(e) => format!("element {:?}: {}", e.element(), e),
            })
            .collect()
    }

    #[workflow(items, map(check, concurrency = 4), count)]
    pub async fn fail_fast(probe: &Probe, input: Input) -> usize;

    #[workflow(items, map(check, concurrency = 2, continue_on_error), report)]
    pub async fn keep_going(probe: &Probe, input: Input) -> Vec<String>;
}

#[tokio::test(start_paused = true)]
async fn fail_fast_stops_starting_elements_and_names_the_index() {
    use failing::*;
    let probe = Probe::default();
    let start = tokio::time::Instant::now();
    let err = fail_fast(&probe, Input((0..100).collect()))
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), ms(10));
    assert_eq!(err.kind(), ErrorKind::NodeFailed);
    assert_eq!(err.node_name(), Some("check"));
    assert_eq!(err.element(), Some(3));
    assert_eq!(
        err.to_string(),
        "node `check` (element 3) of workflow `fail_fast` failed"
    );
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "bad item 3"
    );
    // Elements 0..4 started and none after the failure; the three in flight were dropped
    // (with the failed one, four guards ran).
    assert_eq!(probe.started.get(), 4);
    assert_eq!(probe.dropped.get(), 4);
    assert_eq!(probe.live.load(Ordering::SeqCst), 0);
    assert_eq!(probe.reduced.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn continue_on_error_collects_every_result_in_order() {
    use failing::*;
    let probe = Probe::default();
    let out = keep_going(&probe, Input(vec![5, 3, 8])).await.unwrap();
    assert_eq!(
        out,
        [
            "ok 5",
            "element Some(1): node `check` (element 1) of workflow `keep_going` failed",
            "ok 8"
        ]
    );
    assert_eq!(probe.started.get(), 3);
    assert_eq!(probe.reduced.get(), 1);
}

mod policies {
    //! Options of the mapped node apply per element; the workflow's input is the collection;
    //! other parameters are shared by every element.
    use super::*;

    pub struct Factor(pub u64);
    pub struct Flaky {
        pub calls: Counter,
    }

    #[node(retry(max_attempts = 3, initial = "10ms"))]
    async fn scale(flaky: &Flaky, factor: &Factor, x: &u32) -> Result<u64, String> {
        flaky.calls.hit();
        // Every element's first attempt fails.
        if flaky.calls.get() % 2 == 1 {
            return Err(format!("transient {x}"));
        }
        Ok(*x as u64 * factor.0)
    }

    #[workflow(map(scale, concurrency = 1))]
    pub async fn scale_all(flaky: &Flaky, factor: Factor, xs: Vec<u32>) -> Vec<u64>;
}

#[tokio::test(start_paused = true)]
async fn node_options_apply_per_element() {
    use policies::*;
    let flaky = Flaky {
        calls: Counter::default(),
    };
    let start = tokio::time::Instant::now();
    let out = scale_all(&flaky, Factor(10), vec![1, 2, 3]).await.unwrap();
    assert_eq!(out, vec![10, 20, 30]);
    assert_eq!(flaky.calls.get(), 6);
    // One 10 ms backoff per element, one element at a time.
    assert_eq!(start.elapsed(), ms(30));
}

mod order_under_random_delays {
    use super::*;

    #[node]
    async fn jitter(x: &u64) -> String {
        // A pseudo-random delay per element.
        let delay = (x.wrapping_mul(2654435761) >> 7) % 50;
        sleep_ms(delay).await;
        format!("#{x}")
    }

    #[workflow(map(jitter, concurrency = 8))]
    pub async fn label(xs: Vec<u64>) -> Vec<String>;
}

#[tokio::test(start_paused = true)]
async fn map_order_is_input_order_every_time() {
    let expected: Vec<String> = (0..100).map(|x| format!("#{x}")).collect();
    for _ in 0..10 {
        let out = order_under_random_delays::label((0..100).collect())
            .await
            .unwrap();
        assert_eq!(out, expected);
    }
}

mod beside {
    //! An infallible mapped node in a parallel branch, beside another node.
    use super::*;

    pub struct Len(pub usize);
    #[derive(Debug, PartialEq)]
    pub struct Sum(pub u64);
    pub struct Half(pub u64);

    #[node]
    async fn len(xs: &[u64]) -> Len {
        sleep_ms(5).await;
        Len(xs.len())
    }
    #[node]
    async fn half(x: &u64) -> Half {
        sleep_ms(5).await;
        Half(x / 2)
    }
    #[node]
    async fn sum(halves: &[Half], len: &Len) -> Sum {
        Sum(halves.iter().map(|h| h.0).sum::<u64>() + len.0 as u64)
    }

    #[workflow(len, map(half), sum)]
    pub async fn halves(xs: Vec<u64>) -> Sum;
}

#[tokio::test(start_paused = true)]
async fn a_map_runs_beside_other_nodes() {
    let start = tokio::time::Instant::now();
    assert_eq!(
        beside::halves(vec![2, 4, 6]).await.unwrap(),
        beside::Sum(1 + 2 + 3 + 3)
    );
    assert_eq!(start.elapsed(), ms(5));
}

/// GraphFlow's node factory (`processor("A", 0.3)`): one node mapped over the settings of
/// its instances.
pub mod instances {
    use super::*;

    pub struct ProcessorSettings {
        pub name: &'static str,
        pub weight: f64,
    }
    pub struct Input(pub f64);
    pub struct Processed {
        pub name: &'static str,
        pub value: f64,
    }
    #[derive(Debug, PartialEq)]
    pub struct Combined(pub Vec<(&'static str, f64)>);

    #[node]
    async fn processor(settings: &ProcessorSettings, input: &Input) -> Result<Processed, String> {
        if settings.weight < 0.0 {
            return Err(format!("{} has a negative weight", settings.name));
        }
        sleep_ms((settings.weight * 100.0) as u64).await;
        Ok(Processed {
            name: settings.name,
            value: input.0 * settings.weight,
        })
    }
    #[node]
    async fn combine(all: &[Processed]) -> Combined {
        Combined(all.iter().map(|p| (p.name, p.value)).collect())
    }

    #[workflow(map(processor, over = settings), combine)]
    pub async fn process_all(input: Input, settings: Vec<ProcessorSettings>) -> Combined;
}

#[tokio::test(start_paused = true)]
async fn node_instances_with_parameters_are_a_map_over_their_settings() {
    use instances::*;
    let settings = || {
        vec![
            ProcessorSettings {
                name: "A",
                weight: 0.3,
            },
            ProcessorSettings {
                name: "B",
                weight: 0.5,
            },
            ProcessorSettings {
                name: "C",
                weight: 0.1,
            },
        ]
    };
    let start = tokio::time::Instant::now();
    let out = process_all(Input(10.0), settings()).await.unwrap();
    assert_eq!(out, Combined(vec![("A", 3.0), ("B", 5.0), ("C", 1.0)]));
    // The instances ran side by side: the slowest (B, 50 ms) bounds the run.
    assert_eq!(start.elapsed(), ms(50));

    let mut bad = settings();
    bad[1].weight = -1.0;
    let err = process_all(Input(10.0), bad).await.unwrap_err();
    assert_eq!(err.node_name(), Some("processor"));
    assert_eq!(err.element(), Some(1));
}
