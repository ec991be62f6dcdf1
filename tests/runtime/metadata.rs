//! Static graph metadata, its renderings, and the registry.

use flow_runtime::graph::Source;
use flow_runtime::{node, registry, workflow};

pub struct Request(pub u32);
pub struct Items(pub Vec<u32>);
pub struct Jira(pub usize);
pub struct Slack(pub usize);
#[derive(Debug, PartialEq)]
pub struct Report(pub String);

#[node]
async fn fetch(req: &Request) -> Result<Items, std::io::Error> {
    Ok(Items((0..req.0).collect()))
}
#[node]
async fn jira(items: &Items) -> Jira {
    Jira(items.0.len())
}
#[node]
async fn slack(items: &Items) -> Slack {
    Slack(items.0.len() * 2)
}
#[node]
async fn merge(items: &Items, j: &Jira, s: &Slack) -> Report {
    Report(format!("{} {} {}", items.0.len(), j.0, s.0))
}

/// Enrich one request from two sources at once.
#[workflow(fetch, jira, slack, merge)]
pub async fn enrich(req: Request) -> Report;

#[tokio::test]
async fn the_diamond_runs() {
    assert_eq!(enrich(Request(3)).await.unwrap(), Report("3 3 6".into()));
}

#[test]
fn graph_lists_nodes_edges_inputs_and_output() {
    let g = enrich::graph();
    assert_eq!(g.name(), "enrich");
    assert_eq!(g.fn_name(), "enrich");
    assert_eq!(g.module_path(), "runtime::metadata");
    assert!(g.location().file().ends_with("metadata.rs"));
    let names: Vec<_> = g.nodes().iter().map(|n| n.name()).collect();
    assert_eq!(names, ["fetch", "jira", "slack", "merge"]);
    assert_eq!(g.inputs().len(), 1);
    assert_eq!(
        (g.inputs()[0].name(), g.inputs()[0].ty()),
        ("req", "Request")
    );
    assert_eq!(g.output(), Some("Report"));
    assert_eq!(g.output_node(), Some(3));
    let edges: Vec<_> = g
        .edges()
        .iter()
        .map(|e| (e.from(), e.to(), e.param(), g.edge_type(e)))
        .collect();
    assert_eq!(
        edges,
        [
            (Source::Input(0), 0, 0, "Request"),
            (Source::Node(0), 1, 0, "Items"),
            (Source::Node(0), 2, 0, "Items"),
            (Source::Node(0), 3, 0, "Items"),
            (Source::Node(1), 3, 1, "Jira"),
            (Source::Node(2), 3, 2, "Slack"),
        ]
    );
    assert_eq!(g.edges_into(3).count(), 3);
    assert_eq!(g.node_index("slack"), Some(2));

    let fetch = g.nodes()[0];
    assert_eq!(fetch.returns(), "Result<Items, std::io::Error>");
    assert_eq!(fetch.output(), Some("Items"));
    assert!(fetch.is_fallible());
    assert!(!g.nodes()[1].is_fallible());
    let merge = g.nodes()[3];
    let params: Vec<_> = merge.inputs().iter().map(|p| (p.name(), p.ty())).collect();
    assert_eq!(params, [("items", "Items"), ("j", "Jira"), ("s", "Slack")]);
    assert_eq!(merge.location().line(), 26);
    assert_eq!(merge.location().column(), 10);
}

#[test]
fn mermaid_and_dot() {
    assert_eq!(
        enrich::graph().to_mermaid(),
        "flowchart LR
    in0[/\"req: Request\"/]
    n0[\"fetch\"]
    n1[\"jira\"]
    n2[\"slack\"]
    n3[\"merge\"]
    out([\"Report\"])
    in0 -- \"Request\" --> n0
    n0 -- \"Items\" --> n1
    n0 -- \"Items\" --> n2
    n0 -- \"Items\" --> n3
    n1 -- \"Jira\" --> n3
    n2 -- \"Slack\" --> n3
    n3 -- \"Report\" --> out
"
    );
    assert_eq!(
        enrich::graph().to_dot(),
        "digraph \"enrich\" {
    rankdir=LR;
    node [shape=box, fontname=\"Helvetica\"];
    edge [fontname=\"Helvetica\", fontsize=10];
    in0 [label=\"req: Request\", shape=parallelogram];
    n0 [label=\"fetch\"];
    n1 [label=\"jira\"];
    n2 [label=\"slack\"];
    n3 [label=\"merge\"];
    out [label=\"Report\", shape=oval];
    in0 -> n0 [label=\"Request\"];
    n0 -> n1 [label=\"Items\"];
    n0 -> n2 [label=\"Items\"];
    n0 -> n3 [label=\"Items\"];
    n1 -> n3 [label=\"Jira\"];
    n2 -> n3 [label=\"Slack\"];
    n3 -> out [label=\"Report\"];
}
"
    );
}

#[test]
fn registry_lists_linked_nodes_and_workflows() {
    let merge = registry::nodes()
        .find(|n| n.name() == "merge" && n.module_path() == "runtime::metadata")
        .expect("merge is registered");
    assert_eq!(merge.output(), Some("Report"));
    assert!(registry::workflows().any(|w| std::ptr::eq(w, enrich::graph())));
    // Workflows from every module of the test binary, and nodes from another crate.
    let names: Vec<_> = registry::workflows().map(|w| w.name()).collect();
    for expected in [
        "enrich",
        "letter_count",
        "shout_it",
        "error-types",
        "sixty_four",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let split = registry::node("split").expect("a node from another crate");
    assert_eq!(split.module_path(), "flow_test_external_nodes::nodes");
    assert!(registry::workflow("no-such-workflow").is_none());
}

pub struct Page(pub u32);
pub struct Pages(pub usize);

#[flow_runtime::node]
async fn pages(n: &u32) -> Vec<Page> {
    (0..*n).map(Page).collect()
}

#[flow_runtime::node]
#[allow(clippy::ptr_arg)] // `&Vec<Page>` on purpose: the label under test
async fn count_pages(pages: &Vec<Page>) -> Pages {
    Pages(pages.iter().map(|p| p.0 as usize).sum())
}

#[flow_runtime::workflow(pages, count_pages)]
pub async fn paging(n: u32) -> Pages;

#[test]
fn mermaid_labels_generic_types_readably() {
    let mermaid = paging::graph().to_mermaid();
    assert!(mermaid.contains("n0 -- \"Vec‹Page›\" --> n1"), "{mermaid}");
    assert!(
        !mermaid.contains("#lt;") && !mermaid.contains('<'),
        "{mermaid}"
    );
}

#[tokio::test]
async fn the_paging_workflow_runs() {
    assert_eq!(paging(3).await.unwrap().0, 3);
}
