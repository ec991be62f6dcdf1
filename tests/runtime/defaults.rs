//! Workflow-wide defaults: `#[workflow(..., defaults(timeout = "5s", retry(...),
//! continue_on_error))]` applies to every node that does not set its own; a node's own
//! option wins; a default never swallows an error.

use crate::common::*;
use flow_runtime::{ErrorKind, NodeError, node, workflow};
use std::sync::atomic::{AtomicU32, Ordering};

/// Resolute's default retry policy: every activity retries unless it says otherwise.
pub mod retries {
    use super::*;

    pub struct Job {
        /// How many times each node fails before it succeeds.
        pub failures: u32,
        pub fetch_calls: AtomicU32,
        pub store_calls: AtomicU32,
        pub strict_calls: AtomicU32,
        pub each_calls: AtomicU32,
        pub log: Log,
    }
    pub struct Data(pub u32);
    #[derive(Debug, PartialEq)]
    pub struct Stored(pub u32);
    pub struct Checked;

    fn flaky(calls: &AtomicU32, failures: u32) -> Result<u32, String> {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= failures {
            Err(format!("attempt {n} failed"))
        } else {
            Ok(n)
        }
    }
    #[node]
    async fn fetch(job: &Job) -> Result<Data, String> {
        job.log.record("fetch", "attempt");
        flaky(&job.fetch_calls, job.failures).map(Data)
    }
    /// Its own timeout wins; the retry still comes from the defaults.
    #[node(timeout = "1s")]
    async fn store(job: &Job, data: &Data) -> Result<Stored, String> {
        flaky(&job.store_calls, job.failures).map(|_| Stored(data.0))
    }
    /// Its own policy wins: no retry.
    #[node(retry(max_attempts = 1))]
    async fn strict(job: &Job, _d: &Data) -> Result<Checked, String> {
        flaky(&job.strict_calls, job.failures.min(1)).map(|_| Checked)
    }
    #[workflow(fetch, store, defaults(retry(max_attempts = 3, initial = "10ms")))]
    pub async fn save(job: &Job) -> Stored;

