//! The contract at its edges: compensation order among parallel nodes, failures at the same
//! instant, what a cancelled retry counts, the order of `others()`, when a node is skipped,
//! and what happens at the instant a run ends.

use crate::common::*;
use flow_runtime::events::{EventKind, Recorder};
use flow_runtime::{ErrorKind, NodeError, RunOptions, node, workflow};
use std::sync::Mutex;

pub use crate::failures::Boom;

/// Compensations run in reverse *completion* order, whatever the list order.
mod parallel_compensation {
    use super::*;

    pub struct A;
    pub struct B;
    pub struct C;
    pub struct Out;

    pub struct Undone(pub Mutex<Vec<&'static str>>);
    impl Undone {
        fn take(&self) -> Vec<&'static str> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }
    static UNDONE: Undone = Undone(Mutex::new(Vec::new()));

    async fn undo_a(_: &A) -> Result<(), Boom> {
        UNDONE.0.lock().unwrap().push("undo_a");
        Ok(())
    }
    async fn undo_b(_: &B) -> Result<(), Boom> {
        UNDONE.0.lock().unwrap().push("undo_b");
        Ok(())
    }

    /// Ends at 20 ms.
    #[node(compensate = undo_a)]
    async fn a(_: &u8) -> A {
        sleep_ms(20).await;
        A
    }
    /// Ends at 10 ms.
    #[node(compensate = undo_b)]
    async fn b(_: &u8) -> B {
        sleep_ms(10).await;
        B
    }
    /// Fails at 30 ms.
    #[node]
    async fn c(_: &u8) -> Result<C, Boom> {
        sleep_ms(30).await;
        Err(Boom("c failed"))
    }
    #[node]
    async fn out(_: &A, _: &B, _: &C) -> Out {
        Out
    }

    #[workflow(a, b, c, out)]
    pub async fn a_first(x: u8) -> Out;
    #[workflow(b, a, c, out)]
    pub async fn b_first(x: u8) -> Out;
    #[workflow(c, out, b, a)]
    pub async fn c_first(x: u8) -> Out;

    // One test: the three runs share the record.
    #[tokio::test(start_paused = true)]
    async fn the_node_that_completed_last_is_undone_first() {
        let err = a_first(0).await.err().unwrap();
        assert_eq!(err.node_name(), Some("c"));
        assert_eq!(UNDONE.take(), ["undo_a", "undo_b"]);
        let err = b_first(0).await.err().unwrap();
        assert_eq!(err.node_name(), Some("c"));
        assert_eq!(UNDONE.take(), ["undo_a", "undo_b"]);
        let err = c_first::run(RunOptions::new(), 0).await.err().unwrap();
        assert_eq!(err.node_name(), Some("c"));
        assert_eq!(UNDONE.take(), ["undo_a", "undo_b"]);
    }
}

/// Failures at the same instant go to the node listed first, whatever part of the plan
/// polls them first; the others are kept in `others()`.
mod simultaneous {
    use super::*;

    pub struct Mid;
    pub struct First;
    pub struct Second;
    pub struct Out;

    #[node]
    async fn mid(_: &u8) -> Mid {
        sleep_ms(1).await;
        Mid
    }
    /// Needs `mid`; fails at 2 ms.
    #[node]
    async fn first(_: &Mid) -> Result<First, Boom> {
        sleep_ms(1).await;
        Err(Boom("first failed"))
    }
    /// A root; fails at 2 ms.
    #[node]
    async fn second(_: &u8) -> Result<Second, Boom> {
        sleep_ms(2).await;
        Err(Boom("second failed"))
    }
    #[node]
    async fn out(_: &First, _: &Second) -> Out {
        Out
    }

    #[workflow(first, second, mid, out)]
    pub async fn first_listed(x: u8) -> Out;
    #[workflow(second, first, mid, out)]
    pub async fn second_listed(x: u8) -> Out;

    #[tokio::test(start_paused = true)]
    async fn the_node_listed_first_is_the_error() {
        let err = first_listed(0).await.err().unwrap();
        assert_eq!(err.node_name(), Some("first"));
        let others: Vec<_> = err.others().iter().map(|e| e.node_name()).collect();
        assert_eq!(others, [Some("second")]);

        let err = second_listed(0).await.err().unwrap();
        assert_eq!(err.node_name(), Some("second"));
        let others: Vec<_> = err.others().iter().map(|e| e.node_name()).collect();
        assert_eq!(others, [Some("first")]);

        // The same through `run`, whose nodes go through the run's gate.
        let err = first_listed::run(
            RunOptions::new().max_concurrency(std::num::NonZeroUsize::new(4).unwrap()),
            0,
        )
        .await
        .err()
        .unwrap();
        assert_eq!(err.node_name(), Some("first"));
    }

    // A plan that is not series-parallel (the "N": x needs a and b, y needs b): one
    // dataflow join. x and y fail at the same instant.
    pub struct A;
    pub struct B;
    pub struct X;
    pub struct Y;
    pub struct Both;

    #[node]
    async fn na(_: &u8) -> A {
        sleep_ms(1).await;
        A
    }
    #[node]
    async fn nb(_: &u8) -> B {
        sleep_ms(2).await;
        B
    }
    /// Fails at 5 ms (started at 2 ms).
    #[node]
    async fn nx(_: &A, _: &B) -> Result<X, Boom> {
        sleep_ms(3).await;
        Err(Boom("x failed"))
    }
    /// Fails at 5 ms (started at 2 ms).
    #[node]
    async fn ny(_: &B) -> Result<Y, Boom> {
        sleep_ms(3).await;
        Err(Boom("y failed"))
    }
    #[node]
    async fn both(_: &X, _: &Y, _: &A) -> Both {
        Both
    }

    #[workflow(na, nb, nx, ny, both)]
    pub async fn x_listed_first(v: u8) -> Both;
    #[workflow(na, nb, ny, nx, both)]
    pub async fn y_listed_first(v: u8) -> Both;

    #[tokio::test(start_paused = true)]
    async fn in_a_dataflow_join_too() {
        let start = tokio::time::Instant::now();
        let err = x_listed_first(0).await.err().unwrap();
        assert_eq!(start.elapsed(), ms(5));
        assert_eq!(err.node_name(), Some("nx"));
        assert_eq!(err.others()[0].node_name(), Some("ny"));
        let err = y_listed_first(0).await.err().unwrap();
        assert_eq!(err.node_name(), Some("ny"));
        assert_eq!(err.others()[0].node_name(), Some("nx"));
    }

    // Elements of a map failing at the same instant: the first element is the error.
    #[node]
    async fn items(_: &u8) -> Vec<u32> {
        vec![5, 3, 3, 9]
    }
    /// Elements 1 and 2 fail at 3 ms; element 0 would end at 5 ms.
    #[node]
    async fn check(x: &u32) -> Result<u64, Boom> {
        sleep_ms(u64::from(*x)).await;
        if *x == 3 {
            Err(Boom("three"))
        } else {
            Ok(u64::from(*x))
        }
    }
    #[node]
    async fn total(v: &[u64]) -> u64 {
        v.iter().sum()
    }
    #[workflow(items, map(check), total)]
    pub async fn checked(v: u8) -> u64;

    #[tokio::test(start_paused = true)]
    async fn elements_of_a_map_at_the_same_instant() {
        let err = checked(0).await.err().unwrap();
        assert_eq!(err.node_name(), Some("check"));
        assert_eq!(err.element(), Some(1));
        assert_eq!(err.others().len(), 1);
        assert_eq!(err.others()[0].element(), Some(2));
    }
}

/// `NodeCancelled` counts the attempts that started; `others()` is in the order the
/// tolerated failures happened.
mod counts_and_order {
    use super::*;

    pub struct Flaky;
    pub struct Fatal;
    pub struct Out;

    /// Fails at once; its retry would come after 100 ms.
    #[node(retry(max_attempts = 3, initial = "100ms"))]
    async fn flaky(_: &u8) -> Result<Flaky, Boom> {
        Err(Boom("flaky"))
    }
    /// Fails at 50 ms, during `flaky`'s backoff.
    #[node]
    async fn fatal(_: &u8) -> Result<Fatal, Boom> {
        sleep_ms(50).await;
        Err(Boom("fatal"))
    }
    #[node]
    async fn out(_: &Flaky, _: &Fatal) -> Out {
        Out
    }
    #[workflow(flaky, fatal, out)]
    pub async fn backoff(v: u8) -> Out;

    #[tokio::test(start_paused = true)]
    async fn a_node_cancelled_in_backoff_counts_the_attempts_it_started() {
        let recorder = Recorder::new();
        let err = backoff::run(RunOptions::new().observe(recorder.clone()), 0)
            .await
            .err()
            .unwrap();
        assert_eq!(err.node_name(), Some("fatal"));
        let cancelled: Vec<_> = recorder
            .events()
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::NodeCancelled { node, attempts, .. } => Some((node, attempts)),
                _ => None,
            })
            .collect();
        assert_eq!(cancelled, [("flaky".into(), 1)]);
    }

