//! Node policies: timeouts, retries, rate and concurrency limits, `blocking` and `spawn`.

use crate::common::*;
use flow_runtime::{ConcurrencyLimit, ErrorKind, RateLimiter, RunContext, node, workflow};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::time::Instant;

#[derive(Debug)]
pub struct Boom(pub String);
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Boom {}

/// Tracks how many bodies are in flight and the most there ever were.
#[derive(Default)]
pub struct HighWater {
    now: AtomicUsize,
    max: AtomicUsize,
    done: AtomicUsize,
}

impl HighWater {
    pub async fn run(&self, ms: u64) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        sleep_ms(ms).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        self.done.fetch_add(1, Ordering::SeqCst);
    }
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
    pub fn done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }
}

mod timeouts {
    use super::*;

    pub struct Slow(pub u64);
    pub struct Out;

    #[node(timeout = "250ms")]
    async fn limited(s: &Slow) -> Out {
        sleep_ms(s.0).await;
        Out
    }

    #[workflow(limited)]
    pub async fn timed(s: Slow) -> Out;

    #[tokio::test(start_paused = true)]
    async fn a_sub_second_timeout_fires_on_time_and_names_node_and_attempt() {
        let start = Instant::now();
        let err = timed(Slow(1000)).await.err().unwrap();
        assert_eq!(start.elapsed(), ms(250));
        assert_eq!(err.kind(), ErrorKind::NodeTimedOut);
        assert_eq!(err.node_name(), Some("limited"));
        assert_eq!(err.attempts(), 1);
        assert_eq!(
            anyhow_chain(&err),
            "node `limited` of workflow `timed` timed out on attempt 1: took longer than 250ms"
        );
        let elapsed = std::error::Error::source(&err)
            .unwrap()
            .downcast_ref::<flow_runtime::error::Elapsed>()
            .unwrap();
        assert_eq!(elapsed.limit(), ms(250));
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_within_its_timeout_is_unaffected() {
        let start = Instant::now();
        assert!(timed(Slow(249)).await.is_ok());
        assert_eq!(start.elapsed(), ms(249));
    }

    pub struct Calls(pub Counter);

    #[node(
        timeout = "250ms",
        retry(max_attempts = 3, initial = "100ms", factor = 2.0)
    )]
    async fn always_slow(c: &Calls) -> Out {
        c.0.hit();
        sleep_ms(300).await;
        Out
    }

    #[workflow(always_slow)]
    pub async fn timed_retries(c: &Calls) -> Out;

    #[tokio::test(start_paused = true)]
    async fn the_timeout_applies_to_each_attempt() {
        let calls = Calls(Counter::default());
        let start = Instant::now();
        let err = timed_retries(&calls).await.err().unwrap();
        // 250 + 100 (backoff) + 250 + 200 (backoff) + 250.
        assert_eq!(start.elapsed(), ms(1050));
        assert_eq!(calls.0.get(), 3);
        assert_eq!(err.kind(), ErrorKind::NodeTimedOut);
        assert_eq!(err.attempts(), 3);
    }
}

mod retries {
    use super::*;

    pub struct Probe {
        pub source: Counter,
        pub flaky: Counter,
        pub sibling: Counter,
        pub failures_before_success: usize,
    }

    pub struct Src;
    pub struct Flaky(pub usize);
    pub struct Sibling;
    pub struct Both(pub usize);

    #[node]
    async fn source(p: &Probe) -> Src {
        p.source.hit();
        Src
    }

    #[node(retry(max_attempts = 3, initial = "100ms", factor = 2.0, jitter = false))]
    async fn flaky(p: &Probe, _s: &Src, ctx: &RunContext) -> Result<Flaky, Boom> {
        p.flaky.hit();
        let attempt = ctx.attempt() as usize;
        if attempt <= p.failures_before_success {
            Err(Boom(format!("attempt {attempt} failed")))
        } else {
            Ok(Flaky(attempt))
        }
    }

    #[node]
    async fn sibling(p: &Probe, _s: &Src) -> Sibling {
        p.sibling.hit();
        Sibling
    }

    #[node]
    async fn both(f: &Flaky, _s: &Sibling) -> Both {
        Both(f.0)
    }

    #[workflow(source, flaky, sibling, both)]
    pub async fn retried(p: &Probe) -> Both;

