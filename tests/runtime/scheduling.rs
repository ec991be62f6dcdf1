//! Scheduling: exactly once, dataflow start, real overlap, critical-path makespan.

use crate::common::{Counter, Log, ms, sleep_ms};
use flow_runtime::{node, workflow};
use tokio::time::Instant;

/// P-CONSENSUS: a join with three inputs runs once, after all three, whatever order and
/// delays they finish in.
mod consensus {
    use super::*;

    pub struct Probe {
        pub delays: [u64; 3],
        pub log: Log,
        pub calls: Counter,
    }
    pub struct A(pub u64);
    pub struct B(pub u64);
    pub struct C(pub u64);
    #[derive(Debug, PartialEq)]
    pub struct Verdict(pub Vec<u64>);

    #[node]
    async fn a(p: &Probe) -> A {
        sleep_ms(p.delays[0]).await;
        p.log.record("a", "end");
        A(1)
    }
    #[node]
    async fn b(p: &Probe) -> B {
        sleep_ms(p.delays[1]).await;
        p.log.record("b", "end");
        B(2)
    }
    #[node]
    async fn c(p: &Probe) -> C {
        sleep_ms(p.delays[2]).await;
        p.log.record("c", "end");
        C(3)
    }
    #[node]
    async fn vote(p: &Probe, a: &A, b: &B, c: &C) -> Verdict {
        p.calls.hit();
        p.log.record("vote", "start");
        Verdict(vec![a.0, b.0, c.0])
    }

    #[workflow(a, b, c, vote)]
    pub async fn consensus(p: &Probe) -> Verdict;

    #[tokio::test(start_paused = true)]
    async fn join_runs_once_after_all_inputs_in_every_order() {
        let orders: [[u64; 3]; 7] = [
            [10, 20, 30],
            [10, 30, 20],
            [20, 10, 30],
            [20, 30, 10],
            [30, 10, 20],
            [30, 20, 10],
            [10, 10, 100],
        ];
        for delays in orders {
            let probe = Probe {
                delays,
                log: Log::new(),
                calls: Counter::default(),
            };
            let verdict = consensus(&probe).await.unwrap();
            assert_eq!(verdict, Verdict(vec![1, 2, 3]), "delays {delays:?}");
            assert_eq!(probe.calls.get(), 1, "delays {delays:?}");
            let last = delays.iter().max().copied().unwrap();
            assert_eq!(probe.log.at("vote", "start"), ms(last), "delays {delays:?}");
        }
    }
}

/// P-SCHED: `root -> {fast -> after_fast, slow}`: `after_fast` does not wait for `slow`.
mod dataflow_start {
    use super::*;
    use tokio::sync::Notify;

    pub struct Probe {
        pub log: Log,
        pub after_fast_done: Notify,
    }
    pub struct Root;
    pub struct Fast;
    pub struct AfterFast;
    pub struct Slow;
    pub struct Done(pub &'static str);

    #[node]
    async fn root(p: &Probe) -> Root {
        sleep_ms(10).await;
        p.log.record("root", "end");
        Root
    }
    #[node]
    async fn fast(p: &Probe, _r: &Root) -> Fast {
        sleep_ms(10).await;
        p.log.record("fast", "end");
        Fast
    }
    #[node]
    async fn after_fast(p: &Probe, _f: &Fast) -> AfterFast {
        sleep_ms(10).await;
        p.log.record("after_fast", "end");
        p.after_fast_done.notify_one();
        AfterFast
    }
    /// Cannot finish before `after_fast` has: a level-by-level scheduler would deadlock.
    #[node]
    async fn slow(p: &Probe, _r: &Root) -> Slow {
        p.after_fast_done.notified().await;
        sleep_ms(20).await;
        p.log.record("slow", "end");
        Slow
    }
    #[node]
    async fn done(_a: &AfterFast, _s: &Slow) -> Done {
        Done("done")
    }

    #[workflow(root, fast, after_fast, slow, done)]
    pub async fn skewed(p: &Probe) -> Done;

    #[tokio::test(start_paused = true)]
    async fn a_node_starts_when_its_own_inputs_exist() {
        let probe = Probe {
            log: Log::new(),
            after_fast_done: Notify::new(),
        };
        let start = Instant::now();
        assert_eq!(skewed(&probe).await.unwrap().0, "done");
        assert_eq!(probe.log.at("after_fast", "end"), ms(30));
        assert_eq!(probe.log.at("slow", "end"), ms(50));
        assert_eq!(
            probe.log.order("end"),
            ["root", "fast", "after_fast", "slow"]
        );
        assert_eq!(start.elapsed(), ms(50));
    }
}

/// P-PARALLEL: independent nodes overlap, proven by two nodes that each wait for the other.
mod overlap {
    use super::*;
    use tokio::sync::Notify;

