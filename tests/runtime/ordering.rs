//! Ordering without data: `#[node(after(a, b))]` or the workflow's `after(node: a, b)` makes
//! a node start only once `a` and `b` have ended (completed, skipped or failed under
//! `continue_on_error`), without taking their values.

use crate::common::*;
use flow_runtime::{ErrorKind, node, workflow};
use tokio::sync::Notify;

/// gorkflow's "a step after effect-only steps": `send_email` and `audit` return nothing;
/// `finalize` runs after both.
pub mod effects {
    use super::*;

    pub struct Signup {
        pub email: &'static str,
        pub log: Log,
        pub sent: Notify,
        pub audited: Notify,
    }
    pub struct Account(pub &'static str);
    #[derive(Debug, PartialEq)]
    pub struct Done(pub &'static str);

    #[node]
    async fn create(s: &Signup) -> Account {
        Account(s.email)
    }
    #[node]
    async fn send_email(s: &Signup, _a: &Account) {
        s.log.record("send_email", "start");
        // Each effect waits for the other to start: they run at once.
        s.sent.notify_one();
        s.audited.notified().await;
        sleep_ms(20).await;
        s.log.record("send_email", "end");
    }
    #[node]
    async fn audit(s: &Signup, _a: &Account) -> Result<(), String> {
        s.log.record("audit", "start");
        s.audited.notify_one();
        s.sent.notified().await;
        sleep_ms(40).await;
        s.log.record("audit", "end");
        Ok(())
    }
    #[node(after(send_email, audit))]
    async fn finalize(s: &Signup, a: &Account) -> Done {
        s.log.record("finalize", "start");
        Done(a.0)
    }

    #[workflow(create, send_email, audit, finalize)]
    pub async fn signup(s: &Signup) -> Done;

    // The same edges, declared by the workflow on a node that names none.
    #[node]
    async fn close(s: &Signup, a: &Account) -> Done {
        s.log.record("finalize", "start");
        Done(a.0)
    }
    #[workflow(create, send_email, audit, close, after(close: send_email, audit))]
    pub async fn signup_declared(s: &Signup) -> Done;

    pub fn signup_of(email: &'static str) -> Signup {
        Signup {
            email,
            log: Log::new(),
            sent: Notify::new(),
            audited: Notify::new(),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_node_runs_after_effect_only_nodes() {
    use effects::*;
    let s = signup_of("a@example.com");
    assert_eq!(signup(&s).await.unwrap(), Done("a@example.com"));
    assert_eq!(s.log.at("finalize", "start"), ms(40));
    assert_eq!(
        s.log.order("start"),
        ["send_email", "audit", "finalize"],
        "{:?}",
        s.log.order("end")
    );

    let s = signup_of("b@example.com");
    assert_eq!(signup_declared(&s).await.unwrap(), Done("b@example.com"));
    assert_eq!(s.log.at("finalize", "start"), ms(40));
    assert_eq!(s.log.count("finalize", "start"), 1);
}

#[test]
fn ordering_edges_are_in_the_graph_and_its_pictures() {
    let g = effects::signup::graph();
    let order: Vec<(usize, usize)> = g.order_edges().iter().map(|o| (o.from(), o.to())).collect();
    assert_eq!(order, [(1, 3), (2, 3)]);
    let mermaid = g.to_mermaid();
    assert!(
        mermaid.contains("    n1 -. \"after\" .-> n3\n"),
        "{mermaid}"
    );
    assert!(
        g.to_dot()
            .contains("    n2 -> n3 [label=\"after\", style=dashed];\n")
    );
    let svg = g.to_svg();
    assert!(svg.contains("stroke-dasharray=\"6 4\" marker-end"), "{svg}");
    let declared = effects::signup_declared::graph();
    assert_eq!(declared.order_edges().len(), 2);
}

/// An ordering edge inside a join that is not series-parallel: `e` waits for `b`'s value
/// and for `c` to end; nothing else waits for `c`.
pub mod in_a_join {
    use super::*;

    pub struct A;
    pub struct B;
    pub struct C;
    pub struct D;
    pub struct E;
    #[node]
    async fn a(log: &Log) -> A {
        sleep_ms(10).await;
        log.record("a", "end");
        A
    }
    #[node]
    async fn b(log: &Log) -> B {
        sleep_ms(30).await;
        log.record("b", "end");
        B
    }
    #[node]
    async fn c(log: &Log, _a: &A) -> C {
        sleep_ms(40).await;
        log.record("c", "end");
        C
    }
    #[node]
    async fn d(log: &Log, _a: &A, _b: &B) -> D {
        log.record("d", "start");
        D
    }
    #[node]
    async fn e(log: &Log, _b: &B) -> E {
        log.record("e", "start");
        E
    }
    #[workflow(a, b, c, d, e, after(e: c))]
    pub async fn joined(log: &Log) -> ();
}

#[tokio::test(start_paused = true)]
async fn an_ordering_edge_in_a_dataflow_join_waits_for_that_node_only() {
    let log = Log::new();
    in_a_join::joined(&log).await.unwrap();
    assert_eq!(log.at("d", "start"), ms(30));
    assert_eq!(log.at("c", "end"), ms(50));
    assert_eq!(log.at("e", "start"), ms(50));
}

/// The node it runs after may be skipped, fail under `continue_on_error`, be a map or a
/// race: it runs once that has ended. A failure that ends the run ends it first.
pub mod outcomes {
    use super::*;

    pub struct Input {
        pub select: bool,
        pub fail: bool,
        pub log: Log,
    }
    pub struct Picked;
    pub struct Quote(pub u32);
    #[derive(Debug, PartialEq)]
    pub struct Out(pub u32);

    #[node]
    async fn pick(i: &Input) -> Option<Picked> {
        i.select.then_some(Picked)
    }
    #[node]
    async fn picked_effect(i: &Input, _p: &Picked) {
        sleep_ms(10).await;
        i.log.record("picked_effect", "end");
    }
    #[node(continue_on_error)]
    async fn risky(i: &Input) -> Result<(), String> {
        sleep_ms(20).await;
        i.log.record("risky", "end");
        if i.fail { Err("boom".into()) } else { Ok(()) }
    }
    #[node]
    async fn items(_i: &Input) -> Vec<u32> {
        vec![1, 2, 3]
    }
    #[node]
    async fn each(i: &Input, n: &u32) -> Quote {
        sleep_ms(u64::from(*n) * 10).await;
        i.log.record("each", "end");
        Quote(*n)
    }
    #[node]
    async fn slow(_i: &Input) -> Quote {
        sleep_ms(50).await;
        Quote(1)
    }
    #[node]
    async fn fast(i: &Input) -> Quote {
        sleep_ms(5).await;
        i.log.record("race", "end");
        Quote(2)
    }
    #[node(after(picked_effect, risky, each, fast))]
    async fn last(i: &Input, q: &Quote) -> Out {
        i.log.record("last", "start");
        Out(q.0)
    }
    #[workflow(pick, picked_effect, risky, items, map(each), race(slow, fast), last)]
    pub async fn all(i: &Input) -> Out;

    #[node]
    async fn fails(_i: &Input) -> Result<(), String> {
        sleep_ms(5).await;
        Err("no".into())
    }
    #[node(after(fails))]
    async fn never(i: &Input) -> Out {
        i.log.record("never", "start");
        Out(0)
    }
    #[workflow(fails, never)]
    pub async fn failing(i: &Input) -> Out;
}

#[tokio::test(start_paused = true)]
async fn it_runs_after_what_ended_however_it_ended() {
    use outcomes::*;
    for (select, fail) in [(true, false), (false, true)] {
        let i = Input {
            select,
            fail,
            log: Log::new(),
        };
        assert_eq!(all(&i).await.unwrap(), Out(2));
        // After the map's last element (30 ms), the tolerated node (20 ms), the race
        // (5 ms) and the effect (10 ms, or skipped).
        assert_eq!(i.log.at("last", "start"), ms(30));
        assert_eq!(i.log.count("picked_effect", "end"), usize::from(select));
        assert_eq!(i.log.count("each", "end"), 3);
    }
    let i = Input {
        select: false,
        fail: false,
        log: Log::new(),
    };
    let err = failing(&i).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NodeFailed);
    assert_eq!(err.node_name(), Some("fails"));
    assert_eq!(i.log.count("never", "start"), 0);
}