    impl Probe {
        fn new(failures_before_success: usize) -> Self {
            Probe {
                source: Counter::default(),
                flaky: Counter::default(),
                sibling: Counter::default(),
                failures_before_success,
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_failing_node_reruns_with_backoff() {
        let probe = Probe::new(2);
        let start = Instant::now();
        let out = retried(&probe).await.unwrap();
        assert_eq!(out.0, 3, "the third attempt succeeded");
        assert_eq!(probe.flaky.get(), 3);
        assert_eq!(probe.source.get(), 1, "upstream output is reused");
        assert_eq!(probe.sibling.get(), 1, "siblings run once");
        // Backoff 100 ms, then 200 ms.
        assert_eq!(start.elapsed(), ms(300));
    }

    #[tokio::test(start_paused = true)]
    async fn exhausted_retries_keep_the_last_cause_and_the_count() {
        let probe = Probe::new(10);
        let err = retried(&probe).await.err().unwrap();
        assert_eq!(probe.flaky.get(), 3, "max_attempts counts every attempt");
        assert_eq!(err.kind(), ErrorKind::NodeFailed);
        assert_eq!(err.attempts(), 3);
        assert_eq!(
            err.to_string(),
            "node `flaky` of workflow `retried` failed after 3 attempts"
        );
        let cause = std::error::Error::source(&err).unwrap();
        assert_eq!(cause.to_string(), "attempt 3 failed");
        assert!(cause.downcast_ref::<Boom>().is_some());
    }

    pub struct Tries(
        pub Counter,
        pub Mutex<Vec<std::time::Duration>>,
        pub Instant,
    );
    pub struct Capped;

    #[node(retry(
        max_attempts = 4,
        initial = "100ms",
        factor = 10.0,
        max_delay = "500ms"
    ))]
    async fn capped(t: &Tries) -> Result<Capped, Boom> {
        t.0.hit();
        t.1.lock().unwrap().push(t.2.elapsed());
        Err(Boom("no".into()))
    }

    #[workflow(capped)]
    pub async fn capped_backoff(t: &Tries) -> Capped;

    #[tokio::test(start_paused = true)]
    async fn backoff_is_capped_by_max_delay() {
        let tries = Tries(Counter::default(), Mutex::new(Vec::new()), Instant::now());
        let err = capped_backoff(&tries).await.err().unwrap();
        assert_eq!(err.attempts(), 4);
        // Delays min(100 × 10^(n-1), 500): 100, 500, 500.
        assert_eq!(
            *tries.1.lock().unwrap(),
            vec![ms(0), ms(100), ms(600), ms(1100)]
        );
    }

    fn transient(e: &Boom) -> bool {
        e.0 == "transient"
    }

    pub struct Script(pub Mutex<Vec<&'static str>>, pub Counter);
    pub struct Picky;

    #[node(retry(max_attempts = 5, initial = "10ms", retry_if = transient))]
    async fn picky(s: &Script) -> Result<Picky, Boom> {
        s.1.hit();
        match s.0.lock().unwrap().pop() {
            Some(e) => Err(Boom(e.into())),
            None => Ok(Picky),
        }
    }

    #[workflow(picky)]
    pub async fn selective(s: &Script) -> Picky;

    #[tokio::test(start_paused = true)]
    async fn retry_if_makes_other_errors_final() {
        // Popped from the end: transient, transient, then fatal.
        let script = Script(
            Mutex::new(vec!["fatal", "transient", "transient"]),
            Counter::default(),
        );
        let err = selective(&script).await.err().unwrap();
        assert_eq!(script.1.get(), 3);
        assert_eq!(err.attempts(), 3);
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "fatal"
        );
    }

    pub struct Once(pub Counter);
    pub struct Never;

    #[node]
    async fn no_policy(o: &Once) -> Result<Never, Boom> {
        o.0.hit();
        Err(Boom("once".into()))
    }

    #[workflow(no_policy)]
    pub async fn unretried(o: &Once) -> Never;

    #[tokio::test(start_paused = true)]
    async fn nothing_is_retried_unless_asked() {
        let once = Once(Counter::default());
        let err = unretried(&once).await.err().unwrap();
        assert_eq!(once.0.get(), 1);
        assert_eq!(err.attempts(), 1);
    }
}

mod limits {
    use super::*;

    static API: RateLimiter = RateLimiter::new(2, std::time::Duration::from_secs(1));

    pub struct Probe {
        pub start: Instant,
        pub starts: Mutex<Vec<(&'static str, std::time::Duration)>>,
    }
    impl Probe {
        fn started(&self, name: &'static str) {
            self.starts
                .lock()
                .unwrap()
                .push((name, self.start.elapsed()));
        }
    }
    pub struct R1;
    pub struct R2;
    pub struct R3;
    pub struct All;

