//! Nodes with several outputs: a node returning a tuple `(A, B)` (or `Result<(A, B), E>`)
//! provides `A` and `B` on their own edges; an `Option` element is provided only when it is
//! `Some`, so one router node selects any set of branches.

use crate::common::*;
use flow_runtime::{ErrorKind, NodeError, node, workflow};
use tokio::sync::Notify;

/// GraphFlow's "a node updates several state keys": one node, two values, each consumer
/// takes only its own.
pub mod split {
    use super::*;

    pub struct Order {
        pub items: Vec<u32>,
        pub calls: Counter,
        /// Each side waits for the other to start: both must run at once.
        pub billing_started: Notify,
        pub shipping_started: Notify,
    }
    #[derive(Debug, PartialEq)]
    pub struct Invoice(pub u32);
    #[derive(Debug, PartialEq)]
    pub struct Shipment(pub usize);
    #[derive(Debug, PartialEq)]
    pub struct Billed(pub String);
    #[derive(Debug, PartialEq)]
    pub struct Shipped(pub String);
    #[derive(Debug, PartialEq)]
    pub struct Receipt(pub String);

    #[node]
    async fn prepare(order: &Order) -> Result<(Invoice, Shipment), String> {
        order.calls.hit();
        if order.items.is_empty() {
            return Err("no items".into());
        }
        Ok((
            Invoice(order.items.iter().sum()),
            Shipment(order.items.len()),
        ))
    }
    #[node]
    async fn bill(order: &Order, invoice: &Invoice) -> Billed {
        order.billing_started.notify_one();
        order.shipping_started.notified().await;
        Billed(format!("billed {}", invoice.0))
    }
    #[node]
    async fn ship(order: &Order, shipment: &Shipment) -> Shipped {
        order.shipping_started.notify_one();
        order.billing_started.notified().await;
        Shipped(format!("{} parcels", shipment.0))
    }
    #[node]
    async fn confirm(billed: &Billed, shipped: &Shipped) -> Receipt {
        Receipt(format!("{}, {}", billed.0, shipped.0))
    }

    #[workflow(prepare, bill, ship, confirm)]
    pub async fn checkout(order: &Order) -> Receipt;

    /// The workflow's output may be one element of a tuple ...
    #[workflow(prepare)]
    pub async fn invoice_of(order: &Order) -> Invoice;

    /// ... or the whole tuple.
    #[workflow(prepare)]
    pub async fn both(order: &Order) -> (Invoice, Shipment);

    /// Listed as a node of another workflow, a workflow returning a tuple provides its
    /// elements too.
    #[node]
    async fn count_parcels(shipment: &Shipment) -> usize {
        shipment.0
    }
    #[workflow(both, count_parcels)]
    pub async fn parcels(order: &Order) -> usize;

    pub fn order(items: Vec<u32>) -> Order {
        Order {
            items,
            calls: Counter::default(),
            billing_started: Notify::new(),
            shipping_started: Notify::new(),
        }
    }
}

#[tokio::test]
async fn a_tuple_output_provides_each_element_on_its_own_edge() {
    use split::*;
    let o = order(vec![3, 4]);
    // `bill` and `ship` each wait for the other to start: this ends only if both run at
    // once, on the two values of one call.
    let receipt = checkout(&o).await.unwrap();
    assert_eq!(receipt, Receipt("billed 7, 2 parcels".into()));
    assert_eq!(o.calls.get(), 1);

    let o = order(vec![5]);
    assert_eq!(invoice_of(&o).await.unwrap(), Invoice(5));
    assert_eq!(both(&o).await.unwrap(), (Invoice(5), Shipment(1)));
    assert_eq!(parcels(&o).await.unwrap(), 1);
    assert_eq!(o.calls.get(), 3);

    let err = checkout(&order(vec![])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NodeFailed);
    assert_eq!(err.node_name(), Some("prepare"));
}

