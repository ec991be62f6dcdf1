//! A command line over the workflows a program links: `list`, `graph`, `run`, `runs`,
//! `show` and `resume`, for a program's `main` to hand its arguments to (cargo feature
//! `cli`, built on `clap`).
//!
//! ```no_run
//! use flow_runtime::{node, workflow};
//! # #[derive(serde::Serialize, serde::Deserialize)] pub struct Order(u32);
//! # #[derive(serde::Serialize, serde::Deserialize)] pub struct Receipt(u32);
//! # #[node] async fn receipt(o: &Order) -> Receipt { Receipt(o.0) }
//!
//! #[workflow(receipt, durable)]
//! pub async fn checkout(order: Order) -> Receipt;
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     // `my-app list`, `my-app graph checkout --format svg --out checkout.svg`,
//!     // `my-app run checkout 42 --run-id order-42`, `my-app runs`, `my-app show order-42`,
//!     // `my-app resume order-42`, `my-app help run`
//!     flow_runtime::cli::main().await
//! }
//! ```
//!
//! Every command takes `--db FILE` where it reads a store (default `runs.db`). `run` and
//! `resume` run durable workflows (`#[workflow(..., durable)]`): their inputs and outputs
//! are JSON, one argument per input, as the store records them. Unknown commands,
//! arguments and values are errors, with the usage.

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::store::{RunRecord, RunStatus, SqliteStore};
use crate::{RunOptions, RunReport, registry};

/// The command line's commands and arguments, as `clap` parses them: to add commands of
/// your own, or to render its help.
pub fn command() -> Command {
    let db = || {
        Arg::new("db")
            .long("db")
            .value_name("FILE")
            .default_value("runs.db")
            .help("the SQLite store of durable runs")
    };
    let out = |default: &'static str, what: &'static str| {
        Arg::new("out")
            .long("out")
            .value_name("FILE")
            .default_value(default)
            .help(what)
    };
    Command::new("flow")
        .about("The workflows this program links: their graphs, their runs, their stores.")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("list")
                .about("List the workflows this program links")
                .arg(
                    Arg::new("json")
                        .long("json")
                        .action(ArgAction::SetTrue)
                        .help("one JSON object per workflow: name, inputs, output, nodes, durable, location"),
                ),
        )
        .subcommand(
            Command::new("graph")
                .about("Print (or write) a workflow's graph")
                .arg(Arg::new("workflow").required(true).help("the workflow's name"))
                .arg(
                    Arg::new("format")
                        .long("format")
                        .value_parser(["mermaid", "dot", "svg"])
                        .default_value("mermaid"),
                )
                .arg(
                    Arg::new("out")
                        .long("out")
                        .value_name("FILE")
                        .help("write to FILE instead of printing"),
                ),
        )
        .subcommand(
            Command::new("run")
                .about("Run a durable workflow on JSON inputs, journaled in the store; print its output as JSON")
                .arg(Arg::new("workflow").required(true).help("the workflow's name"))
                .arg(
                    Arg::new("inputs")
                        .num_args(0..)
                        .value_name("INPUT")
                        .help("each input as JSON, in the workflow's order (`42`, `'\"text\"'`, `'{\"id\": 1}'`)"),
                )
                .arg(
                    Arg::new("run-id")
                        .long("run-id")
                        .value_name("ID")
                        .help("the run's id (default: a new one); an id that exists continues that run"),
                )
                .arg(db()),
        )
        .subcommand(
            Command::new("runs")
                .about("The runs of a store: id, workflow, status, started, took")
                .arg(db()),
        )
        .subcommand(
            Command::new("show")
                .about("A run's journal, and its timeline drawn from it")
                .arg(Arg::new("id").required(true).help("the run's id"))
                .arg(db())
                .arg(out("run.svg", "where to write the timeline")),
        )
        .subcommand(
            Command::new("resume")
                .about("Continue a run from its store; print its output as JSON")
                .arg(Arg::new("id").required(true).help("the run's id"))
                .arg(db()),
        )
}

/// Why a command failed: its arguments (with the usage), or what it did.
#[derive(Debug)]
pub struct CliError(Repr);

#[derive(Debug)]
enum Repr {
    Usage(clap::Error),
    Failed(String),
}

impl CliError {
    fn failed(message: impl Into<String>) -> Self {
        CliError(Repr::Failed(message.into()))
    }

    /// The exit code a program should end with: 2 for bad arguments, 1 for a failed command
    /// (0 for `--help`, which `clap` reports as an error that is not one).
    pub fn exit_code(&self) -> ExitCode {
        match &self.0 {
            Repr::Usage(e) if !e.use_stderr() => ExitCode::SUCCESS,
            Repr::Usage(_) => ExitCode::from(2),
            Repr::Failed(_) => ExitCode::FAILURE,
        }
    }