    #[node(rate_limit = API)]
    async fn r1(p: &Probe) -> R1 {
        p.started("r1");
        R1
    }
    #[node(rate_limit = API)]
    async fn r2(p: &Probe) -> R2 {
        p.started("r2");
        R2
    }
    #[node(rate_limit = API)]
    async fn r3(p: &Probe) -> R3 {
        p.started("r3");
        R3
    }
    #[node]
    async fn all(_a: &R1, _b: &R2, _c: &R3) -> All {
        All
    }

    #[workflow(r1, r2, r3, all)]
    pub async fn rated(p: &Probe) -> All;

    #[tokio::test(start_paused = true)]
    async fn a_shared_rate_limiter_spaces_starts_after_its_burst() {
        let probe = Probe {
            start: Instant::now(),
            starts: Mutex::new(Vec::new()),
        };
        rated(&probe).await.unwrap();
        let starts = probe.starts.lock().unwrap().clone();
        assert_eq!(starts, vec![("r1", ms(0)), ("r2", ms(0)), ("r3", ms(500))]);
        // The limiter serves other runs too: the next three starts follow at the rate.
        let probe = Probe {
            start: Instant::now(),
            starts: Mutex::new(Vec::new()),
        };
        rated(&probe).await.unwrap();
        let starts: Vec<_> = probe.starts.lock().unwrap().iter().map(|s| s.1).collect();
        assert_eq!(starts, vec![ms(500), ms(1000), ms(1500)]);
    }

    static POOL: ConcurrencyLimit = ConcurrencyLimit::new(2);

    pub struct N1;
    pub struct N2;
    pub struct N3;
    pub struct Pair;

    #[node(limit = POOL)]
    async fn n1(h: &HighWater) -> N1 {
        h.run(100).await;
        N1
    }
    #[node(limit = POOL)]
    async fn n2(h: &HighWater) -> N2 {
        h.run(100).await;
        N2
    }
    #[node(limit = POOL)]
    async fn n3(h: &HighWater) -> N3 {
        h.run(100).await;
        N3
    }
    #[node]
    async fn pair(_a: &N1, _b: &N2, _c: &N3) -> Pair {
        Pair
    }

    #[workflow(n1, n2, n3, pair)]
    pub async fn pooled(h: &HighWater) -> Pair;

    #[tokio::test(start_paused = true)]
    async fn a_shared_limit_holds_across_nodes_and_concurrent_runs() {
        let h = HighWater::default();
        let start = Instant::now();
        let (a, b) = tokio::join!(pooled(&h), pooled(&h));
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(h.done(), 6);
        assert_eq!(h.max(), 2);
        assert_eq!(start.elapsed(), ms(300));
        assert_eq!(POOL.available(), 2, "every permit is returned");
    }

    pub struct W(pub HighWater);
    pub struct M1;
    pub struct M2;
    pub struct M3;
    pub struct M4;
    pub struct M5;
    pub struct M6;
    pub struct Six;

    macro_rules! worker {
        ($name:ident $out:ident) => {
            #[node]
            async fn $name(w: &W) -> $out {
                w.0.run(100).await;
                $out
            }
        };
    }
    worker!(m1 M1);
    worker!(m2 M2);
    worker!(m3 M3);
    worker!(m4 M4);
    worker!(m5 M5);
    worker!(m6 M6);

    #[node]
    async fn six(_: &M1, _: &M2, _: &M3, _: &M4, _: &M5, _: &M6) -> Six {
        Six
    }

    #[workflow(m1, m2, m3, m4, m5, m6, six, max_concurrency = 2)]
    pub async fn two_at_a_time(w: &W) -> Six;

    #[workflow(m1, m2, m3, m4, m5, m6, six, max_concurrency = 1)]
    pub async fn one_at_a_time(w: &W) -> Six;

    #[workflow(m1, m2, m3, m4, m5, m6, six)]
    pub async fn unlimited(w: &W) -> Six;

    #[tokio::test(start_paused = true)]
    async fn max_concurrency_bounds_node_bodies_in_flight() {
        let w = W(HighWater::default());
        let start = Instant::now();
        two_at_a_time(&w).await.unwrap();
        assert_eq!((w.0.done(), w.0.max()), (6, 2));
        assert_eq!(start.elapsed(), ms(300));
    }

    #[tokio::test(start_paused = true)]
    async fn max_concurrency_of_one_still_runs_every_node() {
        let w = W(HighWater::default());
        let start = Instant::now();
        one_at_a_time(&w).await.unwrap();
        assert_eq!((w.0.done(), w.0.max()), (6, 1));
        assert_eq!(start.elapsed(), ms(600));
    }

