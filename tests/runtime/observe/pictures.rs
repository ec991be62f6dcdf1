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