    /// Whether this is help (or a version) asked for, to print rather than report.
    pub fn is_help(&self) -> bool {
        matches!(&self.0, Repr::Usage(e) if !e.use_stderr())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Usage(e) => write!(f, "{e}"),
            Repr::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CliError {}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::failed(e.to_string())
    }
}

/// Runs the command line on the program's own arguments, printing to stdout (errors to
/// stderr): the body of a `main`.
pub async fn main() -> ExitCode {
    let mut stdout = std::io::stdout();
    match execute(std::env::args_os(), &mut stdout).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_help() => {
            let _ = write!(stdout, "{e}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            match &e.0 {
                Repr::Usage(_) => eprint!("{e}"),
                Repr::Failed(m) => eprintln!("error: {m}"),
            }
            e.exit_code()
        }
    }
}

/// Runs one command line (`args`, the program's name first, as `std::env::args_os` gives
/// it), writing what it prints to `out`.
pub async fn execute<I, T>(args: I, out: &mut dyn Write) -> Result<(), CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = command()
        .try_get_matches_from(args)
        .map_err(|e| CliError(Repr::Usage(e)))?;
    match matches.subcommand() {
        Some(("list", m)) => Ok(list(m.get_flag("json"), out)?),
        Some(("graph", m)) => graph(m, out),
        Some(("run", m)) => run(m, out).await,
        Some(("runs", m)) => runs(m, out),
        Some(("show", m)) => show(m, out),
        Some(("resume", m)) => resume(m, out).await,
        _ => unreachable!("a subcommand is required"),
    }
}

fn arg<'m>(m: &'m ArgMatches, name: &str) -> &'m str {
    m.get_one::<String>(name).map_or("", String::as_str)
}

fn list(json: bool, out: &mut dyn Write) -> std::io::Result<()> {
    let mut workflows: Vec<_> = registry::workflows().collect();
    workflows.sort_by_key(|w| (w.name(), w.module_path()));
    for w in workflows {
        let durable = registry::durable(w.name()).is_some();
        if json {
            let value = serde_json::json!({
                "name": w.name(),
                "inputs": w.inputs().iter().map(|p| serde_json::json!({"name": p.name(), "type": p.ty()})).collect::<Vec<_>>(),
                "output": w.output(),
                "nodes": w.nodes().iter().map(|n| n.name()).collect::<Vec<_>>(),
                "durable": durable,
                "location": w.location().to_string(),
            });
            writeln!(out, "{value}")?;
        } else {
            let inputs: Vec<String> = w
                .inputs()
                .iter()
                .map(|p| format!("{}: {}", p.name(), p.ty()))
                .collect();
            let n = w.nodes().len();
            writeln!(
                out,
                "{:<16} ({}) -> {}  [{n} node{}{}]  {}",
                w.name(),
                inputs.join(", "),
                w.output().unwrap_or("()"),
                if n == 1 { "" } else { "s" },
                if durable { ", durable" } else { "" },
                w.location()
            )?;
        }
    }
    Ok(())
}

fn workflow_named(name: &str) -> Result<&'static crate::WorkflowGraph, CliError> {
    registry::workflow(name).ok_or_else(|| {
        let mut known: Vec<&str> = registry::workflows().map(|w| w.name()).collect();
        known.sort_unstable();
        CliError::failed(format!(
            "no workflow `{name}`; this program links: {}",
            known.join(", ")
        ))
    })
}

fn write_file(path: &str, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|e| CliError::failed(format!("cannot write `{path}`: {e}")))
}

fn graph(m: &ArgMatches, out: &mut dyn Write) -> Result<(), CliError> {
    let graph = workflow_named(arg(m, "workflow"))?;
    let text = match arg(m, "format") {
        "dot" => graph.to_dot(),
        "svg" => graph.to_svg(),
        _ => graph.to_mermaid(),
    };
    match m.get_one::<String>("out") {
        Some(path) => write_file(path, &text),
        None => Ok(out.write_all(text.as_bytes())?),
    }
}

fn open(m: &ArgMatches) -> Result<SqliteStore, CliError> {
    let path = arg(m, "db");
    SqliteStore::open(path)
        .map_err(|e| CliError::failed(format!("cannot open the store `{path}`: {e}")))
}

/// An error and its causes on one line.
fn chain(e: &crate::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn durable_named(name: &str) -> Result<&'static registry::DurableRegistration, CliError> {
    if let Some(entry) = registry::durable(name) {
        return Ok(entry);
    }
    workflow_named(name)?;
    Err(CliError::failed(format!(
        "workflow `{name}` is not durable: `run` runs durable workflows (`#[workflow(..., durable)]`), whose inputs and outputs are JSON"
    )))
}

