//! `flow`: the demo, and the command line over the workflows this program links
//! (`flow_runtime::cli`, which any program's `main` can call).
//!
//! ```text
//! cargo run --example flow                       # the demo: `demo`, then `durable`
//! cargo run --example flow -- demo --out timeline.svg --events events.jsonl --report report.json
//! cargo run --example flow -- durable            # a durable run killed mid-flight, then resumed
//! cargo run --example flow -- list               # the workflows this program links
//! cargo run --example flow -- graph research     # a graph as Mermaid (default), dot or svg
//! cargo run --example flow -- graph research --format svg --out research.svg
//! cargo run --example flow -- run checkout '{"items": ["tea"]}'   # a durable run from JSON
//! cargo run --example flow -- runs               # the runs of the store (runs.db)
//! cargo run --example flow -- show ID --out run.svg
//! cargo run --example flow -- resume ID
//! cargo run --example flow -- help               # every command, and `help COMMAND`
//! ```
//!
//! The demo, `research`, has every shape: a map over a runtime list with a concurrency bound,
//! parallel branches, a race of two mirrors, a node that retries after a failure, and a node
//! that returns `Option` (the node after it is skipped when it returns `None`).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flow_runtime::events::{self, Event, EventKind};
use flow_runtime::store::SqliteStore;
use flow_runtime::{RunContext, RunOptions, RunReport, node, workflow};
use serde::{Deserialize, Serialize};
use tokio::time::sleep;

// ---- The demo workflow -------------------------------------------------------------------

/// What to research.
pub struct Topic(String);
/// A source found for the topic.
pub struct Source {
    title: String,
    words: u64,
}
/// A summary of one source.
pub struct Summary(String);
/// Related work, from whichever mirror answers first.
pub struct Related(Vec<String>);
/// A glossary, from a service that fails once before it answers.
pub struct Glossary(Vec<String>);
/// A cached report, if there is one.
pub struct Cached(String);
/// The cached report, refreshed.
pub struct Refreshed(String);
/// The report.
pub struct Report(String);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[node]
async fn find_sources(topic: &Topic) -> Vec<Source> {
    sleep(ms(150)).await;
    (1..=6)
        .map(|i| Source {
            title: format!("{} #{i}", topic.0),
            words: 400 + 170 * i,
        })
        .collect()
}

#[node]
async fn summarize(source: &Source) -> Summary {
    // Longer sources take longer.
    sleep(ms(source.words / 4)).await;
    Summary(format!("{} ({} words)", source.title, source.words))
}

#[node]
async fn primary_mirror(topic: &Topic) -> Result<Related, String> {
    sleep(ms(700)).await;
    Ok(Related(vec![format!("{}: survey (primary)", topic.0)]))
}

#[node]
async fn backup_mirror(topic: &Topic) -> Result<Related, String> {
    sleep(ms(350)).await;
    Ok(Related(vec![format!("{}: survey (backup)", topic.0)]))
}

static GLOSSARY_CALLS: AtomicU32 = AtomicU32::new(0);

#[node(
    retry(max_attempts = 3, initial = "200ms", jitter = false),
    timeout = "1s"
)]
async fn glossary(topic: &Topic) -> Result<Glossary, String> {
    sleep(ms(120)).await;
    if GLOSSARY_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err("glossary service busy".to_string());
    }
    Ok(Glossary(vec![topic.0.clone(), "workflow".into()]))
}

#[node]
async fn cache_lookup(topic: &Topic) -> Option<Cached> {
    sleep(ms(60)).await;
    // Nothing cached for this topic: `refresh` is skipped.
    topic
        .0
        .starts_with("cached")
        .then(|| Cached(topic.0.clone()))
}

#[node]
async fn refresh(cached: &Cached) -> Refreshed {
    sleep(ms(100)).await;
    Refreshed(cached.0.clone())
}

