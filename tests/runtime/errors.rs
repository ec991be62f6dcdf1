//! Fail-fast: the first error ends the run, names its node and keeps its cause.

use crate::common::{Counter, DropGuard, Log, ms, sleep_ms};
use flow_runtime::{ErrorKind, node, workflow};
use std::error::Error as _;
use tokio::time::Instant;

#[derive(Debug, PartialEq)]
pub struct Boom(pub &'static str);
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "boom: {}", self.0)
    }
}
impl std::error::Error for Boom {}

/// P-FAILFAST: `b` fails at 10 ms while `a` would finish at 100 ms: the run returns `b`'s
/// error at 10 ms, `a` is dropped mid-flight, and nodes after it never start.
mod fail_fast {
    use super::*;

    pub struct Probe {
        pub log: Log,
        pub a_dropped: Counter,
        pub after_a: Counter,
        pub after_b: Counter,
    }
    pub struct A;
    pub struct B;
    pub struct AfterA;
    pub struct AfterB;
    pub struct End;

    #[node]
    async fn a(p: &Probe) -> A {
        let _guard = DropGuard(&p.a_dropped);
        p.log.record("a", "start");
        sleep_ms(100).await;
        p.log.record("a", "end");
        std::mem::forget(_guard);
        A
    }
    #[node]
    async fn b(p: &Probe) -> Result<B, Boom> {
        p.log.record("b", "start");
        sleep_ms(10).await;
        Err(Boom("b"))
    }
    #[node]
    async fn after_a(p: &Probe, _a: &A) -> AfterA {
        p.after_a.hit();
        AfterA
    }
    #[node]
    async fn after_b(p: &Probe, _b: &B) -> AfterB {
        p.after_b.hit();
        AfterB
    }
    #[node]
    async fn end(_a: &AfterA, _b: &AfterB) -> End {
        End
    }

    #[workflow(a, b, after_a, after_b, end)]
    pub async fn race_to_fail(p: &Probe) -> End;

    #[tokio::test(start_paused = true)]
    async fn first_error_ends_the_run_and_drops_siblings() {
        let probe = Probe {
            log: Log::new(),
            a_dropped: Counter::default(),
            after_a: Counter::default(),
            after_b: Counter::default(),
        };
        let start = Instant::now();
        let err = race_to_fail(&probe).await.err().expect("the run must fail");
        assert_eq!(start.elapsed(), ms(10));
        assert_eq!(err.kind(), ErrorKind::NodeFailed);
        assert_eq!(err.node_name(), Some("b"));
        assert_eq!(err.workflow(), "race_to_fail");
        assert_eq!(
            err.to_string(),
            "node `b` of workflow `race_to_fail` failed"
        );
        let cause = err.source().expect("the cause is kept");
        assert_eq!(cause.downcast_ref::<Boom>(), Some(&Boom("b")));
        assert_eq!(probe.log.count("a", "start"), 1);
        assert_eq!(probe.log.count("a", "end"), 0);
        assert_eq!(probe.a_dropped.get(), 1, "the in-flight sibling is dropped");
        assert_eq!(probe.after_a.get(), 0);
        assert_eq!(probe.after_b.get(), 0);
        // Nothing keeps running after the error: later time passes with no more events.
        tokio::time::sleep(ms(500)).await;
        assert_eq!(probe.log.count("a", "end"), 0);
    }
}

/// P-WHICH-ERROR: when several nodes fail, the first failure in time is reported, whatever
/// their order in the list; ties go to the node listed first.
mod which_error {
    use super::*;

    pub struct Delays(pub u64, pub u64);
    pub struct X;
    pub struct Y;
    pub struct Z;

    #[node]
    async fn x(d: &Delays) -> Result<X, Boom> {
        sleep_ms(d.0).await;
        Err(Boom("x"))
    }
    #[node]
    async fn y(d: &Delays) -> Result<Y, Boom> {
        sleep_ms(d.1).await;
        Err(Boom("y"))
    }
    #[node]
    async fn z(_x: &X, _y: &Y) -> Z {
        Z
    }