async fn run(m: &ArgMatches, out: &mut dyn Write) -> Result<(), CliError> {
    let entry = durable_named(arg(m, "workflow"))?;
    let graph = (entry.graph)();
    let inputs: Vec<String> = m
        .get_many::<String>("inputs")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    if inputs.len() != graph.inputs().len() {
        let wanted: Vec<String> = graph
            .inputs()
            .iter()
            .map(|p| format!("{}: {}", p.name(), p.ty()))
            .collect();
        return Err(CliError::failed(format!(
            "workflow `{}` takes {} input{} ({}), as JSON; {} given",
            entry.name,
            wanted.len(),
            if wanted.len() == 1 { "" } else { "s" },
            wanted.join(", "),
            inputs.len()
        )));
    }
    for (k, (text, param)) in inputs.iter().zip(graph.inputs()).enumerate() {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
            return Err(CliError::failed(format!(
                "input {} (`{}: {}`) is not JSON: {e} (a string is written with its quotes: '\"text\"')",
                k + 1,
                param.name(),
                param.ty()
            )));
        }
    }
    let store = open(m)?;
    let mut options = RunOptions::new().store(&store);
    let id = match m.get_one::<String>("run-id") {
        Some(id) => id.clone(),
        None => crate::journal::unique_id().to_string(),
    };
    options = options.run_id(id.as_str());
    let output = (entry.run)(inputs, options)
        .await
        .map_err(|e| CliError::failed(format!("run `{id}` failed: {}", chain(&e))))?;
    writeln!(out, "{output}")?;
    eprintln!("run `{id}` of `{}` succeeded", entry.name);
    Ok(())
}

fn runs(m: &ArgMatches, out: &mut dyn Write) -> Result<(), CliError> {
    let store = open(m)?;
    let runs = store.runs().map_err(|e| CliError::failed(e.to_string()))?;
    writeln!(
        out,
        "{:<28} {:<16} {:<11} {:<24} took",
        "id", "workflow", "status", "started (UTC)"
    )?;
    for r in &runs {
        let took = r
            .took()
            .map_or_else(|| "-".to_string(), |t| format!("{t:.1?}"));
        writeln!(
            out,
            "{:<28} {:<16} {:<11} {:<24} {took}",
            r.id(),
            r.workflow(),
            r.status().as_str(),
            crate::observe::events::wall::format(r.started())
                .get(..19)
                .unwrap_or_default()
                .replace('T', " ")
        )?;
    }
    Ok(())
}

/// The store `--db` names, and the record of the run `ID` names in it.
fn recorded(m: &ArgMatches) -> Result<(SqliteStore, RunRecord), CliError> {
    let store = open(m)?;
    let id = arg(m, "id");
    let rec = store
        .run(id)
        .map_err(|e| CliError::failed(e.to_string()))?
        .ok_or_else(|| CliError::failed(format!("no run `{id}` in the store")))?;
    Ok((store, rec))
}

fn show(m: &ArgMatches, out: &mut dyn Write) -> Result<(), CliError> {
    let (_, rec) = recorded(m)?;
    writeln!(
        out,
        "run `{}` of `{}`: {}, started {}{}",
        rec.id(),
        rec.workflow(),
        rec.status(),
        crate::observe::events::wall::format(rec.started()),
        rec.took()
            .map_or(String::new(), |t| format!(", took {t:.1?}"))
    )?;
    for e in rec.entries() {
        let who = match e.element {
            Some(i) => format!("{}[{i}]", e.node),
            None => e.node.clone(),
        };
        let at = e.ended.duration_since(rec.started()).unwrap_or_default();
        writeln!(
            out,
            "  {:>10.1?}  {:<12} {:<16} {}",
            at,
            e.kind,
            who,
            e.payload.as_deref().unwrap_or("")
        )?;
    }
    match rec.status() {
        RunStatus::Succeeded => writeln!(out, "output: {}", rec.output_json().unwrap_or("null"))?,
        RunStatus::Failed => writeln!(out, "error: {}", rec.error().unwrap_or_default())?,
        _ => {}
    }
    let path = arg(m, "out");
    let report = RunReport::from_events(&rec.events());
    write_file(path, &report.to_svg(registry::workflow(rec.workflow())))?;
    eprintln!("wrote {path}: the timeline of the recorded journal");
    Ok(())
}

async fn resume(m: &ArgMatches, out: &mut dyn Write) -> Result<(), CliError> {
    let (store, rec) = recorded(m)?;
    let id = rec.id();
    let entry = registry::durable(rec.workflow()).ok_or_else(|| {
        CliError::failed(format!(
            "run `{id}` is a run of `{}`, which this program does not link as a durable workflow",
            rec.workflow()
        ))
    })?;
    let output = (entry.resume)(RunOptions::new().run_id(id).store(&store))
        .await
        .map_err(|e| CliError::failed(format!("run `{id}` failed: {}", chain(&e))))?;
    writeln!(out, "{output}")?;
    Ok(())
}