#[node]
async fn compose(
    summaries: &[Summary],
    related: &Related,
    glossary: &Glossary,
    refreshed: Option<&Refreshed>,
) -> Report {
    sleep(ms(200)).await;
    Report(format!(
        "{} summaries (longest: {}), {} related, {} terms, {}",
        summaries.len(),
        summaries.last().map_or("none", |s| s.0.as_str()),
        related.0.len(),
        glossary.0.len(),
        refreshed.map_or("no cache", |r| r.0.as_str())
    ))
}

/// Researches a topic: sources summarized three at a time, related work from the faster
/// mirror, a glossary that needs a retry, and a cache that is not there.
#[workflow(
    find_sources,
    map(summarize, concurrency = 3),
    race(primary_mirror, backup_mirror),
    glossary,
    cache_lookup,
    refresh,
    compose
)]
pub async fn research(topic: Topic) -> Report;

/// A text.
pub struct Text(String);

/// Counts the words of a text: the smallest workflow there is.
#[node]
async fn count(text: &Text) -> u64 {
    text.0.split_whitespace().count() as u64
}

#[workflow(count)]
pub async fn word_count(text: Text) -> u64;

// ---- A durable workflow ------------------------------------------------------------------

/// A basket to check out.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Basket {
    items: Vec<String>,
}
/// One item, reserved in the warehouse.
#[derive(Serialize, Deserialize, Debug)]
pub struct Reserved {
    item: String,
    shelf: u32,
}
/// The payment.
#[derive(Serialize, Deserialize, Debug)]
pub struct Payment {
    cents: u64,
    key: String,
}
/// The receipt.
#[derive(Serialize, Deserialize, Debug)]
pub struct Receipt(String);

#[node]
async fn items(basket: &Basket) -> Vec<String> {
    basket.items.clone()
}

#[node]
async fn reserve(item: &String, ctx: &RunContext) -> Reserved {
    sleep(ms(250)).await;
    eprintln!("  reserved {item} ({})", ctx.idempotency_key());
    Reserved {
        item: item.clone(),
        shelf: item.len() as u32,
    }
}

#[node]
async fn charge(reserved: &[Reserved], ctx: &RunContext) -> Payment {
    sleep(ms(200)).await;
    // A payment service would take the key and charge once, however often it is called.
    let key = ctx.idempotency_key();
    eprintln!("  charged {} items ({key})", reserved.len());
    Payment {
        cents: 995 * reserved.len() as u64,
        key,
    }
}

#[node]
async fn receipt(reserved: &[Reserved], payment: &Payment) -> Receipt {
    let shelves: Vec<String> = reserved
        .iter()
        .map(|r| format!("{}@{}", r.item, r.shelf))
        .collect();
    Receipt(format!(
        "{} for {} (payment {})",
        payment.cents,
        shelves.join(", "),
        payment.key
    ))
}

/// Checks a basket out: each item reserved (two at a time), then one charge, then the
/// receipt. Durable: a run given a store survives its process.
#[workflow(items, map(reserve, concurrency = 2), charge, receipt, durable)]
pub async fn checkout(basket: Basket) -> Receipt;

// ---- The front end -----------------------------------------------------------------------

const DEMO_USAGE: &str = "\
demo commands (every other command is `flow_runtime::cli`'s: list, graph, run, runs, show, resume):
  demo [--out FILE] [--events FILE] [--report FILE]
        run the demo workflow `research` with live progress, then write its timeline
        (default: timeline.svg); optionally the events (JSON lines) and the report (JSON)
  durable [--db FILE]
        run the durable workflow `checkout` in a child process, kill it mid-run, and
        resume it here: what completed before the kill is read back, not run again