    #[tokio::test(start_paused = true)]
    async fn per_call_limits_apply_to_every_node() {
        let w = W(HighWater::default());
        let options = flow_runtime::RunOptions::new()
            .max_concurrency(std::num::NonZeroUsize::new(3).unwrap());
        unlimited::run(options, &w).await.unwrap();
        assert_eq!((w.0.done(), w.0.max()), (6, 3));

        static SHARED: ConcurrencyLimit = ConcurrencyLimit::new(4);
        let w = W(HighWater::default());
        let options = flow_runtime::RunOptions::new().limit(&SHARED);
        let (a, b) = tokio::join!(
            unlimited::run(options.clone(), &w),
            unlimited::run(options, &w)
        );
        assert!(a.is_ok() && b.is_ok());
        assert_eq!((w.0.done(), w.0.max()), (12, 4));
    }

    pub struct Backoff {
        pub start: Instant,
        pub tries: Counter,
        pub other_started: Mutex<Option<std::time::Duration>>,
    }
    pub struct Retrying;
    pub struct Other;
    pub struct Done;

    #[node(retry(max_attempts = 2, initial = "1s"))]
    async fn retrying(b: &Backoff) -> Result<Retrying, Boom> {
        b.tries.hit();
        if b.tries.get() == 1 {
            Err(Boom("first".into()))
        } else {
            Ok(Retrying)
        }
    }
    #[node]
    async fn other(b: &Backoff) -> Other {
        // Starts only once `retrying` gave up its permit.
        *b.other_started.lock().unwrap() = Some(b.start.elapsed());
        Other
    }
    #[node]
    async fn done(_r: &Retrying, _o: &Other) -> Done {
        Done
    }

    #[workflow(retrying, other, done, max_concurrency = 1)]
    pub async fn backoff(b: &Backoff) -> Done;

    #[tokio::test(start_paused = true)]
    async fn a_node_in_backoff_holds_no_permit() {
        let b = Backoff {
            start: Instant::now(),
            tries: Counter::default(),
            other_started: Mutex::new(None),
        };
        backoff(&b).await.unwrap();
        assert_eq!(b.tries.get(), 2);
        assert_eq!(*b.other_started.lock().unwrap(), Some(ms(0)));
        assert_eq!(b.start.elapsed(), ms(1000));
    }

    // A node holding a permit of a limit of 1 runs a workflow whose nodes need the same
    // limit: the permit is lent, so this completes instead of deadlocking.
    static ONE: ConcurrencyLimit = ConcurrencyLimit::new(1);

    pub struct Leaf1(pub u32);
    pub struct Leaf2(pub u32);
    pub struct Inner(pub u32);
    pub struct Outer(pub u32);

    #[node(limit = ONE)]
    async fn leaf1(x: &u32) -> Leaf1 {
        sleep_ms(10).await;
        Leaf1(*x + 1)
    }
    #[node(limit = ONE)]
    async fn leaf2(x: &u32) -> Leaf2 {
        sleep_ms(10).await;
        Leaf2(*x + 2)
    }
    #[node]
    async fn inner_sum(a: &Leaf1, b: &Leaf2) -> Inner {
        Inner(a.0 + b.0)
    }

    #[workflow(leaf1, leaf2, inner_sum)]
    pub async fn child(x: u32) -> Inner;

    #[node(limit = ONE)]
    async fn parent(x: &u32) -> Result<Outer, flow_runtime::Error> {
        Ok(Outer(child(*x).await?.0))
    }

    #[workflow(parent)]
    pub async fn nested(x: u32) -> Outer;

    #[tokio::test(start_paused = true)]
    async fn nested_workflows_sharing_a_limit_do_not_deadlock() {
        let out = tokio::time::timeout(ms(10_000), nested(1)).await;
        assert_eq!(out.expect("deadlocked").unwrap().0, 5);
        assert_eq!(ONE.available(), 1);
    }
}

mod threads {
    use super::*;
    use std::sync::Barrier;

    pub struct Signals {
        pub to_async: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
        pub from_async: Mutex<std::sync::mpsc::Receiver<()>>,
        pub to_blocking: Mutex<std::sync::mpsc::Sender<()>>,
        pub from_blocking: Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
    }
    pub struct Blocked;
    pub struct Awaited;
    pub struct Met;