#[test]
fn a_tuple_output_is_drawn_as_one_edge_per_element() {
    let g = split::checkout::graph();
    let mermaid = g.to_mermaid();
    assert!(mermaid.contains("n0 -- \"Invoice\" --> n1"), "{mermaid}");
    assert!(mermaid.contains("n0 -- \"Shipment\" --> n2"), "{mermaid}");
    assert_eq!(
        g.nodes()[0].output(),
        Some("(Invoice, Shipment)"),
        "the node's info names what it returns"
    );
}

/// LangGraph-Go's `Next{Many: [...]}`: one router picks a set of branches at run time; the
/// join takes `Option<&...>` and runs once with what ran.
pub mod fan_out {
    use super::*;

    pub struct Request {
        pub wants: &'static [&'static str],
        pub calls: Calls,
    }
    #[derive(Default)]
    pub struct Calls {
        pub text: Counter,
        pub image: Counter,
        pub audio: Counter,
        pub join: Counter,
    }
    pub struct Text;
    pub struct Image;
    pub struct Audio;
    pub struct TextDone(pub &'static str);
    pub struct ImageDone(pub &'static str);
    pub struct AudioDone(pub &'static str);
    #[derive(Debug, PartialEq)]
    pub struct Response(pub Vec<&'static str>);

    #[node]
    async fn route(req: &Request) -> (Option<Text>, Option<Image>, Option<Audio>) {
        let wants = |k: &str| req.wants.contains(&k);
        (
            wants("text").then_some(Text),
            wants("image").then_some(Image),
            wants("audio").then_some(Audio),
        )
    }
    #[node]
    async fn text(req: &Request, _t: &Text) -> TextDone {
        req.calls.text.hit();
        sleep_ms(30).await;
        TextDone("text")
    }
    #[node]
    async fn image(req: &Request, _i: &Image) -> ImageDone {
        req.calls.image.hit();
        sleep_ms(20).await;
        ImageDone("image")
    }
    #[node]
    async fn audio(req: &Request, _a: &Audio) -> AudioDone {
        req.calls.audio.hit();
        sleep_ms(10).await;
        AudioDone("audio")
    }
    #[node]
    async fn respond(
        req: &Request,
        text: Option<&TextDone>,
        image: Option<&ImageDone>,
        audio: Option<&AudioDone>,
    ) -> Response {
        req.calls.join.hit();
        let mut out = Vec::new();
        out.extend(text.map(|t| t.0));
        out.extend(image.map(|i| i.0));
        out.extend(audio.map(|a| a.0));
        Response(out)
    }

    #[workflow(route, text, image, audio, respond)]
    pub async fn handle(req: &Request) -> Response;
}

#[tokio::test(start_paused = true)]
async fn one_router_selects_any_set_of_branches() {
    use fan_out::*;
    for (wants, expected, took) in [
        (&["text", "audio"][..], vec!["text", "audio"], 30),
        (&["image"][..], vec!["image"], 20),
        (
            &["text", "image", "audio"][..],
            vec!["text", "image", "audio"],
            30,
        ),
        (&[][..], vec![], 0),
    ] {
        let req = Request {
            wants,
            calls: Calls::default(),
        };
        let start = tokio::time::Instant::now();
        assert_eq!(handle(&req).await.unwrap(), Response(expected));
        // The selected branches ran side by side; the others never started.
        assert_eq!(start.elapsed(), ms(took), "{wants:?}");
        let ran = |w: &str| usize::from(wants.contains(&w));
        assert_eq!(req.calls.text.get(), ran("text"));
        assert_eq!(req.calls.image.get(), ran("image"));
        assert_eq!(req.calls.audio.get(), ran("audio"));
        assert_eq!(req.calls.join.get(), 1);
    }
}

/// Resolute's `When(...).Then(...).Else(...)`: a decision with two outcomes, each its own
/// branch.
pub mod when_else {
    use super::*;

    pub struct Application {
        pub score: u32,
    }
    #[derive(Debug)]
    pub struct Approved(pub u32);
    pub struct Rejected(pub u32);
    #[derive(Debug)]
    pub struct Welcome(pub String);
    pub struct Notice(pub String);
    #[derive(Debug, PartialEq)]
    pub struct Reply(pub String);

    #[node]
    async fn review(app: &Application) -> (Option<Approved>, Option<Rejected>) {
        if app.score >= 50 {
            (Some(Approved(app.score)), None)
        } else {
            (None, Some(Rejected(app.score)))
        }
    }
    #[node]
    async fn onboard(approved: &Approved) -> Welcome {
        Welcome(format!("welcome ({})", approved.0))
    }
    #[node]
    async fn decline(rejected: &Rejected) -> Notice {
        Notice(format!("sorry ({})", rejected.0))
    }
    #[node]
    async fn reply(welcome: Option<&Welcome>, notice: Option<&Notice>) -> Reply {
        match (welcome, notice) {
            (Some(w), None) => Reply(w.0.clone()),
            (None, Some(n)) => Reply(n.0.clone()),
            _ => Reply("both or neither".into()),
        }
    }

    #[workflow(review, onboard, decline, reply)]
    pub async fn decide(app: Application) -> Reply;

    /// The workflow's output is an `Option` element: missing when it is `None`.
    #[workflow(review, onboard)]
    pub async fn welcome(app: Application) -> Welcome;

    /// ... also as the element itself.
    #[workflow(review)]
    pub async fn approval(app: Application) -> Approved;
}

#[tokio::test]
async fn a_when_else_pair_runs_one_branch() {
    use when_else::*;
    assert_eq!(
        decide(Application { score: 70 }).await.unwrap(),
        Reply("welcome (70)".into())
    );
    assert_eq!(
        decide(Application { score: 20 }).await.unwrap(),
        Reply("sorry (20)".into())
    );
    assert_eq!(
        welcome(Application { score: 90 }).await.unwrap().0,
        "welcome (90)"
    );
    let err = welcome(Application { score: 10 }).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutputSkipped);
    assert_eq!(err.node_name(), Some("onboard"));
    assert_eq!(
        anyhow_chain(&err),
        "workflow `welcome` produced no output: node `onboard` was skipped because node `review` returned `None`"
    );
    assert_eq!(approval(Application { score: 60 }).await.unwrap().0, 60);
    let err = approval(Application { score: 40 }).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutputSkipped);
    assert_eq!(err.node_name(), Some("review"));
}

/// Several outputs in every shape: a tolerated failure, a race, a map over one element,
/// a join that is not series-parallel.
pub mod shapes {
    use super::*;

    pub struct Seed(pub u32);
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Left(pub u32);
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Right(pub u32);
    pub struct Lefts(pub u32);
    pub struct Rights(pub u32);
    #[derive(Debug, PartialEq)]
    pub struct Total(pub String);

    #[node(continue_on_error)]
    async fn risky(seed: &Seed) -> Result<(Left, Right), String> {
        if seed.0 == 0 {
            Err("zero".into())
        } else {
            Ok((Left(seed.0), Right(seed.0 * 10)))
        }
    }
    #[node]
    async fn tally(left: Option<&Left>, right: Result<&Right, &NodeError>) -> Total {
        match (left, right) {
            (Some(l), Ok(r)) => Total(format!("{} {}", l.0, r.0)),
            (None, Err(e)) => Total(format!("failed: {:?}", e.kind())),
            _ => Total("inconsistent".into()),
        }
    }
    #[workflow(risky, tally)]
    pub async fn tolerated(seed: Seed) -> Total;

    #[node]
    async fn slow_pair(seed: &Seed) -> (Left, Right) {
        sleep_ms(50).await;
        (Left(seed.0), Right(0))
    }
    #[node]
    async fn fast_pair(seed: &Seed) -> (Left, Right) {
        sleep_ms(10).await;
        (Left(seed.0 + 1), Right(1))
    }
    #[node]
    async fn sum_pair(left: &Left, right: &Right) -> Total {
        Total(format!("{} {}", left.0, right.0))
    }
    #[workflow(race(slow_pair, fast_pair), sum_pair)]
    pub async fn raced(seed: Seed) -> Total;

    #[node]
    async fn spread(seed: &Seed) -> (Vec<Left>, Right) {
        ((1..=seed.0).map(Left).collect(), Right(100))
    }
    #[node]
    async fn scale(left: &Left, right: &Right) -> u32 {
        left.0 * right.0
    }
    #[node]
    async fn add_up(scaled: &[u32]) -> Total {
        Total(scaled.iter().sum::<u32>().to_string())
    }
    #[workflow(spread, map(scale, concurrency = 2), add_up)]
    pub async fn mapped(seed: Seed) -> Total;

    // An N-shaped graph (`a → x`, `a → y`, `b → y`, `b → z`) is one dataflow join, where
    // each node waits for exactly its inputs, here on elements of two tuples.
    #[node]
    async fn a(seed: &Seed) -> (Left, Lefts) {
        sleep_ms(10).await;
        (Left(seed.0), Lefts(1))
    }
    #[node]
    async fn b(seed: &Seed) -> (Right, Rights) {
        sleep_ms(30).await;
        (Right(seed.0), Rights(2))
    }
    pub struct X(pub u32);
    pub struct Y(pub u32);
    pub struct Z(pub u32);
    #[node]
    async fn x(l: &Left, log: &Log) -> X {
        log.record("x", "start");
        X(l.0)
    }
    #[node]
    async fn y(l: &Lefts, r: &Right) -> Y {
        Y(l.0 + r.0)
    }
    #[node]
    async fn z(r: &Rights) -> Z {
        Z(r.0)
    }
    #[node]
    async fn xyz(x: &X, y: &Y, z: &Z) -> Total {
        Total(format!("{} {} {}", x.0, y.0, z.0))
    }
    #[workflow(a, b, x, y, z, xyz)]
    pub async fn n_shaped(seed: Seed, log: &Log) -> Total;
}

#[tokio::test(start_paused = true)]
async fn several_outputs_in_every_shape() {
    use shapes::*;
    assert_eq!(tolerated(Seed(2)).await.unwrap(), Total("2 20".into()));
    assert_eq!(
        tolerated(Seed(0)).await.unwrap(),
        Total("failed: NodeFailed".into())
    );
    assert_eq!(raced(Seed(5)).await.unwrap(), Total("6 1".into()));
    assert_eq!(mapped(Seed(3)).await.unwrap(), Total("600".into()));
    let log = Log::new();
    assert_eq!(
        n_shaped(Seed(4), &log).await.unwrap(),
        Total("4 5 2".into())
    );
    // `x` needs only `a`'s first element: it starts when `a` ends, not when `b` does.
    assert_eq!(log.at("x", "start"), ms(10));
}

/// An element of a tuple that nothing takes does not compete with another provider of its
/// type: whole tuples can be collected.
pub mod unconsumed_elements {
    use super::*;

    pub struct Seed(pub usize);
    #[derive(Clone, Debug, PartialEq)]
    pub struct User(pub &'static str);
    #[derive(Debug, PartialEq)]
    pub struct Stats(pub usize);

    #[node]
    async fn first(s: &Seed) -> (User, Stats) {
        (User("a"), Stats(s.0 + 1))
    }
    #[node]
    async fn second(s: &Seed) -> (User, Stats) {
        (User("b"), Stats(s.0 + 2))
    }
    #[node]
    async fn both(all: &[(User, Stats)]) -> Vec<usize> {
        all.iter().map(|(_, s)| s.0).collect()
    }
    #[workflow(first, second, both)]
    pub async fn collected(s: Seed) -> Vec<usize>;
}

#[tokio::test]
async fn unconsumed_tuple_elements_do_not_compete() {
    use unconsumed_elements::*;
    assert_eq!(collected(Seed(0)).await.unwrap(), [1, 2]);
}