With no command: `demo`, then `durable`.";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        // The demo: `research`, then a durable run killed and resumed.
        None => match demo(&[]).await {
            Ok(()) => {
                eprintln!();
                durable(&[]).await
            }
            Err(e) => Err(e),
        },
        Some("demo") => demo(&args[1..]).await,
        Some("durable") => durable(&args[1..]).await,
        Some("durable-child") => durable_child(&args[1..]).await,
        Some("help" | "--help" | "-h") if args.len() == 1 => {
            println!("{DEMO_USAGE}\n");
            let _ = flow_runtime::cli::command().print_help();
            Ok(())
        }
        // Everything else: the library's command line, over this program's workflows.
        Some(_) => return flow_runtime::cli::main().await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("flow: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The value after `--name`, if given; an error for a flag without a value or an unknown one.
fn flags<'a>(args: &'a [String], known: &[&str]) -> Result<Vec<(&'a str, &'a str)>, String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if !known.contains(&flag.as_str()) {
            return Err(format!("unknown argument `{flag}`\n\n{DEMO_USAGE}"));
        }
        let value = it.next().ok_or_else(|| format!("`{flag}` needs a value"))?;
        out.push((flag.as_str(), value.as_str()));
    }
    Ok(out)
}

fn flag<'a>(flags: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    flags
        .iter()
        .rev()
        .find(|(f, _)| *f == name)
        .map(|(_, v)| *v)
}

fn write_file(path: &str, contents: &str) -> Result<(), String> {
    std::fs::write(path, contents).map_err(|e| format!("cannot write `{path}`: {e}"))
}