    pub struct Signals {
        pub to_left: Notify,
        pub to_right: Notify,
    }
    pub struct Left;
    pub struct Right;
    pub struct Both;

    #[node]
    async fn left(s: &Signals) -> Left {
        s.to_right.notify_one();
        s.to_left.notified().await;
        Left
    }
    #[node]
    async fn right(s: &Signals) -> Right {
        s.to_left.notify_one();
        s.to_right.notified().await;
        Right
    }
    #[node]
    async fn both(_l: &Left, _r: &Right) -> Both {
        Both
    }

    #[workflow(left, right, both)]
    pub async fn handshake(s: &Signals) -> Both;

    #[tokio::test]
    async fn two_nodes_waiting_for_each_other_both_finish() {
        let signals = Signals {
            to_left: Notify::new(),
            to_right: Notify::new(),
        };
        let run = handshake(&signals);
        tokio::time::timeout(std::time::Duration::from_secs(5), run)
            .await
            .expect("the two nodes did not run concurrently")
            .unwrap();
    }

    pub struct Input;
    pub struct S1;
    pub struct S2;
    pub struct S3;
    pub struct Sum(pub u32);

    #[node]
    async fn s1(_i: &Input) -> S1 {
        sleep_ms(100).await;
        S1
    }
    #[node]
    async fn s2(_i: &Input) -> S2 {
        sleep_ms(100).await;
        S2
    }
    #[node]
    async fn s3(_i: &Input) -> S3 {
        sleep_ms(100).await;
        S3
    }
    #[node]
    async fn sum(_a: &S1, _b: &S2, _c: &S3) -> Sum {
        Sum(3)
    }

    /// P-ROOTS: several roots taking only the workflow input, joined.
    #[workflow(s1, s2, s3, sum)]
    pub async fn three_sleeps(i: Input) -> Sum;

    #[tokio::test(start_paused = true)]
    async fn three_sleeps_take_one_sleep() {
        let start = Instant::now();
        assert_eq!(three_sleeps(Input).await.unwrap().0, 3);
        assert_eq!(start.elapsed(), ms(100));
    }
}

/// P-WIDTH: 64 independent nodes in one workflow compile, and all run at once (a barrier
/// of 64 would never open otherwise).
mod wide {
    use super::*;
    use tokio::sync::Barrier;

    pub struct Gate(pub Barrier);

    macro_rules! wide {
        ($($n:ident $t:ident $v:literal),*) => {
            $(
                pub struct $t(pub u64);
                #[node]
                async fn $n(g: &Gate) -> $t {
                    g.0.wait().await;
                    $t($v)
                }
            )*
            #[node]
            #[allow(clippy::too_many_arguments)]
            async fn total($($n: &$t),*) -> u64 {
                0 $(+ $n.0)*
            }
            #[workflow($($n,)* total)]
            pub async fn sixty_four(g: &Gate) -> u64;
        };
    }