    pub struct Early;
    pub struct Late;
    pub struct Seen;
    pub struct Ends;

    /// Listed first, fails at 20 ms.
    #[node(continue_on_error)]
    async fn late(_: &u8) -> Result<Late, Boom> {
        sleep_ms(20).await;
        Err(Boom("late"))
    }
    /// Listed second, fails at 10 ms.
    #[node(continue_on_error)]
    async fn early(_: &u8) -> Result<Early, Boom> {
        sleep_ms(10).await;
        Err(Boom("early"))
    }
    #[node]
    async fn seen(_: Option<&Late>, _: Option<&Early>) -> Seen {
        Seen
    }
    /// Fails at 30 ms.
    #[node]
    async fn ends(_: &Seen) -> Result<Ends, Boom> {
        sleep_ms(10).await;
        Err(Boom("ends"))
    }
    #[workflow(late, early, seen, ends)]
    pub async fn tolerated(v: u8) -> Ends;

    #[tokio::test(start_paused = true)]
    async fn others_come_in_the_order_they_happened() {
        let err = tolerated(0).await.err().unwrap();
        assert_eq!(err.node_name(), Some("ends"));
        let others: Vec<_> = err.others().iter().map(|e| e.node_name()).collect();
        assert_eq!(others, [Some("early"), Some("late")]);
    }
}