async fn demo(args: &[String]) -> Result<(), String> {
    let flags = flags(args, &["--out", "--events", "--report"])?;
    let out = flag(&flags, "--out").unwrap_or("timeline.svg");
    let (sender, mut stream) = events::channel();
    let live = std::io::stderr().is_terminal();
    let progress = tokio::spawn(async move {
        let mut all = Vec::new();
        let mut in_flight: Vec<String> = Vec::new();
        while let Some(event) = stream.recv().await {
            show(&event, &mut in_flight, live);
            all.push(event);
        }
        all
    });
    eprintln!("running `research` (a map of 6 sources, 3 at a time; a race; a retry; a skip)");
    let result = research::run(
        RunOptions::new().observe(sender),
        Topic("parallel workflows".into()),
    )
    .await;
    let events = progress.await.map_err(|e| e.to_string())?;
    let report = RunReport::from_events(&events);
    match &result {
        Ok(r) => println!("report: {}", r.0),
        Err(e) => println!("failed: {e}"),
    }
    write_file(out, &report.to_svg(Some(research::graph())))?;
    eprintln!(
        "wrote {out}: {} lanes, at most {} nodes at once, critical path {}",
        report
            .nodes
            .iter()
            .map(|n| &n.node)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        report.max_parallelism(),
        report
            .critical_path(Some(research::graph()))
            .iter()
            .map(|&k| report.nodes[k].label())
            .collect::<Vec<_>>()
            .join(" → ")
    );
    if let Some(path) = flag(&flags, "--events") {
        let lines: Vec<String> = events
            .iter()
            .map(|e| serde_json::to_string(e).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        write_file(path, &(lines.join("\n") + "\n"))?;
        eprintln!("wrote {path}: {} events", events.len());
    }
    if let Some(path) = flag(&flags, "--report") {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        write_file(path, &(json + "\n"))?;
        eprintln!("wrote {path}");
    }
    result.map(|_| ()).map_err(|e| e.to_string())
}

/// Prints one event, and (on a terminal) the nodes in flight below it.
fn show(event: &Event, in_flight: &mut Vec<String>, live: bool) {
    let who = match (event.kind.node(), event.kind.element()) {
        (Some(n), Some(i)) => format!("{n}[{i}]"),
        (Some(n), None) => n.to_string(),
        (None, _) => String::new(),
    };
    let at = format!("{:>7.1?}", event.at);
    let line = match &event.kind {
        EventKind::RunStarted { workflow, .. } => format!("run {} started", workflow),
        EventKind::RunFinished {
            outcome, duration, ..
        } => format!("run finished: {outcome:?} in {duration:.1?}"),
        EventKind::NodeStarted { .. } => {
            in_flight.push(who.clone());
            format!("▶ {who}")
        }
        EventKind::NodeRetrying {
            attempt,
            delay,
            error,
            ..
        } => format!("↻ {who}: attempt {attempt} failed ({error}); retrying in {delay:?}"),
        EventKind::NodeFinished {
            duration, attempts, ..
        } => {
            in_flight.retain(|n| *n != who);
            let tries = if *attempts > 1 {
                format!(", {attempts} attempts")
            } else {
                String::new()
            };
            format!("✔ {who} ({duration:.0?}{tries})")
        }
        EventKind::NodeFailed { error, .. } => {
            in_flight.retain(|n| *n != who);
            format!("✖ {who}: {error}")
        }
        EventKind::NodeSkipped { .. } => format!("⊘ {who} skipped"),
        EventKind::NodeCancelled { .. } => {
            in_flight.retain(|n| *n != who);
            format!("■ {who} cancelled")
        }
        other => format!("{} {who}", other.name()),
    };
    let mut err = std::io::stderr().lock();
    if live {
        // Replace the in-flight line with the event, then draw it again.
        let _ = write!(err, "\r\x1b[2K{at}  {line}\n");
        if !in_flight.is_empty() {
            let _ = write!(
                err,
                "\x1b[2m         in flight: {}\x1b[0m",
                in_flight.join(", ")
            );
        }
        let _ = err.flush();
    } else {
        let _ = writeln!(err, "{at}  {line}   [in flight: {}]", in_flight.len());
    }
}

// ---- Durable runs ------------------------------------------------------------------------

const DB: &str = "runs.db";

fn open_store(path: &str) -> Result<SqliteStore, String> {
    SqliteStore::open(path).map_err(|e| format!("cannot open the store: {e}"))
}

/// An error and its causes on one line.
fn chain(e: &flow_runtime::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn basket() -> Basket {
    Basket {
        items: ["tea", "mug", "kettle", "honey", "spoon", "lemon"]
            .map(String::from)
            .to_vec(),
    }
}

/// The child of `durable`: starts run `ID` of `checkout` and is killed during it.
async fn durable_child(args: &[String]) -> Result<(), String> {
    let [db, id] = args else {
        return Err("usage: flow durable-child DB ID".into());
    };
    let store = open_store(db)?;
    checkout::run(
        RunOptions::new().run_id(id.as_str()).store(&store),
        basket(),
    )
    .await
    .map(|_| ())
    .map_err(|e| chain(&e))
}

async fn durable(args: &[String]) -> Result<(), String> {
    let flags = flags(args, &["--db"])?;
    let db = flag(&flags, "--db").unwrap_or(DB);
    let id = format!(
        "checkout-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    eprintln!(
        "starting run `{id}` of `checkout` (6 items reserved two at a time, then a charge) in a child process"
    );
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(exe)
        .args(["durable-child", db, &id])
        .spawn()
        .map_err(|e| format!("cannot start the child: {e}"))?;
    sleep(ms(650)).await;
    // SIGKILL: the process gets no chance to clean up.
    child.kill().map_err(|e| e.to_string())?;
    let _ = child.wait();
    eprintln!("killed the child (kill -9) mid-run");
    let store = open_store(db)?;
    let rec = store
        .run(&id)
        .map_err(|e| e.to_string())?
        .ok_or("the child recorded nothing")?;
    let before = rec.completed_nodes();
    eprintln!(
        "the store holds run `{id}` ({}): completed {}",
        rec.status(),
        names(&before)
    );
    eprintln!("resuming it in this process:");
    let receipt = checkout::resume(RunOptions::new().run_id(id.as_str()).store(&store))
        .await
        .map_err(|e| chain(&e))?;
    println!("receipt: {}", receipt.0);
    let rec = store.run(&id).map_err(|e| e.to_string())?.ok_or("gone")?;
    let after: Vec<_> = rec
        .completed_nodes()
        .into_iter()
        .filter(|n| !before.contains(n))
        .collect();
    eprintln!("read back: {}; ran now: {}", names(&before), names(&after));
    eprintln!("see it with `flow runs`, `flow show {id}`, `flow resume {id}`");
    Ok(())
}

fn names(nodes: &[(String, Option<usize>)]) -> String {
    if nodes.is_empty() {
        return "nothing".into();
    }
    nodes
        .iter()
        .map(|(n, e)| match e {
            Some(i) => format!("{n}[{i}]"),
            None => n.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
