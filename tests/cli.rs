//! `flow_runtime::cli`: the command line over the workflows this test program links.

use flow_runtime::{node, workflow};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Order {
    pub id: u32,
    pub items: Vec<String>,
}
#[derive(Serialize, Deserialize)]
pub struct Count(pub usize);
#[derive(Serialize, Deserialize, Debug)]
pub struct Receipt(pub String);

#[node]
async fn count(order: &Order) -> Count {
    Count(order.items.len())
}

#[node]
async fn receipt(order: &Order, count: &Count, note: &String) -> Receipt {
    Receipt(format!("order {}: {} items ({note})", order.id, count.0))
}

#[workflow(count, receipt, durable)]
pub async fn checkout(order: Order, note: String) -> Receipt;

pub struct Plain(pub u32);

#[node]
async fn plain(n: &u32) -> Plain {
    Plain(*n)
}

#[workflow(plain)]
pub async fn not_durable(n: u32) -> Plain;

async fn cli(args: &[&str]) -> (Result<(), flow_runtime::cli::CliError>, String) {
    let mut out = Vec::new();
    let mut argv = vec!["flow"];
    argv.extend_from_slice(args);
    let result = flow_runtime::cli::execute(argv, &mut out).await;
    (result, String::from_utf8(out).unwrap())
}

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("flow-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn list_and_graph_show_the_linked_workflows() {
    let (r, out) = cli(&["list"]).await;
    r.unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("checkout")
            && lines[0].contains("(order: Order, note: String) -> Receipt  [2 nodes, durable]"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("not_durable") && lines[1].contains("[1 node]"),
        "{out}"
    );

    let (r, out) = cli(&["list", "--json"]).await;
    r.unwrap();
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["name"], "checkout");
    assert_eq!(first["durable"], true);
    assert_eq!(first["nodes"], serde_json::json!(["count", "receipt"]));
    assert_eq!(
        first["inputs"][1],
        serde_json::json!({"name": "note", "type": "String"})
    );

    let (r, out) = cli(&["graph", "checkout", "--format", "dot"]).await;
    r.unwrap();
    assert!(out.starts_with("digraph"), "{out}");
    assert_eq!(out, checkout::graph().to_dot());
    let (r, out) = cli(&["graph", "checkout"]).await;
    r.unwrap();
    assert_eq!(out, checkout::graph().to_mermaid());
}

#[tokio::test]
async fn unknown_commands_arguments_and_values_are_errors() {
    for args in [
        &["list", "--jsn"][..],
        &["lists"],
        &["graph"],
        &["graph", "checkout", "--format", "png"],
        &["runs", "extra"],
        &[],
    ] {
        let (r, out) = cli(args).await;
        let e = r.expect_err(&format!("{args:?} is an error"));
        assert!(!e.is_help(), "{args:?}");
        assert_eq!(e.exit_code(), std::process::ExitCode::from(2), "{args:?}");
        let text = e.to_string();
        assert!(
            text.contains("Usage:") || text.contains("--help"),
            "{args:?}: {text}"
        );
        assert!(out.is_empty());
    }
    let (r, _) = cli(&["list", "--jsn"]).await;
    assert!(r.unwrap_err().to_string().contains("--jsn"));
    let (r, _) = cli(&["--help"]).await;
    let help = r.unwrap_err();
    assert!(help.is_help());
    for command in ["list", "graph", "run", "runs", "show", "resume"] {
        assert!(help.to_string().contains(command), "{help}");
    }
    let (r, _) = cli(&["graph", "nope"]).await;
    assert_eq!(
        r.unwrap_err().to_string(),
        "no workflow `nope`; this program links: checkout, not_durable"
    );
}

#[tokio::test]
async fn run_runs_show_and_resume_a_durable_workflow_from_json() {
    let d = dir("run");
    let db = d.join("runs.db");
    let db = db.to_str().unwrap();
    let order = r#"{"id": 7, "items": ["tea", "cups"]}"#;
    let (r, out) = cli(&[
        "run", "checkout", order, "\"gift\"", "--db", db, "--run-id", "o-7",
    ])
    .await;
    r.unwrap();
    assert_eq!(out, "\"order 7: 2 items (gift)\"\n");

    let (r, out) = cli(&["runs", "--db", db]).await;
    r.unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[1].starts_with("o-7")
            && lines[1].contains("checkout")
            && lines[1].contains("succeeded"),
        "{out}"
    );

    let svg = d.join("o-7.svg");
    let (r, out) = cli(&["show", "o-7", "--db", db, "--out", svg.to_str().unwrap()]).await;
    r.unwrap();
    assert!(
        out.starts_with("run `o-7` of `checkout`: succeeded"),
        "{out}"
    );
    assert!(
        out.contains("completed") && out.contains("count") && out.contains("receipt"),
        "{out}"
    );
    assert!(out.contains("output: \"order 7: 2 items (gift)\""), "{out}");
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));

    // A finished run returns what it recorded.
    let (r, out) = cli(&["resume", "o-7", "--db", db]).await;
    r.unwrap();
    assert_eq!(out, "\"order 7: 2 items (gift)\"\n");
    // The same id with other inputs is a conflict, not a new run.
    let (r, _) = cli(&[
        "run",
        "checkout",
        order,
        "\"other\"",
        "--db",
        db,
        "--run-id",
        "o-7",
    ])
    .await;
    let e = r.unwrap_err().to_string();
    assert!(
        e.starts_with("run `o-7` failed:") && e.contains("other inputs"),
        "{e}"
    );
}

#[tokio::test]
async fn run_says_what_is_wrong_with_its_inputs() {
    let d = dir("inputs");
    let db = d.join("runs.db");
    let db = db.to_str().unwrap();
    let (r, _) = cli(&["run", "checkout", "{}", "--db", db]).await;
    assert_eq!(
        r.unwrap_err().to_string(),
        "workflow `checkout` takes 2 inputs (order: Order, note: String), as JSON; 1 given"
    );
    let (r, _) = cli(&["run", "checkout", "{}", "gift", "--db", db]).await;
    let e = r.unwrap_err().to_string();
    assert!(e.starts_with("input 2 (`note: String`) is not JSON"), "{e}");
    let (r, _) = cli(&["run", "checkout", r#"{"id": "x"}"#, "\"gift\"", "--db", db]).await;
    let e = r.unwrap_err().to_string();
    assert!(e.contains("failed") && e.contains("Order"), "{e}");
    let (r, _) = cli(&["run", "not_durable", "1", "--db", db]).await;
    assert!(
        r.unwrap_err()
            .to_string()
            .starts_with("workflow `not_durable` is not durable")
    );
    let (r, _) = cli(&["resume", "nope", "--db", db]).await;
    assert_eq!(r.unwrap_err().to_string(), "no run `nope` in the store");
}