/// A node is skipped once all its inputs are resolved; a run whose output is skipped ends
/// as soon as that is known.
mod skipping {
    use super::*;

    pub struct Probe {
        pub dropped: Counter,
        pub slow_done: Counter,
        pub after: Counter,
    }
    fn probe() -> Probe {
        Probe {
            dropped: Counter::default(),
            slow_done: Counter::default(),
            after: Counter::default(),
        }
    }

    pub struct Maybe;
    pub struct Later;
    pub struct Report;

    /// Decides at 1 ms that there is nothing.
    #[node]
    async fn decide(_: &Probe) -> Option<Maybe> {
        sleep_ms(1).await;
        None
    }
    /// Runs 1 s, for its effect.
    #[node]
    async fn slow(p: &Probe) {
        let _guard = DropGuard(&p.dropped);
        sleep_ms(1000).await;
        p.slow_done.hit();
    }
    #[node]
    async fn report(_: &Maybe) -> Report {
        Report
    }

    #[workflow(decide, slow, report)]
    pub async fn skipped_output(p: &Probe) -> Report;

    #[tokio::test(start_paused = true)]
    async fn a_run_whose_output_is_skipped_ends_at_once() {
        let p = probe();
        let start = tokio::time::Instant::now();
        let err = skipped_output(&p).await.err().unwrap();
        assert_eq!(start.elapsed(), ms(1));
        assert_eq!(err.kind(), ErrorKind::OutputSkipped);
        assert_eq!(err.node_name(), Some("report"));
        assert_eq!((p.dropped.get(), p.slow_done.get()), (1, 0));

        let p = probe();
        let err = skipped_output::run(
            RunOptions::new().max_concurrency(std::num::NonZeroUsize::new(2).unwrap()),
            &p,
        )
        .await
        .err()
        .unwrap();
        assert_eq!(err.kind(), ErrorKind::OutputSkipped);
        assert_eq!((p.dropped.get(), p.slow_done.get()), (1, 0));
    }

