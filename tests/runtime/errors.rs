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
        assert_eq!(err.node().unwrap().fn_name(), "finish");
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
