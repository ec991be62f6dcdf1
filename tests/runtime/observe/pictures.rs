//! Pictures: the graph as Mermaid, DOT and SVG with its shapes; the run's timeline as SVG.

use flow_runtime::events::Recorder;
use flow_runtime::graph::Shape;
use flow_runtime::{NodeOutcome, RunOptions, node, workflow};

use super::events::{fastest, find, squares, with_failure_and_retry};

#[test]
fn shapes_are_in_the_graph_metadata() {
    let g = squares::graph();
    let square = g.node_index("square").unwrap();
    assert_eq!(
        g.step(square).shape(),
        Shape::Map {
            concurrency: Some(2),
            continue_on_error: false
        }
    );
    let g = fastest::graph();
    for name in ["primary", "mirror", "broken_mirror"] {
        let i = g.node_index(name).unwrap();
        assert_eq!(g.step(i).shape(), Shape::Race { group: 0 });
    }
    let g = find::graph();
    let lookup = g.node_index("lookup").unwrap();
    let render = g.node_index("render").unwrap();
    let note = g.node_index("note").unwrap();
    assert!(g.nodes()[lookup].traits().is_optional());
    assert!(g.step(render).may_skip());
    assert!(
        !g.step(note).may_skip(),
        "takes Option<&Found>: runs either way"
    );
    let g = with_failure_and_retry::graph();
    let flaky = g.nodes()[g.node_index("wobbly").unwrap()].traits();
    assert_eq!(flaky.max_attempts(), 3);
    assert_eq!(flaky.summary(), "3 attempts");
}

#[test]
fn mermaid_and_dot_draw_maps_races_and_skips() {
    let m = squares::graph().to_mermaid();
    assert!(
        m.contains("    n1[[\"square<br/><small>map, ≤2 at once</small>\"]]\n"),
        "{m}"
    );
    let m = fastest::graph().to_mermaid();
    assert!(
        m.contains("    subgraph race0 [\"race\"]\n        n0\n        n1\n        n2\n    end\n"),
        "{m}"
    );
    let m = find::graph().to_mermaid();
    assert!(m.contains("    n0{{\"lookup ?\"}}\n"), "{m}");
    assert!(m.contains("    style n1 stroke-dasharray: 5 3\n"), "{m}");
    let d = squares::graph().to_dot();
    assert!(
        d.contains("    n1 [label=\"square\\nmap, ≤2 at once\", peripheries=2];\n"),
        "{d}"
    );
    let d = fastest::graph().to_dot();
    assert!(
        d.contains("subgraph cluster_race0 { label=\"race\"; style=dashed; n0; n1; n2; }"),
        "{d}"
    );
    let d = find::graph().to_dot();
    assert!(
        d.contains("    n0 [label=\"lookup ?\", shape=hexagon];\n"),
        "{d}"
    );
    assert!(
        d.contains("    n1 [label=\"render\", style=dashed];\n"),
        "{d}"
    );
}

/// Every tag opened is closed, in order (enough XML to catch a broken picture).
fn assert_balanced(svg: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').expect("a tag ends") + open;
        let tag = &rest[open + 1..close];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name), "closing {name}");
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap());
        }
        rest = &rest[close + 1..];
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

#[test]
fn the_graph_svg_stands_alone() {
    for svg in [
        squares::graph().to_svg(),
        fastest::graph().to_svg(),
        find::graph().to_svg(),
    ] {
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert!(!svg.contains("href"), "nothing to fetch");
        assert_balanced(&svg);
    }
    let svg = fastest::graph().to_svg();
    assert!(svg.contains(">race: first to succeed wins</text>"));
    for name in ["primary", "mirror", "broken_mirror", "Answer"] {
        assert!(svg.contains(&format!(">{name}</text>")), "{name}");
    }
    let svg = squares::graph().to_svg();
    assert!(svg.contains(">map, ≤2 at once</text>"));
    assert!(svg.contains(">[Square]</text>"), "edges carry their types");
}

pub struct Flat;