    #[workflow(x, y, z)]
    pub async fn two_failures(d: Delays) -> Z;

    #[tokio::test(start_paused = true)]
    async fn the_first_failure_in_time_wins() {
        let err = two_failures(Delays(30, 10)).await.err().unwrap();
        assert_eq!(err.node_name(), Some("y"));
        let err = two_failures(Delays(10, 30)).await.err().unwrap();
        assert_eq!(err.node_name(), Some("x"));
        let err = two_failures(Delays(10, 10)).await.err().unwrap();
        assert_eq!(err.node_name(), Some("x"));
    }
}

/// Error types: any `E: Error + Send + Sync + 'static`, `String` and boxed errors.
mod error_types {
    use super::*;

    pub struct In(pub u8);
    pub struct S;
    pub struct Bx;
    pub struct Out;

    #[node]
    async fn stringly(i: &In) -> Result<S, String> {
        if i.0 == 1 {
            Err("a plain string".to_string())
        } else {
            Ok(S)
        }
    }
    #[node]
    async fn boxed(i: &In, _s: &S) -> Result<Bx, Box<dyn std::error::Error + Send + Sync>> {
        if i.0 == 2 {
            Err(Box::new(Boom("boxed")))
        } else {
            Ok(Bx)
        }
    }
    #[node(name = "finish-line")]
    async fn finish(i: &In, _b: &Bx) -> std::io::Result<Out> {
        if i.0 == 3 {
            Err(std::io::Error::other("io"))
        } else {
            Ok(Out)
        }
    }

    #[workflow(stringly, boxed, finish, name = "error-types")]
    pub async fn error_types(i: In) -> Out;

    #[tokio::test]
    async fn every_supported_error_type_is_reported_with_its_node() {
        assert!(error_types(In(0)).await.is_ok());

        let err = error_types(In(1)).await.err().unwrap();
        assert_eq!(err.node_name(), Some("stringly"));
        assert_eq!(err.workflow(), "error-types");
        assert_eq!(err.source().unwrap().to_string(), "a plain string");

        let err = error_types(In(2)).await.err().unwrap();
        assert_eq!(err.node_name(), Some("boxed"));
        assert_eq!(
            err.source().unwrap().downcast_ref::<Boom>(),
            Some(&Boom("boxed"))
        );

        let err = error_types(In(3)).await.err().unwrap();
        assert_eq!(err.node_name(), Some("finish-line"));
        assert_eq!(err.node_info().unwrap().fn_name(), "finish");
        let io = err
            .into_source()
            .unwrap()
            .downcast::<std::io::Error>()
            .unwrap();
        assert_eq!(io.to_string(), "io");
    }
}

/// Fail-fast inside a graph that is not series-parallel (`c <- a -> d <- b -> e`): the error
/// ends the run at once, in-flight nodes are dropped, dependants never start.
mod dataflow_failure {
    use super::*;

    pub struct Probe {
        pub b_dropped: Counter,
        pub started: Log,
    }
    pub struct A;
    pub struct B;
    pub struct C;
    pub struct D;
    pub struct E;
    pub struct Out;

    #[node]
    async fn a(p: &Probe) -> A {
        p.started.record("a", "start");
        sleep_ms(10).await;
        A
    }
    #[node]
    async fn b(p: &Probe) -> B {
        let guard = DropGuard(&p.b_dropped);
        p.started.record("b", "start");
        sleep_ms(100).await;
        std::mem::forget(guard);
        B
    }
    #[node]
    async fn c(p: &Probe, _a: &A) -> Result<C, Boom> {
        p.started.record("c", "start");
        sleep_ms(10).await;
        Err(Boom("c"))
    }
    #[node]
    async fn d(p: &Probe, _a: &A, _b: &B) -> D {
        p.started.record("d", "start");
        D
    }
    #[node]
    async fn e(p: &Probe, _b: &B) -> E {
        p.started.record("e", "start");
        E
    }
    #[node]
    async fn out(p: &Probe, _c: &C, _d: &D, _e: &E) -> Out {
        p.started.record("out", "start");
        Out
    }

