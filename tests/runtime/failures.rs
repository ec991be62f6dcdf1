//! Failure semantics: partial results, compensation, panics, cancellation, deadlines, and
//! the run context.

use crate::common::*;
use flow_runtime::{
    CancellationToken, ErrorKind, NodeError, RunContext, RunOptions, node, workflow,
};
use std::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub struct Boom(pub &'static str);
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for Boom {}

mod partial {
    use super::*;

    pub struct Probe {
        pub fail: bool,
        pub optional_runs: Counter,
        pub result_runs: Counter,
        pub seen: Mutex<Vec<String>>,
    }
    pub struct Quote(pub u32);
    pub struct Stock(pub u32);
    pub struct ByOption(pub Option<u32>);
    pub struct ByResult(pub String);
    pub struct Page(pub String);

    #[node(continue_on_error)]
    async fn quote(p: &Probe) -> Result<Quote, Boom> {
        if p.fail {
            Err(Boom("quote service down"))
        } else {
            Ok(Quote(7))
        }
    }
    #[node]
    async fn stock(_p: &Probe) -> Stock {
        Stock(3)
    }
    #[node]
    async fn by_option(p: &Probe, q: Option<&Quote>, s: &Stock) -> ByOption {
        p.optional_runs.hit();
        ByOption(q.map(|q| q.0 + s.0))
    }
    #[node]
    async fn by_result(p: &Probe, q: Result<&Quote, &NodeError>) -> ByResult {
        p.result_runs.hit();
        let text = match q {
            Ok(q) => format!("quote {}", q.0),
            Err(e) => format!(
                "{} failed: {}",
                e.node_name().unwrap(),
                std::error::Error::source(e).unwrap()
            ),
        };
        p.seen.lock().unwrap().push(text.clone());
        ByResult(text)
    }
    #[node]
    async fn page(o: &ByOption, r: &ByResult) -> Page {
        Page(format!("{:?} / {}", o.0, r.0))
    }

    #[workflow(quote, stock, by_option, by_result, page)]
    pub async fn storefront(p: &Probe) -> Page;

    fn probe(fail: bool) -> Probe {
        Probe {
            fail,
            optional_runs: Counter::default(),
            result_runs: Counter::default(),
            seen: Mutex::new(Vec::new()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn consumers_run_once_with_the_failure() {
        let p = probe(true);
        let page = storefront(&p).await.unwrap();
        assert_eq!(
            page.0, "None / quote failed: quote service down",
            "the Option consumer saw None, the Result consumer the node and cause, the sibling's output arrived"
        );
        assert_eq!(p.optional_runs.get(), 1);
        assert_eq!(p.result_runs.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn consumers_get_the_value_when_it_succeeds() {
        let p = probe(false);
        assert_eq!(storefront(&p).await.unwrap().0, "Some(10) / quote 7");
    }

    pub struct Lonely;
    pub struct Main;

    // A tolerated node nobody consumes: its failure has no one to see it, so it fails the run.
    #[node(continue_on_error)]
    async fn lonely(_p: &Probe) -> Result<Lonely, Boom> {
        Err(Boom("nobody listens"))
    }
    #[node]
    async fn main_line(_p: &Probe) -> Main {
        Main
    }

    #[workflow(lonely, main_line)]
    pub async fn unheard(p: &Probe) -> Main;

    #[tokio::test(start_paused = true)]
    async fn a_failure_no_consumer_tolerates_fails_the_run() {
        let err = unheard(&probe(true)).await.err().unwrap();
        assert_eq!(err.node_name(), Some("lonely"));
    }

    pub struct Later;
    pub struct Report;

    #[node]
    async fn later(_q: Option<&Quote>) -> Result<Later, Boom> {
        sleep_ms(10).await;
        Err(Boom("later failure"))
    }
    #[node]
    async fn report(_l: &Later) -> Report {
        Report
    }

    #[workflow(quote, later, report)]
    pub async fn two_failures(p: &Probe) -> Report;

    #[tokio::test(start_paused = true)]
    async fn earlier_tolerated_failures_are_attached_to_the_run_error() {
        let err = two_failures(&probe(true)).await.err().unwrap();
        assert_eq!(err.node_name(), Some("later"));
        let others: Vec<_> = err.others().iter().map(|e| e.node_name()).collect();
        assert_eq!(others, vec![Some("quote")]);
        assert_eq!(
            std::error::Error::source(&err.others()[0])
                .unwrap()
                .to_string(),
            "quote service down"
        );
    }
}

mod compensation {
    use super::*;

    pub struct Saga {
        pub c_delay: u64,
        pub fail_b_undo: bool,
        pub c_dropped: Counter,
    }
    pub struct A(pub u32);
    pub struct B(pub u32);
    pub struct C(pub u32);
    pub struct D;
    pub struct Out;

    async fn undo_a(a: &A) -> Result<(), Boom> {
        UNDONE.with(a.0, "a");
        Ok(())
    }

    // The compensations reach the saga through a test-local registry keyed by value.
    struct Registry(Mutex<Vec<(u32, String)>>);
    impl Registry {
        fn with(&self, v: u32, who: &str) {
            self.0.lock().unwrap().push((v, who.to_string()));
        }
    }
    static UNDONE: Registry = Registry(Mutex::new(Vec::new()));

    async fn undo_b(b: &B) -> Result<(), Boom> {
        UNDONE.with(b.0, "b");
        if b.0 == 1_000 + 20 {
            return Err(Boom("cannot undo b"));
        }
        Ok(())
    }
    async fn undo_c(c: &C) -> Result<(), Boom> {
        UNDONE.with(c.0, "c");
        Ok(())
    }

    #[node(compensate = undo_a)]
    async fn a(_s: &Saga) -> A {
        A(1)
    }
    #[node(compensate = undo_b)]
    async fn b(s: &Saga, a: &A) -> B {
        B(a.0 + if s.fail_b_undo { 1_000 + 20 - a.0 } else { 20 })
    }
    #[node(compensate = undo_c)]
    async fn c(s: &Saga, b: &B) -> C {
        let _guard = DropGuard(&s.c_dropped);
        sleep_ms(s.c_delay).await;
        std::mem::forget(_guard);
        C(b.0 + 300)
    }
    #[node]
    async fn d(_b: &B) -> Result<D, Boom> {
        sleep_ms(50).await;
        Err::<D, _>(Boom("d failed"))
    }
    #[node]
    async fn out(_c: &C, _d: &D) -> Out {
        Out
    }

    #[workflow(a, b, c, d, out)]
    pub async fn saga(s: &Saga) -> Out;

    fn saga_with(c_delay: u64, fail_b_undo: bool) -> Saga {
        UNDONE.0.lock().unwrap().clear();
        Saga {
            c_delay,
            fail_b_undo,
            c_dropped: Counter::default(),
        }
    }

    fn undone() -> Vec<(u32, String)> {
        UNDONE.0.lock().unwrap().clone()
    }

    // The tests share the registry, so they run in one test, one after the other.
    #[tokio::test(start_paused = true)]
    async fn compensations_run_in_reverse_completion_order() {
        // c completes (at 10 ms) before d fails (at 50 ms): c, b, a are undone, each with
        // its own output.
        let s = saga_with(10, false);
        let err = saga(&s).await.err().unwrap();
        assert_eq!(err.node_name(), Some("d"));
        assert_eq!(
            undone(),
            vec![(321, "c".into()), (21, "b".into()), (1, "a".into())]
        );
        assert!(err.compensation_errors().is_empty());

        // c is still running when d fails: it is dropped, and not compensated.
        let s = saga_with(100, false);
        let err = saga(&s).await.err().unwrap();
        assert_eq!(err.node_name(), Some("d"));
        assert_eq!(s.c_dropped.get(), 1);
        assert_eq!(undone(), vec![(21, "b".into()), (1, "a".into())]);

        // b's compensation fails: a's still runs, and the run returns d's error with b's
        // compensation failure attached.
        let s = saga_with(10, true);
        let err = saga(&s).await.err().unwrap();
        assert_eq!(err.node_name(), Some("d"));
        assert_eq!(
            undone(),
            vec![(1320, "c".into()), (1020, "b".into()), (1, "a".into())]
        );
        let failed: Vec<_> = err.compensation_errors().iter().collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].kind(), ErrorKind::CompensationFailed);
        assert_eq!(
            failed[0].to_string(),
            "compensation of node `b` of workflow `saga` failed"
        );
        assert_eq!(
            std::error::Error::source(failed[0]).unwrap().to_string(),
            "cannot undo b"
        );
    }
}

mod panics {
    use super::*;

    pub struct Flags {
        pub sibling_dropped: Counter,
    }
    pub struct Fine;
    pub struct Broken;
    pub struct Both;

    #[node]
    async fn fine(f: &Flags) -> Fine {
        let guard = DropGuard(&f.sibling_dropped);
        sleep_ms(100).await;
        std::mem::forget(guard);
        Fine
    }
    #[node]
    async fn broken(_f: &Flags) -> Broken {
        sleep_ms(10).await;
        panic!("index out of range")
    }
    #[node]
    async fn both(_a: &Fine, _b: &Broken) -> Both {
        Both
    }

    #[workflow(fine, broken, both)]
    pub async fn panicky(f: &Flags) -> Both;

    #[tokio::test(start_paused = true)]
    async fn a_panicking_node_is_an_error_naming_it() {
        let flags = Flags {
            sibling_dropped: Counter::default(),
        };
        let start = Instant::now();
        let err = panicky(&flags).await.err().unwrap();
        assert_eq!(
            start.elapsed(),
            ms(10),
            "the run does not wait for the sibling"
        );
        assert_eq!(err.kind(), ErrorKind::NodePanicked);
        assert_eq!(err.node_name(), Some("broken"));
        assert_eq!(
            anyhow_chain(&err),
            "node `broken` of workflow `panicky` panicked: index out of range"
        );
        let panicked = std::error::Error::source(&err)
            .unwrap()
            .downcast_ref::<flow_runtime::error::Panicked>()
            .unwrap();
        assert_eq!(panicked.message(), "index out of range");
        assert_eq!(flags.sibling_dropped.get(), 1);
    }

    pub struct Guarded;

    #[node(timeout = "1s", continue_on_error)]
    async fn guarded_panic(_f: &Flags) -> Guarded {
        panic!("inside a policy")
    }
    #[node]
    async fn after_guarded(g: Result<&Guarded, &NodeError>) -> Both {
        assert_eq!(g.err().unwrap().kind(), ErrorKind::NodePanicked);
        Both
    }

    #[workflow(guarded_panic, after_guarded)]
    pub async fn tolerated_panic(f: &Flags) -> Both;

    #[tokio::test(start_paused = true)]
    async fn a_tolerated_node_may_panic_too() {
        let flags = Flags {
            sibling_dropped: Counter::default(),
        };
        assert!(tolerated_panic(&flags).await.is_ok());
    }
}

mod runs {
    use super::*;

    pub struct Probe {
        pub dropped: Counter,
        pub contexts: Mutex<Vec<String>>,
    }
    pub struct Slow;

    #[node]
    async fn slow(p: &Probe, ctx: &RunContext) -> Slow {
        p.contexts.lock().unwrap().push(format!(
            "{} {} {} {}",
            ctx.workflow(),
            ctx.run_id(),
            ctx.node_name(),
            ctx.attempt()
        ));
        let guard = DropGuard(&p.dropped);
        sleep_ms(1_000).await;
        std::mem::forget(guard);
        Slow
    }

    #[workflow(slow, name = "slow-run")]
    pub async fn slow_run(p: &Probe) -> Slow;

    #[workflow(slow, timeout = "100ms")]
    pub async fn short_run(p: &Probe) -> Slow;

    fn probe() -> Probe {
        Probe {
            dropped: Counter::default(),
            contexts: Mutex::new(Vec::new()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_workflow_timeout_ends_the_run() {
        let p = probe();
        let start = Instant::now();
        let err = short_run(&p).await.err().unwrap();
        assert_eq!(start.elapsed(), ms(100));
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(err.node_name(), None);
        assert_eq!(
            anyhow_chain(&err),
            "workflow `short_run` timed out: took longer than 100ms"
        );
        assert_eq!(p.dropped.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn per_call_deadline_and_run_id() {
        let p = probe();
        let start = Instant::now();
        let options = RunOptions::new().run_id("order-42").timeout(ms(250));
        let err = slow_run::run(options, &p).await.err().unwrap();
        assert_eq!(start.elapsed(), ms(250));
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(
            *p.contexts.lock().unwrap(),
            vec!["slow-run order-42 slow 1".to_string()]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_the_token_stops_every_node_promptly() {
        let p = probe();
        let token = CancellationToken::new();
        let start = Instant::now();
        let options = RunOptions::new().cancellation_token(token.clone());
        let run = slow_run::run(options, &p);
        let cancel = async {
            sleep_ms(30).await;
            token.cancel();
        };
        let (result, ()) = tokio::join!(run, cancel);
        let err = result.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        assert_eq!(err.to_string(), "workflow `slow-run` was cancelled");
        assert_eq!(start.elapsed(), ms(30));
        assert_eq!(p.dropped.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_run_stops_its_nodes() {
        let p = probe();
        let _ = tokio::time::timeout(ms(20), slow_run(&p)).await;
        assert_eq!(p.dropped.get(), 1);
    }

    pub struct Watched;

    #[node]
    async fn watcher(seen: &Mutex<Option<CancellationToken>>, ctx: &RunContext) -> Watched {
        *seen.lock().unwrap() = Some(ctx.cancellation_token().clone());
        sleep_ms(1_000).await;
        Watched
    }

    #[workflow(watcher)]
    pub async fn watched(seen: &Mutex<Option<CancellationToken>>) -> Watched;

    #[tokio::test(start_paused = true)]
    async fn a_nodes_token_is_cancelled_when_its_run_is_dropped() {
        let seen = Mutex::new(None);
        let _ = tokio::time::timeout(ms(20), watched(&seen)).await;
        let token = seen.lock().unwrap().clone().unwrap();
        assert!(token.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn runs_without_an_id_are_numbered() {
        let p = probe();
        let _ = tokio::time::timeout(ms(10), slow_run(&p)).await;
        let seen = p.contexts.lock().unwrap()[0].clone();
        let id = seen.split(' ').nth(1).unwrap();
        assert!(id.starts_with("run-"), "{id}");
    }
}

mod kept_outputs {
    use super::*;

    pub struct Seed(pub u32);
    pub struct Total(pub u32);

    async fn forget_total(_t: &Total) -> Result<(), Boom> {
        Ok(())
    }

    #[node]
    async fn seed(x: &u32) -> Seed {
        Seed(*x)
    }
    #[node(compensate = forget_total)]
    async fn total(s: &Seed) -> Total {
        Total(s.0 * 2)
    }

    #[workflow(seed, total)]
    pub async fn compensated_output(x: u32) -> Total;

    #[tokio::test(start_paused = true)]
    async fn a_compensated_node_can_be_the_output() {
        assert_eq!(compensated_output(21).await.unwrap().0, 42);
    }

    pub struct Maybe(pub u32);
    pub struct Seen;

    #[node(continue_on_error)]
    async fn maybe(x: &u32) -> Result<Maybe, Boom> {
        if *x == 0 {
            Err(Boom("zero"))
        } else {
            Ok(Maybe(*x))
        }
    }
    #[node]
    async fn seen(x: &u32, m: Option<&Maybe>) -> Seen {
        assert_eq!(
            m.is_some(),
            *x != 0,
            "the consumer sees the failure as None"
        );
        Seen
    }

    #[workflow(maybe, seen)]
    pub async fn tolerated_output(x: u32) -> Maybe;

    #[tokio::test(start_paused = true)]
    async fn a_tolerated_output_that_failed_fails_the_run() {
        assert_eq!(tolerated_output(5).await.unwrap().0, 5);
        let err = tolerated_output(0).await.err().unwrap();
        assert_eq!(err.node_name(), Some("maybe"));
        assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "zero");
    }
}

/// Workflows with kept outputs (compensation, tolerated failures), policies and the run
/// context are `Send` too.
#[test]
fn futures_with_policies_and_kept_outputs_are_send() {
    fn assert_send<F: Send>(_: &F) {}
    let saga = compensation::Saga {
        c_delay: 0,
        fail_b_undo: false,
        c_dropped: Counter::default(),
    };
    assert_send(&compensation::saga(&saga));
    let probe = partial::Probe {
        fail: false,
        optional_runs: Counter::default(),
        result_runs: Counter::default(),
        seen: Mutex::new(Vec::new()),
    };
    assert_send(&partial::storefront(&probe));
    assert_send(&partial::storefront::run(RunOptions::new(), &probe));
    let runs = runs::Probe {
        dropped: Counter::default(),
        contexts: Mutex::new(Vec::new()),
    };
    assert_send(&runs::short_run(&runs));
}