    // A plain `fn` that blocks its thread until the async sibling signals it.
    #[node(blocking)]
    fn blocked(s: &std::sync::Arc<Signals>) -> Blocked {
        s.to_async.lock().unwrap().take().unwrap().send(()).unwrap();
        s.from_async.lock().unwrap().recv().unwrap();
        Blocked
    }

    #[node]
    async fn awaited(s: &std::sync::Arc<Signals>) -> Awaited {
        let rx = s.from_blocking.lock().unwrap().take().unwrap();
        rx.await.unwrap();
        s.to_blocking.lock().unwrap().send(()).unwrap();
        Awaited
    }

    #[node]
    async fn met(_b: &Blocked, _a: &Awaited) -> Met {
        Met
    }

    #[workflow(blocked, awaited, met)]
    pub async fn blocking_pair(s: std::sync::Arc<Signals>) -> Met;

    #[tokio::test(flavor = "current_thread")]
    async fn a_blocking_node_does_not_stall_its_siblings() {
        let (to_async, from_blocking) = tokio::sync::oneshot::channel();
        let (to_blocking, from_async) = std::sync::mpsc::channel();
        let signals = std::sync::Arc::new(Signals {
            to_async: Mutex::new(Some(to_async)),
            from_async: Mutex::new(from_async),
            to_blocking: Mutex::new(to_blocking),
            from_blocking: Mutex::new(Some(from_blocking)),
        });
        // On one thread, a blocking body that ran in the workflow's task would never let
        // `awaited` run: each waits for the other's signal.
        let out = tokio::time::timeout(ms(10_000), blocking_pair(signals)).await;
        assert!(out.expect("the blocking node stalled its sibling").is_ok());
    }

    pub struct Meeting(pub Barrier);
    pub struct Left;
    pub struct Right;
    pub struct Joined;

    #[node(spawn)]
    async fn left(m: &std::sync::Arc<Meeting>) -> Left {
        m.0.wait();
        Left
    }
    #[node(spawn)]
    async fn right(m: &std::sync::Arc<Meeting>) -> Right {
        m.0.wait();
        Right
    }
    #[node]
    async fn joined(_l: &Left, _r: &Right) -> Joined {
        Joined
    }

    #[workflow(left, right, joined)]
    pub async fn spawned_pair(m: std::sync::Arc<Meeting>) -> Joined;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spawn_nodes_run_on_other_threads_at_once() {
        // Both nodes block on a barrier of two: they finish only if they run in parallel.
        let meeting = std::sync::Arc::new(Meeting(Barrier::new(2)));
        let out = tokio::time::timeout(ms(10_000), spawned_pair(meeting)).await;
        assert!(
            out.expect("the spawn nodes did not run in parallel")
                .is_ok()
        );
    }

    pub struct Ticket;

    #[node(spawn)]
    async fn spawned_panic(_x: &u32) -> Ticket {
        panic!("spawned node broke")
    }

    #[workflow(spawned_panic)]
    pub async fn spawned_panics(x: u32) -> Ticket;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_in_a_spawned_node_names_the_node() {
        let err = spawned_panics(1).await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::NodePanicked);
        assert_eq!(err.node_name(), Some("spawned_panic"));
        assert_eq!(
            anyhow_chain(&err),
            "node `spawned_panic` of workflow `spawned_panics` panicked: spawned node broke"
        );
    }
}

// A blocking or spawned node takes a slice as any node does: it gets its own `Vec`.
mod slices {
    use flow_runtime::{node, workflow};

    #[derive(Clone, Debug, PartialEq)]
    pub struct Page(pub u32);
    pub struct Total(pub u32);
    pub struct Title(pub String);
    pub struct Book(pub String);

    #[node]
    async fn first(n: &u32) -> Page {
        Page(*n)
    }

    #[node]
    async fn second(n: &u32) -> Page {
        Page(n * 10)
    }

    #[node(blocking)]
    fn total(pages: &[Page]) -> Total {
        Total(pages.iter().map(|p| p.0).sum())
    }

    #[node(spawn)]
    async fn title(pages: &[Page], name: &str) -> Title {
        Title(format!("{name}: {} pages", pages.len()))
    }

    #[node]
    async fn book(t: &Total, title: &Title) -> Book {
        Book(format!("{} ({})", title.0, t.0))
    }

    #[workflow(first, second, total, title, book)]
    pub async fn bind(n: u32, name: &str) -> Book;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocking_and_spawned_nodes_take_slices_and_strs() {
        assert_eq!(bind(2, "notes").await.unwrap().0, "notes: 2 pages (22)");
    }
}