    /// `late` resolves at 50 ms; `decide` says `None` at 1 ms.
    #[node]
    async fn later(_: &Probe) -> Later {
        sleep_ms(50).await;
        Later
    }
    #[node]
    async fn joined(p: &Probe, _: &Maybe, _: &Later) -> Report {
        p.after.hit();
        Report
    }
    #[workflow(decide, later, joined)]
    pub async fn waits_for_inputs(p: &Probe) -> Report;

    #[tokio::test(start_paused = true)]
    async fn a_node_is_skipped_once_all_its_inputs_are_resolved() {
        let p = probe();
        let recorder = Recorder::new();
        let start = tokio::time::Instant::now();
        let err = waits_for_inputs::run(RunOptions::new().observe(recorder.clone()), &p)
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::OutputSkipped);
        assert_eq!(start.elapsed(), ms(50));
        assert_eq!(p.after.get(), 0);
        let skipped: Vec<_> = recorder
            .events()
            .into_iter()
            .filter(|e| matches!(e.kind, EventKind::NodeSkipped { .. }))
            .map(|e| e.at)
            .collect();
        assert_eq!(skipped, [ms(50)]);
    }
}

/// At the instant a run fails, what was already running finishes that instant: a tolerated
/// failure at that instant is kept, a retry coming due starts and is dropped.
mod at_the_end {
    use super::*;

    pub struct Tolerated;
    pub struct Retried;
    pub struct Fatal;
    pub struct Seen;
    pub struct Out;

    pub struct Probe {
        pub attempts: Counter,
    }

    /// Fails at 10 ms under `continue_on_error`.
    #[node(continue_on_error)]
    async fn tolerated(_: &Probe) -> Result<Tolerated, Boom> {
        sleep_ms(10).await;
        Err(Boom("tolerated"))
    }
    /// Fails at once, again after its 10 ms backoff.
    #[node(retry(max_attempts = 5, initial = "10ms", factor = 1.0))]
    async fn retried(p: &Probe) -> Result<Retried, Boom> {
        p.attempts.hit();
        sleep_ms(5).await;
        Err(Boom("retried"))
    }
    /// Fails at 10 ms.
    #[node]
    async fn fatal(_: &Probe) -> Result<Fatal, Boom> {
        sleep_ms(10).await;
        Err(Boom("fatal"))
    }
    #[node]
    async fn seen(_: Result<&Tolerated, &NodeError>) -> Seen {
        Seen
    }
    #[node]
    async fn out(_: &Seen, _: &Retried, _: &Fatal) -> Out {
        Out
    }

    #[workflow(fatal, tolerated, retried, seen, out)]
    pub async fn ends(p: &Probe) -> Out;

    #[tokio::test(start_paused = true)]
    async fn what_happens_at_the_same_instant() {
        let p = Probe {
            attempts: Counter::default(),
        };
        let recorder = Recorder::new();
        let start = tokio::time::Instant::now();
        let err = ends::run(RunOptions::new().observe(recorder.clone()), &p)
            .await
            .err()
            .unwrap();
        assert_eq!(start.elapsed(), ms(10));
        assert_eq!(err.node_name(), Some("fatal"));
        // The tolerated failure at that instant is kept.
        let others: Vec<_> = err.others().iter().map(|e| e.node_name()).collect();
        assert_eq!(others, [Some("tolerated")]);
        // Its retry, due at 5 + 10 = 15 ms, never started.
        assert_eq!(p.attempts.get(), 1);
    }