    #[workflow(a, b, c, d, e, out)]
    pub async fn n_shape_failing(p: &Probe) -> Out;

    #[tokio::test(start_paused = true)]
    async fn an_error_in_a_dataflow_join_ends_the_run() {
        let probe = Probe {
            b_dropped: Counter::default(),
            started: Log::new(),
        };
        let start = Instant::now();
        let err = n_shape_failing(&probe).await.err().unwrap();
        assert_eq!(start.elapsed(), ms(20));
        assert_eq!(err.node_name(), Some("c"));
        assert_eq!(
            err.source().unwrap().downcast_ref::<Boom>(),
            Some(&Boom("c"))
        );
        assert_eq!(probe.b_dropped.get(), 1);
        for never in ["d", "e", "out"] {
            assert_eq!(probe.started.count(never, "start"), 0, "{never} started");
        }
    }
}

/// Each level of an error says what happened there, and `source()` carries the cause: the
/// chains read well in `{:#}` and `{:?}`, for every kind.
mod chains {
    use super::*;
    use flow_runtime::{CancellationToken, RunOptions};

    fn chain(e: flow_runtime::Error) -> (String, String, String) {
        let top = e.to_string();
        let e = anyhow::Error::new(e);
        // (Without the backtrace anyhow adds when `RUST_BACKTRACE` is set.)
        let debug = format!("{e:?}");
        let debug = debug
            .split("\n\nStack backtrace:")
            .next()
            .unwrap_or_default();
        (top, format!("{e:#}"), debug.to_string())
    }

    pub struct V;

    #[node]
    async fn fails(_: &u8) -> Result<V, Boom> {
        Err(Boom("disk full"))
    }
    #[workflow(fails)]
    pub async fn failing(x: u8) -> V;

    #[node(retry(max_attempts = 3, initial = "1ms"))]
    async fn retries(_: &u8) -> Result<V, Boom> {
        Err(Boom("disk full"))
    }
    #[workflow(retries)]
    pub async fn retrying(x: u8) -> V;

    #[node(timeout = "20ms")]
    async fn slow(_: &u8) -> V {
        sleep_ms(50).await;
        V
    }
    #[workflow(slow)]
    pub async fn timing_out(x: u8) -> V;

    #[node]
    async fn boom(_: &u8) -> V {
        panic!("boom at {}", 1)
    }
    #[workflow(boom)]
    pub async fn panicking(x: u8) -> V;

    #[workflow(slow, timeout = "5ms")]
    pub async fn short(x: u8) -> V;

    #[node]
    async fn nothing(_: &u8) -> Option<V> {
        None
    }
    #[workflow(nothing)]
    pub async fn skipping(x: u8) -> V;

    pub struct W;
    async fn undo(_: &W) -> Result<(), Boom> {
        Err(Boom("cannot undo"))
    }
    #[node(compensate = undo)]
    async fn done(_: &u8) -> W {
        W
    }
    #[node]
    async fn after(_: &W) -> Result<V, Boom> {
        Err(Boom("disk full"))
    }
    #[workflow(done, after)]
    pub async fn compensating(x: u8) -> V;

    #[node]
    async fn first(_: &u8) -> Result<V, Boom> {
        Err(Boom("refused"))
    }
    #[node(timeout = "20ms")]
    async fn second(_: &u8) -> Result<V, Boom> {
        sleep_ms(50).await;
        Ok(V)
    }
    #[workflow(race(first, second))]
    pub async fn racing(x: u8) -> V;