#[node]
async fn lone(_x: &u32) -> Flat {
    Flat
}

#[workflow(lone)]
async fn single(x: u32) -> Flat;

#[tokio::test(start_paused = true)]
async fn the_timeline_has_a_lane_per_node_a_bar_per_attempt_and_the_critical_path() {
    let recorder = Recorder::new();
    with_failure_and_retry::run(RunOptions::new().run_id("t-7").observe(recorder.clone()), 1)
        .await
        .unwrap_err();
    let report = recorder.report();
    let svg = report.to_svg(Some(with_failure_and_retry::graph()));
    assert_balanced(&svg);
    assert!(
        svg.contains(">with_failure_and_retry · t-7 · failed · "),
        "{svg}"
    );
    // One lane label per node that started.
    for n in &report.nodes {
        assert!(svg.contains(&format!(">{}</text>", n.node)), "{}", n.node);
    }
    // A bar (with its title) per attempt, coloured by its outcome.
    let attempts: usize = report.nodes.iter().map(|n| n.attempts.len()).sum();
    assert_eq!(svg.matches("<title>").count(), attempts);
    let failed = report
        .nodes
        .iter()
        .flat_map(|n| &n.attempts)
        .filter(|a| a.outcome == NodeOutcome::Failed)
        .count();
    assert_eq!(svg.matches("rx=\"2\" fill=\"#d64545\"").count(), failed);
    assert!(svg.contains("critical path: "));
    // A run with one node draws too.
    let recorder = Recorder::new();
    single::run(RunOptions::new().observe(recorder.clone()), 1)
        .await
        .unwrap();
    assert_balanced(&recorder.report().to_svg(None));
}

// ---- A timeline that tells the truth -----------------------------------------------------

mod truthful {
    use std::time::Duration;

    use flow_runtime::events::Recorder;
    use flow_runtime::{RunOptions, node, workflow};
    use tokio::time::sleep;

    pub struct Order(pub u32);
    pub struct Quote;
    pub struct Stock;
    pub struct Label;
    pub struct Sent;
    pub struct Summary;
    pub struct Shipped;

    #[node]
    async fn items(o: &Order) -> Vec<u32> {
        (0..o.0).collect()
    }
    #[node]
    async fn summarize(i: &u32) -> Summary {
        sleep(Duration::from_millis(10 + 7 * u64::from(*i))).await;
        Summary
    }
    #[node(timeout = "120ms", retry(max_attempts = 2, initial = "10ms"))]
    async fn quote(_o: &Order) -> Quote {
        sleep(Duration::from_millis(400)).await;
        Quote
    }
    #[node(continue_on_error)]
    async fn stock(_o: &Order) -> Result<Stock, String> {
        sleep(Duration::from_millis(30)).await;
        Err("warehouse offline".into())
    }
    #[node]
    async fn label(_o: &Order, _stock: Option<&Stock>) -> Label {
        sleep(Duration::from_millis(20)).await;
        Label
    }
    #[node]
    async fn send(_l: &Label, _s: &[Summary]) -> Sent {
        sleep(Duration::from_millis(1000)).await;
        Sent
    }
    #[node]
    async fn shipped(_q: &Quote, _s: &Sent) -> Shipped {
        Shipped
    }