    /// Fails at 5 ms; its retry comes due at 10 ms, the instant `fatal` fails.
    #[node(retry(max_attempts = 5, initial = "5ms", factor = 1.0))]
    async fn due(p: &Probe) -> Result<Retried, Boom> {
        p.attempts.hit();
        sleep_ms(5).await;
        Err(Boom("due"))
    }
    #[workflow(fatal, tolerated, due, seen, out)]
    pub async fn due_at_the_end(p: &Probe) -> Out;

    #[tokio::test(start_paused = true)]
    async fn a_retry_due_at_that_instant_starts_and_is_dropped() {
        let p = Probe {
            attempts: Counter::default(),
        };
        let recorder = Recorder::new();
        let err = due_at_the_end::run(RunOptions::new().observe(recorder.clone()), &p)
            .await
            .err()
            .unwrap();
        assert_eq!(err.node_name(), Some("fatal"));
        assert_eq!(p.attempts.get(), 2);
        let cancelled: Vec<_> = recorder
            .events()
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::NodeCancelled { node, attempts, .. } => Some((node, attempts)),
                _ => None,
            })
            .collect();
        assert_eq!(cancelled, [("due".into(), 2)]);
    }
}

/// A race under a `max_concurrency` smaller than the race: its members take permits in list
/// order as they free up, so with one permit the race is a fallback chain.
mod limited_race {
    use super::*;

    pub struct Quote(pub &'static str);
    pub struct Order(pub &'static str);

    /// Slow: answers at 100 ms.
    #[node]
    async fn slow(log: &Log) -> Result<Quote, Boom> {
        log.record("slow", "start");
        sleep_ms(100).await;
        Ok(Quote("slow"))
    }
    /// Fast: answers at 10 ms after it starts.
    #[node]
    async fn fast(log: &Log) -> Result<Quote, Boom> {
        log.record("fast", "start");
        sleep_ms(10).await;
        Ok(Quote("fast"))
    }
    /// Fails at 5 ms.
    #[node]
    async fn broken(log: &Log) -> Result<Quote, Boom> {
        log.record("broken", "start");
        sleep_ms(5).await;
        Err(Boom("broken"))
    }
    #[node]
    async fn place(q: &Quote) -> Order {
        Order(q.0)
    }

    #[workflow(race(slow, fast), place, max_concurrency = 1)]
    pub async fn one_permit(log: &Log) -> Order;
    #[workflow(race(slow, fast), place, max_concurrency = 2)]
    pub async fn two_permits(log: &Log) -> Order;
    #[workflow(race(broken, fast, slow), place, max_concurrency = 1)]
    pub async fn fallback(log: &Log) -> Order;

    #[tokio::test(start_paused = true)]
    async fn members_take_permits_in_list_order() {
        // One permit: `slow` takes it and wins; `fast` never starts.
        let log = Log::new();
        assert_eq!(one_permit(&log).await.unwrap().0, "slow");
        assert_eq!(log.order("start"), ["slow"]);
        assert_eq!(log.at("slow", "start"), ms(0));

        // Enough permits: the members start together and the fastest wins.
        let log = Log::new();
        assert_eq!(two_permits(&log).await.unwrap().0, "fast");
        assert_eq!(log.order("start"), ["slow", "fast"]);

        // A member that fails hands the permit to the next one.
        let log = Log::new();
        assert_eq!(fallback(&log).await.unwrap().0, "fast");
        assert_eq!(log.order("start"), ["broken", "fast"]);
        assert_eq!(log.at("fast", "start"), ms(5));
    }
}