    wide!(
        n0 T0 0, n1 T1 1, n2 T2 2, n3 T3 3, n4 T4 4, n5 T5 5, n6 T6 6, n7 T7 7,
        n8 T8 8, n9 T9 9, n10 T10 10, n11 T11 11, n12 T12 12, n13 T13 13, n14 T14 14, n15 T15 15,
        n16 T16 16, n17 T17 17, n18 T18 18, n19 T19 19, n20 T20 20, n21 T21 21, n22 T22 22, n23 T23 23,
        n24 T24 24, n25 T25 25, n26 T26 26, n27 T27 27, n28 T28 28, n29 T29 29, n30 T30 30, n31 T31 31,
        n32 T32 32, n33 T33 33, n34 T34 34, n35 T35 35, n36 T36 36, n37 T37 37, n38 T38 38, n39 T39 39,
        n40 T40 40, n41 T41 41, n42 T42 42, n43 T43 43, n44 T44 44, n45 T45 45, n46 T46 46, n47 T47 47,
        n48 T48 48, n49 T49 49, n50 T50 50, n51 T51 51, n52 T52 52, n53 T53 53, n54 T54 54, n55 T55 55,
        n56 T56 56, n57 T57 57, n58 T58 58, n59 T59 59, n60 T60 60, n61 T61 61, n62 T62 62, n63 T63 63
    );

    #[tokio::test]
    async fn sixty_four_independent_nodes_run_at_once() {
        let gate = Gate(Barrier::new(64));
        let total = tokio::time::timeout(std::time::Duration::from_secs(5), sixty_four(&gate))
            .await
            .expect("the 64 nodes did not all run at once")
            .unwrap();
        assert_eq!(total, (0..64).sum::<u64>());
        assert_eq!(sixty_four::graph().nodes().len(), 65);
    }
}

/// P-DEDUP and P-VISIBILITY: a shared node runs once and its consumers see its output; a
/// chain sees each upstream output.
mod sharing {
    use super::*;

    pub struct Calls {
        pub x: Counter,
    }
    pub struct X(pub u32);
    pub struct Y(pub u32);
    pub struct Z(pub u32);
    pub struct Pair(pub u32, pub u32);

    #[node]
    async fn x(c: &Calls) -> X {
        c.x.hit();
        X(7)
    }
    #[node]
    async fn y(x: &X) -> Y {
        Y(x.0 * 10)
    }
    #[node]
    async fn z(x: &X, y: &Y) -> Z {
        Z(x.0 + y.0)
    }
    #[node]
    async fn pair(y: &Y, z: &Z) -> Pair {
        Pair(y.0, z.0)
    }

    #[workflow(x, y, z, pair)]
    pub async fn shared(c: &Calls) -> Pair;

    #[tokio::test]
    async fn a_shared_node_runs_once_and_downstream_sees_upstream() {
        let calls = Calls {
            x: Counter::default(),
        };
        let Pair(y, z) = shared(&calls).await.unwrap();
        assert_eq!((y, z), (70, 77));
        assert_eq!(calls.x.get(), 1);
        // The node functions stay directly callable.
        assert_eq!(self::y(&X(2)).await.0, 20);
    }
}

/// A graph that is not series-parallel (an "N": `c <- a -> d <- b -> e`) still starts every
/// node on its own inputs.
mod not_series_parallel {
    use super::*;
    use tokio::sync::Notify;

    pub struct Probe {
        pub log: Log,
        pub c_done: Notify,
    }
    pub struct A;
    pub struct B;
    pub struct C;
    pub struct D;
    pub struct E;
    pub struct Out(pub &'static str);

    #[node]
    async fn a(p: &Probe) -> A {
        sleep_ms(10).await;
        p.log.record("a", "end");
        A
    }
    /// Cannot finish before `c`, which needs only `a`.
    #[node]
    async fn b(p: &Probe) -> B {
        p.c_done.notified().await;
        sleep_ms(30).await;
        p.log.record("b", "end");
        B
    }
    #[node]
    async fn c(p: &Probe, _a: &A) -> C {
        sleep_ms(10).await;
        p.log.record("c", "end");
        p.c_done.notify_one();
        C
    }
    #[node]
    async fn d(p: &Probe, _a: &A, _b: &B) -> D {
        sleep_ms(10).await;
        p.log.record("d", "end");
        D
    }
    #[node]
    async fn e(p: &Probe, _b: &B) -> E {
        sleep_ms(5).await;
        p.log.record("e", "end");
        E
    }
    #[node]
    async fn out(_c: &C, _d: &D, _e: &E) -> Out {
        Out("out")
    }

    #[workflow(a, b, c, d, e, out)]
    pub async fn n_shape(p: &Probe) -> Out;

    #[tokio::test(start_paused = true)]
    async fn every_node_starts_on_its_own_inputs() {
        let probe = Probe {
            log: Log::new(),
            c_done: Notify::new(),
        };
        let start = Instant::now();
        assert_eq!(n_shape(&probe).await.unwrap().0, "out");
        assert_eq!(probe.log.at("a", "end"), ms(10));
        assert_eq!(probe.log.at("c", "end"), ms(20));
        assert_eq!(probe.log.at("b", "end"), ms(50));
        assert_eq!(probe.log.at("e", "end"), ms(55));
        assert_eq!(probe.log.at("d", "end"), ms(60));
        assert_eq!(start.elapsed(), ms(60));
        for node in ["a", "b", "c", "d", "e"] {
            assert_eq!(probe.log.count(node, "end"), 1);
        }
    }
}

/// Nodes returning `()` run for their effects; a workflow may return `()`; inputs may be
/// taken by reference.
mod effects {
    use super::*;