    #[tokio::test(start_paused = true)]
    async fn every_kind_reads_well_in_a_chain() {
        let (top, alt, debug) = chain(failing(0).await.err().unwrap());
        assert_eq!(top, "node `fails` of workflow `failing` failed");
        assert_eq!(
            alt,
            "node `fails` of workflow `failing` failed: boom: disk full"
        );
        assert_eq!(
            debug,
            "node `fails` of workflow `failing` failed\n\nCaused by:\n    boom: disk full"
        );

        let (_, alt, _) = chain(retrying(0).await.err().unwrap());
        assert_eq!(
            alt,
            "node `retries` of workflow `retrying` failed after 3 attempts: boom: disk full"
        );

        let (top, alt, _) = chain(timing_out(0).await.err().unwrap());
        assert_eq!(
            top,
            "node `slow` of workflow `timing_out` timed out on attempt 1"
        );
        assert_eq!(
            alt,
            "node `slow` of workflow `timing_out` timed out on attempt 1: took longer than 20ms"
        );

        let (top, alt, debug) = chain(panicking(0).await.err().unwrap());
        assert_eq!(top, "node `boom` of workflow `panicking` panicked");
        assert_eq!(
            alt,
            "node `boom` of workflow `panicking` panicked: boom at 1"
        );
        assert_eq!(
            debug,
            "node `boom` of workflow `panicking` panicked\n\nCaused by:\n    boom at 1"
        );

        let token = CancellationToken::new();
        token.cancel();
        let err = failing::run(RunOptions::new().cancellation_token(token), 0)
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        let (_, alt, _) = chain(err);
        assert_eq!(
            alt,
            "workflow `failing` was cancelled: its cancellation token was cancelled"
        );

        let (top, alt, _) = chain(short(0).await.err().unwrap());
        assert_eq!(top, "workflow `short` timed out");
        assert_eq!(alt, "workflow `short` timed out: took longer than 5ms");

        let (top, alt, _) = chain(skipping(0).await.err().unwrap());
        assert_eq!(top, "workflow `skipping` produced no output");
        assert_eq!(
            alt,
            "workflow `skipping` produced no output: node `nothing` was skipped because it returned `None`"
        );

        let err = compensating(0).await.err().unwrap();
        let compensation = &err.compensation_errors()[0];
        assert_eq!(compensation.kind(), ErrorKind::CompensationFailed);
        assert_eq!(
            format!("{compensation:#}").replace(&compensation.to_string(), "<top>"),
            "<top>"
        );
        assert_eq!(
            compensation.to_string(),
            "compensation of node `done` of workflow `compensating` failed"
        );
        assert_eq!(
            std::error::Error::source(compensation).unwrap().to_string(),
            "boom: cannot undo"
        );

        let err = racing(0).await.err().unwrap();
        assert_eq!(err.causes().len(), 2);
        let (top, alt, debug) = chain(err);
        assert_eq!(top, "race `first | second` of workflow `racing` failed");
        assert_eq!(
            alt,
            "race `first | second` of workflow `racing` failed: all 2 members failed: \
             node `first` of workflow `racing` failed: boom: refused; \
             node `second` of workflow `racing` timed out on attempt 1: took longer than 20ms"
        );
        assert!(debug.contains("Caused by:\n    all 2 members failed: node `first`"));
    }

    #[test]
    fn no_text_repeats_its_source() {
        fn check(e: &dyn std::error::Error) {
            let mut level: &dyn std::error::Error = e;
            while let Some(source) = level.source() {
                assert!(
                    !level.to_string().contains(&source.to_string()),
                    "`{level}` repeats its source `{source}`"
                );
                level = source;
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            check(&failing(0).await.err().unwrap());
            check(&timing_out(0).await.err().unwrap());
            check(&panicking(0).await.err().unwrap());
            check(&short(0).await.err().unwrap());
            check(&skipping(0).await.err().unwrap());
            check(&racing(0).await.err().unwrap());
        });
    }
}