    #[workflow(
        items,
        map(summarize, concurrency = 3),
        quote,
        stock,
        label,
        send,
        shipped
    )]
    pub async fn ship(o: Order) -> Shipped;

    #[tokio::test(start_paused = true)]
    async fn elements_errors_timeouts_tolerated_failures_and_unstarted_nodes_are_told_apart() {
        let recorder = Recorder::new();
        let _ = ship::run(RunOptions::new().observe(recorder.clone()), Order(8)).await;
        let report = recorder.report();
        let svg = report.to_svg(Some(ship::graph()));
        super::assert_balanced(&svg);
        // Every element is named on its bar.
        for i in 0..8 {
            assert!(svg.contains(&format!(">[{i}]</text>")), "[{i}]: {svg}");
        }
        // A failed attempt's tooltip has its error; a timeout is drawn as a timeout, the
        // tolerated failure as tolerated, and neither as a plain failure.
        assert!(
            svg.contains("quote attempt 1: 0 to 120ms, timed out: timed out after 120ms</title>"),
            "{svg}"
        );
        assert!(
            svg.contains(
                "stock attempt 1: 0 to 30ms, tolerated failure: warehouse offline</title>"
            ),
            "{svg}"
        );
        assert_eq!(
            svg.matches("fill=\"#e08a1e\"").count(),
            2 + 1,
            "two timed-out bars and the legend"
        );
        assert!(
            !svg.contains("fill=\"#d64545\""),
            "no fatal-failure bar: {svg}"
        );
        // The critical path ends at the failure, not at `send`, which it cancelled.
        assert!(svg.contains("critical path: quote ·"), "{svg}");
        // A node that never started has its lane.
        assert!(
            svg.contains(">shipped</text>") && svg.contains("never started"),
            "{svg}"
        );
        // The legend names what the picture shows: a finished run has nothing running.
        for shown in [
            "finished",
            "timed out",
            "tolerated failure",
            "cancelled",
            "critical path",
        ] {
            assert!(svg.contains(&format!(">{shown}</text>")), "{shown}");
        }
        assert!(!svg.contains(">running</text>"));
        // The in-flight chart has a scale, up to the most in flight.
        let peak = report.max_parallelism();
        assert!(
            svg.contains(&format!("text-anchor=\"end\">{peak}</text>")),
            "{svg}"
        );
        assert!(svg.contains("text-anchor=\"end\">0</text>"));
    }
}

// ---- The graph picture, measured: no link or label behind a box --------------------------

mod geometry {
    use flow_runtime::graph::{Edge, Location, NodeTraits, OrderEdge, Param, Shape, Source, Step};
    use flow_runtime::{NodeInfo, WorkflowGraph};

    #[derive(Debug, Clone, Copy)]
    struct Rect {
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
    }

    impl Rect {
        /// Whether `(x, y)` is inside, more than `margin` from every side.
        fn holds(&self, x: f64, y: f64, margin: f64) -> bool {
            x > self.x0 + margin
                && x < self.x1 - margin
                && y > self.y0 + margin
                && y < self.y1 - margin
        }

        fn overlaps(&self, o: &Rect) -> bool {
            self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
        }
    }

    fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
        let key = format!(" {name}=\"");
        let start = tag.find(&key)? + key.len();
        Some(&tag[start..start + tag[start..].find('"')?])
    }

    fn num(tag: &str, name: &str) -> f64 {
        attr(tag, name).unwrap().parse().unwrap()
    }

    /// The picture's boxes (by item), links (from, to, sampled points) and labels.
    #[allow(clippy::type_complexity)]
    fn parse(
        svg: &str,
    ) -> (
        Vec<(usize, Rect)>,
        Vec<(usize, usize, Vec<(f64, f64)>)>,
        Vec<Rect>,
    ) {
        let (mut boxes, mut links, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        for tag in svg.split('<').map(|t| t.split('>').next().unwrap()) {
            match attr(tag, "class") {
                Some("box") => {
                    let item: usize = attr(tag, "data-item").unwrap().parse().unwrap();
                    let rect = if tag.starts_with("polygon") {
                        let points: Vec<(f64, f64)> = attr(tag, "points")
                            .unwrap()
                            .split(' ')
                            .map(|p| {
                                let (x, y) = p.split_once(',').unwrap();
                                (x.parse().unwrap(), y.parse().unwrap())
                            })
                            .collect();
                        Rect {
                            x0: points.iter().map(|p| p.0).fold(f64::MAX, f64::min),
                            y0: points.iter().map(|p| p.1).fold(f64::MAX, f64::min),
                            x1: points.iter().map(|p| p.0).fold(f64::MIN, f64::max),
                            y1: points.iter().map(|p| p.1).fold(f64::MIN, f64::max),
                        }
                    } else {
                        let (x, y) = (num(tag, "x"), num(tag, "y"));
                        Rect {
                            x0: x,
                            y0: y,
                            x1: x + num(tag, "width"),
                            y1: y + num(tag, "height"),
                        }
                    };
                    boxes.push((item, rect));
                }
                Some("edge") => {
                    let from = attr(tag, "data-from").unwrap().parse().unwrap();
                    let to = attr(tag, "data-to").unwrap().parse().unwrap();
                    links.push((from, to, sample(attr(tag, "d").unwrap())));
                }
                Some("label") => {
                    let (x, y) = (num(tag, "x"), num(tag, "y"));
                    labels.push(Rect {
                        x0: x,
                        y0: y - 10.0,
                        x1: x + num(tag, "data-w"),
                        y1: y + 3.0,
                    });
                }
                _ => {}
            }
        }
        (boxes, links, labels)
    }

    /// Points along a path of `M`, `L` and `C` commands.
    fn sample(d: &str) -> Vec<(f64, f64)> {
        let tokens: Vec<&str> = d.split([' ', ',']).filter(|t| !t.is_empty()).collect();
        let mut points = Vec::new();
        let mut at = (0.0, 0.0);
        let mut k = 0;
        let n = |k: usize| -> f64 { tokens[k].parse().unwrap() };
        while k < tokens.len() {
            match tokens[k] {
                "M" => {
                    at = (n(k + 1), n(k + 2));
                    points.push(at);
                    k += 3;
                }
                "L" => {
                    let to = (n(k + 1), n(k + 2));
                    for s in 1..=20 {
                        let t = f64::from(s) / 20.0;
                        points.push((at.0 + (to.0 - at.0) * t, at.1 + (to.1 - at.1) * t));
                    }
                    at = to;
                    k += 3;
                }
                "C" => {
                    let (c1, c2, to) = (
                        (n(k + 1), n(k + 2)),
                        (n(k + 3), n(k + 4)),
                        (n(k + 5), n(k + 6)),
                    );
                    for s in 1..=40 {
                        let t = f64::from(s) / 40.0;
                        let u = 1.0 - t;
                        let x = u * u * u * at.0
                            + 3.0 * u * u * t * c1.0
                            + 3.0 * u * t * t * c2.0
                            + t * t * t * to.0;
                        let y = u * u * u * at.1
                            + 3.0 * u * u * t * c1.1
                            + 3.0 * u * t * t * c2.1
                            + t * t * t * to.1;
                        points.push((x, y));
                    }
                    at = to;
                    k += 7;
                }
                other => panic!("unexpected path command `{other}` in {d}"),
            }
        }
        points
    }

    /// Checks the picture of `graph`: no link passes behind (or over) a box other than its
    /// own two, no label is on a box.
    fn check(graph: &WorkflowGraph) {
        let svg = graph.to_svg();
        let (boxes, links, labels) = parse(&svg);
        assert!(!boxes.is_empty(), "{}", graph.name());
        for (from, to, points) in &links {
            for (item, rect) in &boxes {
                if item == from || item == to {
                    continue;
                }
                if let Some(p) = points.iter().find(|p| rect.holds(p.0, p.1, 0.5)) {
                    panic!(
                        "workflow `{}`: the link {from} → {to} passes behind box {item} at {p:?}\n{svg}",
                        graph.name()
                    );
                }
            }
        }
        for label in &labels {
            for (item, rect) in &boxes {
                assert!(
                    !label.overlaps(rect),
                    "workflow `{}`: a label at {label:?} is on box {item}\n{svg}",
                    graph.name()
                );
            }
        }
    }

    #[test]
    fn no_link_or_label_is_behind_a_box_in_any_workflow_of_the_tests() {
        let mut checked = 0;
        for graph in flow_runtime::registry::workflows() {
            check(graph);
            checked += 1;
        }
        assert!(checked > 50, "{checked}");
    }

    /// A small deterministic generator (xorshift), so the graphs are the same on every run.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    fn leak<T>(v: Vec<T>) -> &'static [T] {
        Box::leak(v.into_boxed_slice())
    }

    fn text(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    /// A random DAG of `n` nodes: node `i` takes each earlier node's output (or the input)
    /// with some chance, some nodes mapped, some ordering edges.
    fn random_graph(rng: &mut Rng, n: usize, seed: usize) -> &'static WorkflowGraph {
        let here = Location::__new(module_path!(), file!(), line!(), column!());
        let traits = NodeTraits::__new(
            false, false, None, 1, false, false, false, false, false, false,
        );
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        let mut steps = Vec::new();
        for i in 0..n {
            let mut params = Vec::new();
            for p in 0..i {
                if rng.below(3) == 0 {
                    edges.push(Edge::__new(Source::Node(p), i, params.len()));
                    params.push(Param::__new(
                        text(format!("t{p}")),
                        text(format!("Type{p}")),
                    ));
                }
            }
            if params.is_empty() {
                edges.push(Edge::__new(Source::Input(0), i, 0));
                params.push(Param::__new("input", "Input"));
            }
            let name = text(format!("node_{seed}_{i}{}", "x".repeat(rng.below(12))));
            nodes.push(&*Box::leak(Box::new(NodeInfo::__new(
                name,
                name,
                here,
                leak(params),
                Some(text(format!("Type{i}"))),
                text(format!("Type{i}")),
                false,
                traits,
            ))));
            let shape = if rng.below(5) == 0 {
                Shape::Map {
                    concurrency: Some(2),
                    continue_on_error: false,
                }
            } else {
                Shape::Once
            };
            steps.push(Step::__new(shape, false));
        }
        let mut order = Vec::new();
        for _ in 0..rng.below(3) {
            let (a, b) = (rng.below(n), rng.below(n));
            if a < b {
                order.push(OrderEdge::__new(a, b));
            }
        }
        Box::leak(Box::new(WorkflowGraph::__new(
            text(format!("random_{seed}")),
            "random",
            here,
            leak(vec![Param::__new("input", "Input")]),
            Some(text(format!("Type{}", n - 1))),
            Some(n - 1),
            leak(nodes),
            leak(steps),
            leak(edges),
            leak(order),
        )))
    }

    #[test]
    fn no_link_or_label_is_behind_a_box_in_generated_graphs() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for seed in 0..200 {
            let n = 2 + rng.below(14);
            check(random_graph(&mut rng, n, seed));
        }
    }
}

