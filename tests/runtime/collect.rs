//! Several producers of one type, on purpose: a consumer taking `&[T]` (or `&Vec<T>`)
//! receives every producer's value in list order; `race(...)` takes the first success.

use crate::common::*;
use flow_runtime::{ErrorKind, node, workflow};

mod extend {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    pub struct Finding(pub &'static str);
    pub struct Delays(pub [u64; 3]);
    #[derive(Debug, PartialEq)]
    pub struct Report(pub Vec<Finding>);
    #[derive(Debug, PartialEq)]
    pub struct Count(pub usize);

    #[node]
    async fn lint(d: &Delays) -> Finding {
        sleep_ms(d.0[0]).await;
        Finding("lint")
    }
    #[node]
    async fn audit(d: &Delays) -> Result<Finding, std::io::Error> {
        sleep_ms(d.0[1]).await;
        Ok(Finding("audit"))
    }
    #[node(timeout = "1s")]
    async fn scan(d: &Delays) -> Finding {
        sleep_ms(d.0[2]).await;
        Finding("scan")
    }
    #[node]
    async fn report(findings: &[Finding]) -> Report {
        Report(findings.to_vec())
    }
    #[node]
    #[allow(clippy::ptr_arg)] // `&Vec<T>` works as well as `&[T]`.
    async fn count(findings: &Vec<Finding>) -> Count {
        Count(findings.len())
    }
    #[node]
    async fn both(r: &Report, c: &Count) -> (usize, Vec<&'static str>) {
        (c.0, r.0.iter().map(|f| f.0).collect())
    }

    #[workflow(lint, audit, scan, report, count, both)]
    pub async fn review(d: Delays) -> (usize, Vec<&'static str>);
}

#[tokio::test(start_paused = true)]
async fn collected_values_are_in_list_order_whatever_the_completion_order() {
    use extend::*;
    // 100 runs with pseudo-random delays: every completion order, the same output.
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..100 {
        let mut delays = [0; 3];
        for d in &mut delays {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *d = seed % 20;
        }
        let start = tokio::time::Instant::now();
        let out = review(Delays(delays)).await.unwrap();
        assert_eq!(out, (3, vec!["lint", "audit", "scan"]), "delays {delays:?}");
        // The producers ran side by side.
        assert_eq!(start.elapsed(), ms(*delays.iter().max().unwrap()));
    }
}

pub mod conditional {
    //! Collect what ran: skipped producers are left out.
    use super::*;

    pub struct Kinds(pub &'static [&'static str]);
    #[derive(Debug, PartialEq)]
    pub struct Part(pub &'static str);
    #[derive(Debug, PartialEq)]
    pub struct All(pub Vec<&'static str>);

    #[node]
    async fn text(k: &Kinds) -> Option<Part> {
        k.0.contains(&"text").then_some(Part("text"))
    }
    #[node]
    async fn image(k: &Kinds) -> Option<Part> {
        sleep_ms(3).await;
        k.0.contains(&"image").then_some(Part("image"))
    }
    #[node]
    async fn audio(k: &Kinds) -> Option<Part> {
        sleep_ms(1).await;
        k.0.contains(&"audio").then_some(Part("audio"))
    }
    #[node]
    async fn all(parts: &[Part]) -> All {
        All(parts.iter().map(|p| p.0).collect())
    }

    #[workflow(text, image, audio, all)]
    pub async fn gather(k: Kinds) -> All;
}

#[tokio::test(start_paused = true)]
async fn skipped_producers_are_left_out() {
    use conditional::*;
    assert_eq!(
        gather(Kinds(&["audio", "text"])).await.unwrap(),
        All(vec!["text", "audio"])
    );
    assert_eq!(gather(Kinds(&[])).await.unwrap(), All(vec![]));
}

pub mod racing {
    use super::*;

    #[derive(Debug)]
    pub struct Down(pub &'static str);
    impl std::fmt::Display for Down {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{} is down", self.0)
        }
    }
    impl std::error::Error for Down {}

    /// Per mirror: delay in ms and whether it fails.
    pub struct Plan {
        pub mirrors: [(u64, bool); 3],
        pub started: Counter,
        pub dropped: Counter,
        pub after: Counter,
    }
    #[derive(Debug, PartialEq)]
    pub struct Page(pub &'static str);
    #[derive(Debug, PartialEq)]
    pub struct Shown(pub String);

    async fn fetch(p: &Plan, k: usize, name: &'static str) -> Result<Page, Down> {
        p.started.hit();
        let guard = DropGuard(&p.dropped);
        let (delay, fails) = p.mirrors[k];
        sleep_ms(delay).await;
        std::mem::forget(guard);
        if fails {
            Err(Down(name))
        } else {
            Ok(Page(name))
        }
    }

    #[node]
    async fn primary(p: &Plan) -> Result<Page, Down> {
        fetch(p, 0, "primary").await
    }
    #[node(retry(max_attempts = 1))]
    async fn mirror(p: &Plan) -> Result<Page, Down> {
        fetch(p, 1, "mirror").await
    }
    #[node]
    async fn cache(p: &Plan) -> Result<Page, Down> {
        fetch(p, 2, "cache").await
    }
    #[node]
    async fn show(p: &Plan, page: &Page) -> Shown {
        p.after.hit();
        Shown(format!("showing {}", page.0))
    }

    #[workflow(race(primary, mirror, cache), show)]
    pub async fn load(p: &Plan) -> Shown;
}

fn plan(mirrors: [(u64, bool); 3]) -> racing::Plan {
    racing::Plan {
        mirrors,
        started: Counter::default(),
        dropped: Counter::default(),
        after: Counter::default(),
    }
}

#[tokio::test(start_paused = true)]
async fn the_first_success_wins_and_the_others_are_dropped() {
    use racing::*;
    let p = plan([(30, false), (10, false), (20, false)]);
    let start = tokio::time::Instant::now();
    assert_eq!(load(&p).await.unwrap(), Shown("showing mirror".into()));
    assert_eq!(start.elapsed(), ms(10));
    assert_eq!(p.started.get(), 3);
    // The two losers were dropped mid-flight.
    assert_eq!(p.dropped.get(), 2);
    assert_eq!(p.after.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failure_does_not_end_the_race() {
    use racing::*;
    // The fastest fails; the next success wins.
    let p = plan([(5, true), (30, false), (20, false)]);
    let start = tokio::time::Instant::now();
    assert_eq!(load(&p).await.unwrap(), Shown("showing cache".into()));
    assert_eq!(start.elapsed(), ms(20));
    assert_eq!(p.dropped.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn when_every_member_fails_the_error_carries_every_cause() {
    use racing::*;
    let p = plan([(5, true), (30, true), (20, true)]);
    let start = tokio::time::Instant::now();
    let err = load(&p).await.unwrap_err();
    assert_eq!(start.elapsed(), ms(30));
    assert_eq!(err.kind(), ErrorKind::RaceFailed);
    assert_eq!(err.race(), Some("primary | mirror | cache"));
    assert_eq!(
        err.to_string(),
        "race `primary | mirror | cache` of workflow `load` failed"
    );
    let causes: Vec<String> = err
        .causes()
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e.node_name().unwrap(),
                std::error::Error::source(e).unwrap()
            )
        })
        .collect();
    assert_eq!(
        causes,
        [
            "primary: primary is down",
            "mirror: mirror is down",
            "cache: cache is down"
        ]
    );
    assert_eq!(p.after.get(), 0);
}

mod in_dataflow {
    //! Collected producers inside an N-shaped (dataflow) join, one of them conditional.
    use super::*;

    pub struct A(pub u64);
    pub struct B(pub u64);
    pub struct Other(pub u64);
    #[derive(Debug, PartialEq)]
    pub struct F(pub u64);
    #[derive(Debug, PartialEq)]
    pub struct Out(pub Vec<u64>, pub u64);

    #[node]
    async fn a(x: &u64) -> A {
        sleep_ms(3).await;
        A(*x)
    }
    #[node]
    async fn b(x: &u64) -> B {
        sleep_ms(1).await;
        B(*x * 10)
    }
    #[node]
    async fn p1(a: &A) -> Option<F> {
        sleep_ms(5).await;
        a.0.is_multiple_of(2).then_some(F(a.0))
    }
    #[node]
    async fn p2(a: &A, b: &B) -> F {
        F(a.0 + b.0)
    }
    #[node]
    async fn p3(b: &B) -> Other {
        Other(b.0 + 1)
    }
    #[node]
    async fn sink(fs: &[F], o: &Other) -> Out {
        Out(fs.iter().map(|f| f.0).collect(), o.0)
    }

    #[workflow(a, b, p1, p2, p3, sink)]
    pub async fn shape(x: u64) -> Out;
}

#[tokio::test(start_paused = true)]
async fn collect_inside_a_dataflow_join() {
    use in_dataflow::*;
    assert_eq!(shape(2).await.unwrap(), Out(vec![2, 22], 21));
    assert_eq!(shape(3).await.unwrap(), Out(vec![33], 31));
}

mod race_in_dataflow {
    //! Race members with different inputs, inside an N-shaped join.
    use super::*;

    pub struct A(pub u64);
    pub struct B(pub u64);
    pub struct C(pub u64);
    pub struct E(pub u64);
    #[derive(Debug, PartialEq)]
    pub struct Won(pub &'static str, pub u64);
    #[derive(Debug, PartialEq)]
    pub struct Out(pub Won, pub u64, pub u64);

    #[node]
    async fn a(x: &u64) -> A {
        sleep_ms(2).await;
        A(*x)
    }
    #[node]
    async fn b(x: &u64) -> B {
        sleep_ms(4).await;
        B(*x + 1)
    }
    #[node]
    async fn c(a: &A) -> C {
        C(a.0 * 2)
    }
    #[node]
    async fn e(b: &B) -> E {
        E(b.0 * 3)
    }
    #[node]
    async fn from_a(a: &A) -> Result<Won, String> {
        sleep_ms(10).await;
        Ok(Won("a", a.0))
    }
    #[node]
    async fn from_b(b: &B) -> Result<Won, String> {
        sleep_ms(1).await;
        Ok(Won("b", b.0))
    }
    #[node]
    async fn out(w: &Won, c: &C, e: &E) -> Out {
        Out(Won(w.0, w.1), c.0, e.0)
    }

    #[workflow(a, b, c, e, race(from_a, from_b), out)]
    pub async fn shape(x: u64) -> Out;
}

#[tokio::test(start_paused = true)]
async fn race_inside_a_dataflow_join() {
    use race_in_dataflow::*;
    let start = tokio::time::Instant::now();
    // Both members start when b is ready (4 ms); from_b wins 1 ms later.
    assert_eq!(shape(1).await.unwrap(), Out(Won("b", 2), 2, 6));
    assert_eq!(start.elapsed(), ms(5));
}