    #[node]
    async fn done(s: &Stored, _c: &Checked) -> u32 {
        s.0
    }
    #[workflow(
        fetch,
        store,
        strict,
        done,
        defaults(retry(max_attempts = 3, initial = "10ms"))
    )]
    pub async fn save_strict(job: &Job) -> u32;

    /// Per element of a map.
    #[node]
    async fn parts(_job: &Job) -> Vec<u32> {
        vec![1, 2]
    }
    #[node]
    async fn each(job: &Job, n: &u32) -> Result<Stored, String> {
        flaky(&job.each_calls, job.failures).map(|_| Stored(*n))
    }
    #[node]
    async fn count(all: &[Stored]) -> u32 {
        all.iter().map(|s| s.0).sum()
    }
    #[workflow(
        parts,
        map(each),
        count,
        defaults(retry(max_attempts = 3, initial = "1ms"))
    )]
    pub async fn mapped(job: &Job) -> u32;

    pub fn job(failures: u32) -> Job {
        Job {
            failures,
            fetch_calls: AtomicU32::new(0),
            store_calls: AtomicU32::new(0),
            strict_calls: AtomicU32::new(0),
            each_calls: AtomicU32::new(0),
            log: Log::new(),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_default_retry_policy_applies_to_every_node_without_its_own() {
    use retries::*;
    let j = job(2);
    assert_eq!(save(&j).await.unwrap(), Stored(3));
    assert_eq!(j.fetch_calls.load(Ordering::SeqCst), 3);
    assert_eq!(j.store_calls.load(Ordering::SeqCst), 3);
    assert_eq!(j.log.count("fetch", "attempt"), 3);

    let j = job(3);
    let err = save(&j).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NodeFailed);
    assert_eq!(err.node_name(), Some("fetch"));
    assert_eq!(err.attempts(), 3);

    // A node's own `retry(max_attempts = 1)` wins over the default.
    let j = job(1);
    let err = save_strict(&j).await.unwrap_err();
    assert_eq!(err.node_name(), Some("strict"));
    assert_eq!(err.attempts(), 1);
    assert_eq!(j.strict_calls.load(Ordering::SeqCst), 1);

    let j = job(1);
    assert_eq!(mapped(&j).await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_default_backoff_is_the_defaults() {
    use retries::*;
    let j = job(2);
    let start = tokio::time::Instant::now();
    save(&j).await.unwrap();
    // `fetch` waited 10 ms and 20 ms, then `store` the same.
    assert_eq!(start.elapsed(), ms(60));
}

/// A default timeout; a node's own timeout wins.
pub mod timeouts {
    use super::*;

    pub struct Slow(pub u64);
    #[derive(Debug)]
    pub struct Out(pub u64);
    #[derive(Debug)]
    pub struct Out2(pub u64);
    #[node]
    async fn slow(s: &Slow) -> Out {
        sleep_ms(s.0).await;
        Out(s.0)
    }
    #[node(timeout = "500ms")]
    async fn patient(s: &Slow, o: &Out) -> Out2 {
        sleep_ms(s.0).await;
        Out2(o.0)
    }
    #[workflow(slow, defaults(timeout = "50ms"))]
    pub async fn bounded(s: Slow) -> Out;
    #[workflow(slow, patient, defaults(timeout = "150ms"))]
    pub async fn own_wins(s: Slow) -> Out2;
}

#[tokio::test(start_paused = true)]
async fn a_default_timeout_bounds_every_node_without_its_own() {
    use timeouts::*;
    assert_eq!(bounded(Slow(40)).await.unwrap().0, 40);
    let err = bounded(Slow(60)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NodeTimedOut);
    assert_eq!(err.node_name(), Some("slow"));
    // `patient` runs 100 ms under its own 500 ms, though the default is 150 ms... and
    // `slow` runs 100 ms under the default.
    assert_eq!(own_wins(Slow(100)).await.unwrap().0, 100);
    let err = own_wins(Slow(200)).await.unwrap_err();
    assert_eq!(err.node_name(), Some("slow"));
}

/// gorkflow's `WithConfig(ContinueOnError)`: partial results, without writing the option on
/// every node.
pub mod partial {
    use super::*;

    pub struct Batch {
        pub failing: &'static [&'static str],
    }
    #[derive(Debug)]
    pub struct A(pub u32);
    #[derive(Debug)]
    pub struct B(pub u32);
    #[derive(Debug)]
    pub struct C(pub u32);
    #[derive(Debug, PartialEq)]
    pub struct Report(pub String);

    fn step(b: &Batch, name: &str, v: u32) -> Result<u32, String> {
        if b.failing.contains(&name) {
            Err(format!("{name} failed"))
        } else {
            Ok(v)
        }
    }
    #[node]
    async fn a(b: &Batch) -> Result<A, String> {
        step(b, "a", 1).map(A)
    }
    #[node]
    async fn b(batch: &Batch) -> Result<B, String> {
        step(batch, "b", 2).map(B)
    }
    /// Consumed as `&C`: its failure still ends the run.
    #[node]
    async fn c(b: &Batch) -> Result<C, String> {
        step(b, "c", 3).map(C)
    }
    #[node]
    async fn needs_c(c: &C) -> Result<u32, String> {
        Ok(c.0)
    }
    /// An effect no node consumes: its failure still ends the run.
    #[node]
    async fn notify(b: &Batch) -> Result<(), String> {
        step(b, "notify", 0).map(|_| ())
    }
    #[node]
    async fn report(a: Option<&A>, b: Result<&B, &NodeError>, c: &u32) -> Report {
        Report(format!(
            "a={:?} b={} c={c}",
            a.map(|a| a.0),
            match b {
                Ok(b) => b.0.to_string(),
                Err(e) => format!("{:?}", e.kind()),
            }
        ))
    }
    #[workflow(a, b, c, needs_c, notify, report, defaults(continue_on_error))]
    pub async fn run_batch(b: Batch) -> Report;
}

#[tokio::test]
async fn a_default_continue_on_error_gives_partial_results_and_swallows_nothing() {
    use partial::*;
    assert_eq!(
        run_batch(Batch { failing: &[] }).await.unwrap(),
        Report("a=Some(1) b=2 c=3".into())
    );
    assert_eq!(
        run_batch(Batch {
            failing: &["a", "b"]
        })
        .await
        .unwrap(),
        Report("a=None b=NodeFailed c=3".into())
    );
    // `c` is taken as `&C`, `notify` by nobody: their failures end the run.
    for failing in [&["c"], &["notify"]] {
        let err = run_batch(Batch { failing }).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NodeFailed);
        assert_eq!(err.node_name(), Some(failing[0]));
    }
}

#[test]
fn pictures_show_what_a_node_takes_from_the_defaults() {
    let g = retries::save::graph();
    let fetch = g.node_index("fetch").unwrap();
    assert_eq!(g.traits(fetch).max_attempts(), 3);
    assert_eq!(
        g.nodes()[fetch].traits().max_attempts(),
        1,
        "its own options"
    );
    assert!(g.to_mermaid().contains("3 attempts"), "{}", g.to_mermaid());
    let store = g.node_index("store").unwrap();
    assert_eq!(g.traits(store).summary(), "timeout 1s, 3 attempts");
    let p = partial::run_batch::graph();
    let a = p.node_index("a").unwrap();
    assert!(p.traits(a).continues_on_error());
    let c = p.node_index("c").unwrap();
    assert!(
        !p.traits(c).continues_on_error(),
        "taken as `&C`: not tolerated"
    );
}