mod crossings {
    use flow_runtime::{node, workflow};

    pub struct In;
    pub struct A;
    pub struct B;
    pub struct C;
    pub struct D;
    pub struct Out;

    #[node]
    async fn a(_i: &In) -> A {
        A
    }
    #[node]
    async fn b(_i: &In) -> B {
        B
    }
    // Listed so that, kept in list order, `c` (of `b`) sits above `d` (of `a`): their links
    // would cross.
    #[node]
    async fn c(_b: &B) -> C {
        C
    }
    #[node]
    async fn d(_a: &A) -> D {
        D
    }
    #[node]
    async fn out(_c: &C, _d: &D) -> Out {
        Out
    }

    #[workflow(a, b, c, d, out)]
    pub async fn untangled(i: In) -> Out;

    /// The y of each box in the picture, by item.
    fn box_y(svg: &str) -> Vec<(usize, f64)> {
        let mut out = Vec::new();
        for tag in svg.split('<') {
            if tag.starts_with("rect class=\"box\"") {
                let item = tag
                    .split("data-item=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                let y = tag
                    .split(" y=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                out.push((item.parse().unwrap(), y.parse().unwrap()));
            }
        }
        out
    }

    #[test]
    fn boxes_are_ordered_to_keep_links_from_crossing() {
        let svg = untangled::graph().to_svg();
        let y = |item: usize| box_y(&svg).into_iter().find(|b| b.0 == item).unwrap().1;
        // Items: 0 the input, 1 a, 2 b, 3 c, 4 d, 5 out, 6 the output.
        assert_eq!(
            y(1) < y(2),
            y(4) < y(3),
            "d sits on a's side, c on b's:\n{svg}"
        );
    }
}