    pub struct Config(pub u32);
    pub struct Sink {
        pub writes: Counter,
    }

    #[node]
    async fn write_a(_c: &Config, s: &Sink) {
        s.writes.hit();
    }
    #[node]
    async fn write_b(c: &Config, s: &Sink) -> Result<(), std::io::Error> {
        if c.0 == 0 {
            return Err(std::io::Error::other("zero"));
        }
        s.writes.hit();
        Ok(())
    }

    #[workflow(write_a, write_b)]
    pub async fn write_both(c: &Config, s: &Sink);

    #[tokio::test]
    async fn unit_nodes_run_and_their_errors_count() {
        let sink = Sink {
            writes: Counter::default(),
        };
        let () = write_both(&Config(1), &sink).await.unwrap();
        assert_eq!(sink.writes.get(), 2);
        let err = write_both(&Config(0), &sink).await.unwrap_err();
        assert_eq!(err.node_name(), Some("write_b"));
        assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "zero");
    }
}

/// P-ORDER: the same inputs give the same outputs whatever the completion order.
mod determinism {
    use super::*;

    pub struct Delays(pub [u64; 4]);
    pub struct P(pub String);
    pub struct Q(pub String);
    pub struct R(pub String);
    pub struct S(pub String);
    #[derive(Debug, PartialEq, Eq)]
    pub struct Merged(pub String);

    #[node]
    async fn p(d: &Delays) -> P {
        sleep_ms(d.0[0]).await;
        P("p".into())
    }
    #[node]
    async fn q(d: &Delays, p: &P) -> Q {
        sleep_ms(d.0[1]).await;
        Q(format!("q({})", p.0))
    }
    #[node]
    async fn r(d: &Delays) -> R {
        sleep_ms(d.0[2]).await;
        R("r".into())
    }
    #[node]
    async fn s(d: &Delays, r: &R) -> S {
        sleep_ms(d.0[3]).await;
        S(format!("s({})", r.0))
    }
    #[node]
    async fn merged(q: &Q, s: &S, p: &P, r: &R) -> Merged {
        Merged(format!("{} {} {} {}", q.0, s.0, p.0, r.0))
    }

    #[workflow(p, q, r, s, merged)]
    pub async fn merge_all(d: Delays) -> Merged;

    #[tokio::test(start_paused = true)]
    async fn outputs_do_not_depend_on_completion_order() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % 50
        };
        let expected = Merged("q(p) s(r) p r".into());
        for _ in 0..100 {
            let delays = Delays([next(), next(), next(), next()]);
            assert_eq!(merge_all(delays).await.unwrap(), expected);
        }
    }
}

/// Generated workflow futures are `Send` when their inputs are, so they can be spawned.
#[test]
fn workflow_futures_are_send() {
    fn assert_send<F: Send>(_: &F) {}
    let probe = not_series_parallel::Probe {
        log: Log::new(),
        c_done: tokio::sync::Notify::new(),
    };
    let future = not_series_parallel::n_shape(&probe);
    assert_send(&future);
}
