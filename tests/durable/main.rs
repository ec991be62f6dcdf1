//! Durable runs on the SQLite store: what is recorded, what a second call reads back, the
//! errors of runs that cannot continue, and crash safety with real processes killed by
//! SIGKILL.

mod crash;
#[path = "flows.rs"]
mod flows;
mod versions;

use std::path::PathBuf;
use std::time::Duration;

use flow_runtime::store::{RunStatus, SqliteOptions, SqliteStore, StoreErrorKind};
use flow_runtime::{ErrorKind, RunOptions, node, workflow};
use flows::{Order, chain, expected, notes, shop};

/// A fresh directory for one test's store.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flow-durable-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn order(id: u32) -> Order {
    Order {
        id,
        lines: 5,
        express: false,
        fail: false,
        pace: 0,
    }
}

#[tokio::test]
async fn a_finished_run_is_read_back_without_running_anything() {
    let dir = scratch("finished");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let o = order(1);
    let first = shop::run(RunOptions::new().run_id("order-1").store(&store), o.clone())
        .await
        .unwrap();
    assert_eq!(first, expected(&o));
    let ran = notes("order-1");
    assert!(ran.contains(&"total -".to_string()), "{ran:?}");

    let again = shop::run(RunOptions::new().run_id("order-1").store(&store), o.clone())
        .await
        .unwrap();
    let resumed = shop::resume(RunOptions::new().run_id("order-1").store(&store))
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(resumed, first);
    assert_eq!(notes("order-1"), ran, "a finished run runs nothing");

    let rec = store.run("order-1").unwrap().expect("recorded");
    assert_eq!(rec.status(), RunStatus::Succeeded);
    assert_eq!(rec.workflow(), "shop");
    assert!(rec.took().is_some());
    assert_eq!(store.runs().unwrap().len(), 1);
}

#[tokio::test]
async fn completed_nodes_are_the_nodes_the_elements_and_the_race_winner() {
    let dir = scratch("completed");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let o = order(2);
    shop::run(RunOptions::new().run_id("order-2").store(&store), o)
        .await
        .unwrap();
    let rec = store.run("order-2").unwrap().unwrap();
    let mut done = rec.completed_nodes();
    done.sort();
    let quotes: Vec<_> = done.iter().filter(|(n, _)| n.ends_with("_quote")).collect();
    assert_eq!(quotes.len(), 1, "one race winner: {done:?}");
    let mut want: Vec<(String, Option<usize>)> =
        ["express", "hold", "lines", "receipt", "stock", "total"]
            .iter()
            .map(|n| (n.to_string(), None))
            .collect();
    want.extend((0..5).map(|i| ("price".to_string(), Some(i))));
    want.push(quotes[0].clone());
    want.sort();
    assert_eq!(done, want, "`express_fee` was skipped: not a completion");
    assert_eq!(rec.skipped_nodes(), vec!["express_fee".to_string()]);
    assert!(rec.compensated_nodes().is_empty());
}

#[tokio::test]
async fn the_same_run_id_with_other_inputs_is_an_error_naming_the_run() {
    let dir = scratch("inputs");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    shop::run(RunOptions::new().run_id("order-3").store(&store), order(3))
        .await
        .unwrap();
    let before = notes("order-3").len();
    let err = shop::run(RunOptions::new().run_id("order-3").store(&store), order(4))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RunConflict);
    assert!(
        chain(&err).contains("run `order-3` was started with other inputs"),
        "{err:#}"
    );
    assert_eq!(notes("order-3").len(), before);
}

#[tokio::test]
async fn resume_needs_a_recorded_run_and_a_store() {
    let dir = scratch("unknown");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let err = shop::resume(RunOptions::new().run_id("nobody").store(&store))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownRun);
    assert!(
        chain(&err).contains("run `nobody` is not in the store"),
        "{err:#}"
    );
    let err = shop::resume(RunOptions::new().run_id("nobody"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoStore);
    assert!(store.run("nobody").unwrap().is_none());
}

#[tokio::test]
async fn a_failed_run_returns_its_recorded_error_and_compensates_once() {
    let dir = scratch("failed");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let o = Order {
        fail: true,
        ..order(5)
    };
    let err = shop::run(RunOptions::new().run_id("order-5").store(&store), o.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NodeFailed);
    assert_eq!(err.node_name(), Some("receipt"));
    let text = chain(&err);
    assert_eq!(
        text,
        "node `receipt` of workflow `shop` failed: order 5 was refused"
    );
    let ran = notes("order-5");
    assert_eq!(ran.iter().filter(|n| *n == "release -").count(), 1);

    let again = shop::run(RunOptions::new().run_id("order-5").store(&store), o)
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::NodeFailed);
    assert_eq!(again.node_name(), Some("receipt"));
    assert_eq!(chain(&again), text);
    let resumed = shop::resume(RunOptions::new().run_id("order-5").store(&store))
        .await
        .unwrap_err();
    assert_eq!(chain(&resumed), text);
    assert_eq!(notes("order-5"), ran, "a failed run runs nothing again");
    let rec = store.run("order-5").unwrap().unwrap();
    assert_eq!(rec.status(), RunStatus::Failed);
    assert_eq!(rec.compensated_nodes(), vec!["hold".to_string()]);
    assert_eq!(rec.error().as_deref(), Some(text.as_str()));
}

pub struct Plain(u32);

#[node]
async fn plain_step(x: &u32) -> Plain {
    Plain(*x)
}

#[workflow(plain_step)]
async fn not_durable(x: u32) -> Plain;

#[tokio::test]
async fn a_workflow_that_is_not_durable_refuses_a_store() {
    let dir = scratch("not-durable");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let err = not_durable::run(RunOptions::new().run_id("p").store(&store), 1)
        .await
        .err()
        .expect("a store is never ignored");
    assert_eq!(err.kind(), ErrorKind::NotDurable);
    assert!(
        chain(&err).contains("add `durable` to `not_durable`"),
        "{err:#}"
    );
    assert!(store.run("p").unwrap().is_none());
    // Without a store it runs as ever.
    assert_eq!(not_durable::run(RunOptions::new(), 1).await.unwrap().0, 1);
}

#[tokio::test]
async fn a_durable_workflow_runs_without_a_store() {
    let o = order(6);
    assert_eq!(shop(o.clone()).await.unwrap(), expected(&o));
    assert_eq!(
        shop::run(RunOptions::new(), o.clone()).await.unwrap(),
        expected(&o)
    );
}

#[tokio::test]
async fn a_dropped_run_continues_without_redoing_what_completed() {
    let dir = scratch("dropped");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let o = Order {
        lines: 20,
        pace: 30,
        ..order(7)
    };
    let first = tokio::time::timeout(
        Duration::from_millis(100),
        shop::run(RunOptions::new().run_id("order-7").store(&store), o.clone()),
    )
    .await;
    assert!(first.is_err(), "the run was dropped mid-flight");
    let rec = store.run("order-7").unwrap().unwrap();
    assert_eq!(rec.status(), RunStatus::Unfinished);
    let done = rec.completed_nodes();
    assert!(!done.is_empty(), "something completed in 100 ms");
    let before = notes("order-7").len();

    let out = shop::resume(RunOptions::new().run_id("order-7").store(&store))
        .await
        .unwrap();
    assert_eq!(out, expected(&o));
    let after = &notes("order-7")[before..];
    for (node, element) in &done {
        let key = format!(
            "{node} {}",
            element.map_or("-".to_string(), |e| e.to_string())
        );
        assert!(
            !after.contains(&key),
            "{key} completed and ran again: {after:?}"
        );
    }
    assert_eq!(
        store.run("order-7").unwrap().unwrap().status(),
        RunStatus::Succeeded
    );
}

#[tokio::test]
async fn two_callers_of_one_run_never_both_run_it() {
    let dir = scratch("two");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let o = Order {
        pace: 20,
        ..order(8)
    };
    let a = shop::run(RunOptions::new().run_id("order-8").store(&store), o.clone());
    let b = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        shop::run(RunOptions::new().run_id("order-8").store(&store), o.clone()).await
    };
    let (a, b) = tokio::join!(a, b);
    assert_eq!(a.unwrap(), expected(&o));
    let err = b.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RunInUse);
    assert!(
        chain(&err).contains("run `order-8` is being run by another caller"),
        "{err:#}"
    );
    // Once the first has finished, the run is free.
    let c = shop::run(RunOptions::new().run_id("order-8").store(&store), o.clone()).await;
    assert_eq!(c.unwrap(), expected(&o));
}

#[tokio::test]
async fn an_output_over_the_limit_fails_its_node_without_retrying() {
    let dir = scratch("large");
    let store =
        SqliteStore::open_with(dir.join("runs.db"), SqliteOptions::new().max_output(200)).unwrap();
    let o = Order {
        lines: 40,
        ..order(9)
    };
    let err = shop::run(RunOptions::new().run_id("order-9").store(&store), o)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutputTooLarge);
    assert_eq!(err.node_name(), Some("lines"));
    assert_eq!(err.attempts(), 1);
    assert!(
        chain(&err).contains("the store takes at most 200"),
        "{err:#}"
    );
    assert_eq!(
        notes("order-9").iter().filter(|n| *n == "lines -").count(),
        1
    );
}

#[test]
fn a_damaged_or_foreign_file_is_an_error_and_is_left_alone() {
    let dir = scratch("files");
    let garbage = dir.join("garbage.db");
    std::fs::write(&garbage, vec![0x5au8; 8192]).unwrap();
    let err = SqliteStore::open(&garbage).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
    assert_eq!(std::fs::read(&garbage).unwrap(), vec![0x5au8; 8192]);

    let foreign = dir.join("foreign.db");
    {
        let conn = rusqlite::Connection::open(&foreign).unwrap();
        conn.execute_batch(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY); INSERT INTO accounts VALUES (1);",
        )
        .unwrap();
    }
    let before = std::fs::read(&foreign).unwrap();
    let err = SqliteStore::open(&foreign).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotAStore, "{err}");
    assert!(err.to_string().contains("is not a flow store"), "{err}");
    assert_eq!(std::fs::read(&foreign).unwrap(), before, "never changed");

    // A flow store whose pages were overwritten in the middle.
    let damaged = dir.join("damaged.db");
    {
        let store = SqliteStore::open(&damaged).unwrap();
        drop(store);
    }
    let mut bytes = std::fs::read(&damaged).unwrap();
    let len = bytes.len();
    for b in &mut bytes[100..len] {
        *b = 0xa5;
    }
    std::fs::write(&damaged, &bytes).unwrap();
    let _ = std::fs::remove_file(dir.join("damaged.db-wal"));
    match SqliteStore::open(&damaged) {
        Ok(store) => {
            // Opening may succeed; reading must then fail cleanly.
            assert!(store.runs().is_err());
        }
        Err(e) => assert!(
            matches!(
                e.kind(),
                StoreErrorKind::Corrupt | StoreErrorKind::Database | StoreErrorKind::NotAStore
            ),
            "{e}"
        ),
    }

    // A missing directory is an error, not a panic.
    assert!(SqliteStore::open(dir.join("no/such/dir/runs.db")).is_err());
}

mod keys {
    use flow_runtime::{RunContext, node, workflow};
    use serde::{Deserialize, Serialize};
    use std::sync::Mutex;

    pub static KEYS: Mutex<Vec<String>> = Mutex::new(Vec::new());

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Sent(pub u32);

    #[node(retry(max_attempts = 2, initial = "1ms"))]
    async fn send(n: &u32, ctx: &RunContext) -> Result<Sent, String> {
        KEYS.lock()
            .unwrap()
            .push(format!("{} {}", ctx.idempotency_key(), ctx.attempt()));
        if ctx.attempt() == 1 && *n == 1 {
            return Err("flaky".into());
        }
        Ok(Sent(*n))
    }

    #[node]
    async fn batch(x: &u32) -> Vec<u32> {
        (0..*x).collect()
    }

    #[workflow(batch, map(send), durable)]
    pub async fn mail(x: u32) -> Vec<Sent>;
}

#[tokio::test]
async fn the_idempotency_key_names_the_run_the_node_and_the_element() {
    let dir = scratch("keys");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let out = keys::mail::run(RunOptions::new().run_id("mail-1").store(&store), 3)
        .await
        .unwrap();
    assert_eq!(out, vec![keys::Sent(0), keys::Sent(1), keys::Sent(2)]);
    let mut seen = keys::KEYS.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            "mail-1/send[0] 1",
            "mail-1/send[1] 1",
            "mail-1/send[1] 2",
            "mail-1/send[2] 1"
        ],
        "the same key on every attempt"
    );
    assert_eq!(
        flow_runtime::RunContext::detached()
            .idempotency_key()
            .split('/')
            .nth(1),
        Some("detached")
    );
}

/// A store that counts its transactions, around the SQLite one: the trait is what a run
/// needs of a store.
struct Counting {
    inner: SqliteStore,
    appends: std::sync::atomic::AtomicUsize,
    rows: std::sync::atomic::AtomicUsize,
}

impl flow_runtime::store::Store for Counting {
    fn claim(
        &self,
        id: &str,
    ) -> Result<flow_runtime::store::Claim, flow_runtime::store::StoreError> {
        self.inner.claim(id)
    }
    fn run(
        &self,
        id: &str,
    ) -> Result<Option<flow_runtime::store::RunRecord>, flow_runtime::store::StoreError> {
        flow_runtime::store::Store::run(&self.inner, id)
    }
    fn runs(&self) -> Result<Vec<flow_runtime::store::RunRecord>, flow_runtime::store::StoreError> {
        flow_runtime::store::Store::runs(&self.inner)
    }
    fn create(
        &self,
        run: &flow_runtime::store::NewRun<'_>,
    ) -> Result<(), flow_runtime::store::StoreError> {
        self.inner.create(run)
    }
    fn append(
        &self,
        id: &str,
        entries: &[flow_runtime::store::Entry],
    ) -> Result<(), flow_runtime::store::StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        self.appends.fetch_add(1, SeqCst);
        self.rows.fetch_add(entries.len(), SeqCst);
        self.inner.append(id, entries)
    }
    fn finish(
        &self,
        id: &str,
        entries: &[flow_runtime::store::Entry],
        end: &flow_runtime::store::RunEnd,
    ) -> Result<(), flow_runtime::store::StoreError> {
        self.inner.finish(id, entries, end)
    }
}

mod wide {
    use flow_runtime::{node, workflow};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Sum(pub u64);

    #[node]
    async fn spread(n: &u64) -> Vec<u64> {
        (0..*n).collect()
    }

    #[node]
    async fn square(x: &u64) -> u32 {
        tokio::task::yield_now().await;
        (*x * *x) as u32
    }

    #[node]
    async fn sum(xs: &[u32]) -> Sum {
        Sum(xs.iter().map(|&x| u64::from(x)).sum())
    }

    #[workflow(spread, map(square), sum, durable)]
    pub async fn fan(n: u64) -> Sum;
}

#[tokio::test]
async fn nodes_completing_together_are_committed_in_one_transaction() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = scratch("group");
    let store = Counting {
        inner: SqliteStore::open(dir.join("runs.db")).unwrap(),
        appends: Default::default(),
        rows: Default::default(),
    };
    let out = wide::fan::run(RunOptions::new().run_id("fan").store(&store), 100)
        .await
        .unwrap();
    assert_eq!(out, wide::Sum((0..100u64).map(|x| x * x).sum()));
    // `spread`, then the 100 elements together, then `sum`.
    assert_eq!(store.rows.load(SeqCst), 102);
    assert_eq!(
        store.appends.load(SeqCst),
        3,
        "one transaction for the 100 elements"
    );
    let rec = store.inner.run("fan").unwrap().unwrap();
    assert_eq!(rec.completed_nodes().len(), 102);
}

#[tokio::test]
async fn a_recorded_run_reads_as_events_and_a_timeline() {
    let dir = scratch("events");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let o = Order {
        express: true,
        ..order(10)
    };
    shop::run(RunOptions::new().run_id("order-10").store(&store), o)
        .await
        .unwrap();
    let rec = store.run("order-10").unwrap().unwrap();
    let events = rec.events();
    assert_eq!(events.first().unwrap().kind.name(), "run_started");
    assert_eq!(events.last().unwrap().kind.name(), "run_finished");
    let report = flow_runtime::RunReport::from_events(&events);
    let mut nodes: Vec<String> = report.nodes.iter().map(|n| n.label()).collect();
    nodes.sort();
    assert!(nodes.contains(&"price[4]".to_string()), "{nodes:?}");
    assert!(nodes.contains(&"express_fee".to_string()), "{nodes:?}");
    assert_eq!(nodes.len(), rec.completed_nodes().len());
    let svg = report.to_svg(Some(shop::graph()));
    assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
}

mod nested {
    use crate::flows::note;
    use flow_runtime::{RunContext, node, workflow};
    use serde::{Deserialize, Serialize};
    use std::time::Duration;

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct Region(pub u32);
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Sales(pub u32);
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct RegionReport(pub u32);
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Company(pub u32);

    #[node]
    async fn sales(r: &Region, ctx: &RunContext) -> Sales {
        note(
            "nested",
            &format!("sales {} {}", r.0, ctx.idempotency_key()),
        );
        Sales(r.0 * 10)
    }

    #[node]
    async fn region_report(s: &Sales, r: &Region) -> RegionReport {
        // Region 2 takes long: the run is dropped while it waits.
        if r.0 == 2 {
            tokio::time::sleep(Duration::from_millis(
                if super::SLOW.load(std::sync::atomic::Ordering::SeqCst) {
                    3_600_000
                } else {
                    1
                },
            ))
            .await;
        }
        RegionReport(s.0 + 1)
    }

    #[workflow(sales, region_report, durable)]
    pub async fn region(r: Region) -> RegionReport;

    #[node]
    async fn regions(n: &u32) -> Vec<Region> {
        (0..*n).map(Region).collect()
    }

    #[node]
    async fn total(reports: &[RegionReport]) -> Company {
        Company(reports.iter().map(|r| r.0).sum())
    }

    #[workflow(regions, map(region), total, durable)]
    pub async fn company(n: u32) -> Company;
}

static SLOW: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

#[tokio::test]
async fn a_sub_workflow_records_its_nodes_in_its_parents_journal() {
    let dir = scratch("nested");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let run = nested::company::run(RunOptions::new().run_id("co-1").store(&store), 3);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), run)
            .await
            .is_err()
    );
    let rec = store.run("co-1").unwrap().unwrap();
    let mut done = rec.completed_nodes();
    done.sort();
    assert_eq!(
        done,
        vec![
            ("region".to_string(), Some(0)),
            ("region".to_string(), Some(1)),
            ("region[0]/region_report".to_string(), None),
            ("region[0]/sales".to_string(), None),
            ("region[1]/region_report".to_string(), None),
            ("region[1]/sales".to_string(), None),
            ("region[2]/sales".to_string(), None),
            ("regions".to_string(), None),
        ]
    );
    let ran = notes("nested");
    assert_eq!(
        ran,
        vec![
            "sales 0 co-1/region[0]/sales",
            "sales 1 co-1/region[1]/sales",
            "sales 2 co-1/region[2]/sales"
        ]
    );
    SLOW.store(false, std::sync::atomic::Ordering::SeqCst);
    let out = nested::company::resume(RunOptions::new().run_id("co-1").store(&store))
        .await
        .unwrap();
    assert_eq!(out, nested::Company(1 + 11 + 21));
    assert_eq!(notes("nested"), ran, "region 2's `sales` was read back");
}

#[tokio::test]
async fn a_store_that_survives_power_loss_runs_the_same() {
    use flow_runtime::store::Synchronous;
    let dir = scratch("full");
    let store = SqliteStore::open_with(
        dir.join("runs.db"),
        SqliteOptions::new().synchronous(Synchronous::Full),
    )
    .unwrap();
    let o = order(11);
    let out = shop::run(
        RunOptions::new().run_id("order-11").store(&store),
        o.clone(),
    )
    .await
    .unwrap();
    assert_eq!(out, expected(&o));
    drop(store);
    // Reopened (with the default mode), the run is there.
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    assert_eq!(
        store.run("order-11").unwrap().unwrap().status(),
        RunStatus::Succeeded
    );
}

mod undo {
    use crate::flows::note;
    use flow_runtime::{node, workflow};
    use serde::{Deserialize, Serialize};
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};

    pub static HANG: AtomicBool = AtomicBool::new(true);
    static PAYS: AtomicU32 = AtomicU32::new(0);

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Held(pub u32);
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Paid(pub u32);

    #[node(compensate = unreserve)]
    async fn reserve(x: &u32) -> Held {
        note("undo", "reserve");
        Held(*x)
    }

    async fn unreserve(_: &Held) -> Result<(), String> {
        if HANG.load(SeqCst) {
            std::future::pending::<()>().await;
        }
        note("undo", "unreserve");
        Ok(())
    }

    /// Declined the first time only: run again, it would succeed.
    #[node]
    async fn pay(h: &Held) -> Result<Paid, String> {
        note("undo", "pay");
        if PAYS.fetch_add(1, SeqCst) == 0 {
            return Err("card declined".into());
        }
        Ok(Paid(h.0))
    }

    #[workflow(reserve, pay, durable)]
    pub async fn buy(x: u32) -> Paid;
}

#[tokio::test]
async fn a_run_stopped_while_compensating_ends_with_its_failure_when_resumed() {
    let dir = scratch("undo");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let run = undo::buy::run(RunOptions::new().run_id("buy-1").store(&store), 3);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), run)
            .await
            .is_err(),
        "stopped while `unreserve` runs"
    );
    assert_eq!(notes("undo"), vec!["reserve", "pay"]);
    undo::HANG.store(false, std::sync::atomic::Ordering::SeqCst);
    let err = undo::buy::resume(RunOptions::new().run_id("buy-1").store(&store))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NodeFailed);
    assert_eq!(err.node_name(), Some("pay"));
    assert_eq!(
        chain(&err),
        "node `pay` of workflow `buy` failed: card declined"
    );
    assert_eq!(
        notes("undo"),
        vec!["reserve", "pay", "unreserve"],
        "`pay` did not run again; the compensation ran once"
    );
    let rec = store.run("buy-1").unwrap().unwrap();
    assert_eq!(rec.status(), RunStatus::Failed);
    assert_eq!(rec.compensated_nodes(), vec!["reserve".to_string()]);
}

#[test]
fn callers_opening_a_new_store_at_once_all_get_it() {
    for round in 0..5 {
        let dir = scratch(&format!("open-{round}"));
        let path = dir.join("runs.db");
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || SqliteStore::open(&path).map(|_| ()))
            })
            .collect();
        for t in threads {
            t.join().unwrap().expect("every caller opens the new store");
        }
    }
}

mod big {
    use flow_runtime::{node, workflow};
    use serde::{Deserialize, Serialize};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

    pub static STUCK: AtomicBool = AtomicBool::new(true);
    pub static RAN: AtomicUsize = AtomicUsize::new(0);

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Scored(pub u64);
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Best(pub u64);

    #[node]
    async fn items(n: &u64) -> Vec<u64> {
        (0..*n).collect()
    }

    /// Elements from 9 000 on do not finish in the first process.
    #[node]
    async fn score(x: &u64) -> Scored {
        RAN.fetch_add(1, SeqCst);
        if *x >= 9_000 && STUCK.load(SeqCst) {
            std::future::pending::<()>().await;
        }
        Scored(x * 3 % 10_007)
    }

    #[node]
    async fn best(all: &[Scored]) -> Best {
        Best(all.iter().map(|s| s.0).max().unwrap_or(0))
    }

    #[workflow(items, map(score), best, durable)]
    pub async fn scores(n: u64) -> Best;
}

#[tokio::test]
async fn a_map_of_10_000_with_9_000_done_runs_the_other_1_000() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = scratch("big");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let run = big::scores::run(RunOptions::new().run_id("big").store(&store), 10_000);
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), run)
            .await
            .is_err()
    );
    let done = store.run("big").unwrap().unwrap().completed_nodes();
    assert_eq!(
        done.len(),
        1 + 9_000,
        "`items` and the first 9 000 elements"
    );
    assert_eq!(big::RAN.load(SeqCst), 10_000);
    big::STUCK.store(false, SeqCst);
    big::RAN.store(0, SeqCst);
    let out = big::scores::resume(RunOptions::new().run_id("big").store(&store))
        .await
        .unwrap();
    let want = (0..10_000u64).map(|x| x * 3 % 10_007).max().unwrap();
    assert_eq!(out, big::Best(want));
    assert_eq!(
        big::RAN.load(SeqCst),
        1_000,
        "only the elements that had not completed ran"
    );
}

mod quotes {
    use flow_runtime::{node, workflow};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Quote(pub u32);

    #[node]
    async fn primary(_x: &u32) -> Result<Quote, String> {
        Err("primary is down".into())
    }

    #[node]
    async fn mirror(_x: &u32) -> Result<Quote, String> {
        Err("mirror is down".into())
    }

    #[workflow(race(primary, mirror), durable)]
    pub async fn quote(x: u32) -> Quote;
}

#[tokio::test]
async fn a_failed_race_reads_back_as_it_failed() {
    let dir = scratch("race");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let first = quotes::quote::run(RunOptions::new().run_id("q").store(&store), 1)
        .await
        .unwrap_err();
    let again = quotes::quote::run(RunOptions::new().run_id("q").store(&store), 1)
        .await
        .unwrap_err();
    assert_eq!(first.kind(), ErrorKind::RaceFailed);
    assert_eq!(again.kind(), ErrorKind::RaceFailed);
    assert_eq!(again.race(), Some("primary | mirror"));
    assert_eq!(again.to_string(), first.to_string());
    assert_eq!(chain(&again), chain(&first));
}

mod several_outputs {
    use flow_runtime::{RunContext, node, workflow};
    use serde::{Deserialize, Serialize};

    use super::flows::note;

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct Ask {
        pub fast: bool,
        pub slow: bool,
    }
    // Unit structs, which JSON writes as `null`: `Some` of one must still read back as
    // `Some`.
    #[derive(Serialize, Deserialize)]
    pub struct Fast;
    #[derive(Serialize, Deserialize)]
    pub struct Slow;
    #[derive(Serialize, Deserialize)]
    pub struct Meta(pub String);
    #[derive(Serialize, Deserialize)]
    pub struct FastDone(pub u32);
    #[derive(Serialize, Deserialize)]
    pub struct SlowDone(pub u32);
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Out(pub String);

    #[node]
    async fn plan(ask: &Ask, ctx: &RunContext) -> (Option<Fast>, Option<Slow>, Meta) {
        note(&ctx.run_id().to_string(), "plan -");
        (
            ask.fast.then_some(Fast),
            ask.slow.then_some(Slow),
            Meta("m".into()),
        )
    }
    #[node]
    async fn fast(_f: &Fast, ctx: &RunContext) -> FastDone {
        note(&ctx.run_id().to_string(), "fast -");
        FastDone(1)
    }
    #[node]
    async fn slow(_s: &Slow, ctx: &RunContext) -> SlowDone {
        note(&ctx.run_id().to_string(), "slow -");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        SlowDone(2)
    }
    #[node]
    async fn join(fast: Option<&FastDone>, slow: Option<&SlowDone>, meta: &Meta) -> Out {
        Out(format!(
            "{} {:?} {:?}",
            meta.0,
            fast.map(|f| f.0),
            slow.map(|s| s.0)
        ))
    }

    #[workflow(plan, fast, slow, join, durable)]
    pub async fn routed(ask: Ask) -> Out;
}

#[tokio::test]
async fn a_node_with_several_outputs_is_read_back_whole() {
    use several_outputs::*;
    let dir = scratch("several-outputs");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let ask = Ask {
        fast: true,
        slow: true,
    };
    let first = tokio::time::timeout(
        Duration::from_millis(100),
        routed::run(
            RunOptions::new().run_id("tuple-1").store(&store),
            ask.clone(),
        ),
    )
    .await;
    assert!(first.is_err(), "dropped while `slow` runs");
    let mut done = store.run("tuple-1").unwrap().unwrap().completed_nodes();
    done.sort();
    assert_eq!(
        done,
        vec![("fast".to_string(), None), ("plan".to_string(), None)]
    );
    let out = routed::resume(RunOptions::new().run_id("tuple-1").store(&store))
        .await
        .unwrap();
    assert_eq!(out, Out("m Some(1) Some(2)".into()));
    assert_eq!(notes("tuple-1"), ["plan -", "fast -", "slow -", "slow -"]);

    // A branch the router did not select is recorded as skipped, and read back so.
    let ask = Ask {
        fast: false,
        slow: true,
    };
    let out = routed::run(
        RunOptions::new().run_id("tuple-2").store(&store),
        ask.clone(),
    )
    .await
    .unwrap();
    assert_eq!(out, Out("m None Some(2)".into()));
    let again = routed::run(RunOptions::new().run_id("tuple-2").store(&store), ask)
        .await
        .unwrap();
    assert_eq!(again, out);
    assert_eq!(notes("tuple-2"), ["plan -", "slow -"]);
}

mod ordered {
    use flow_runtime::{RunContext, node, workflow};

    use super::flows::note;

    #[node]
    async fn quick(_n: &u32, ctx: &RunContext) {
        note(&ctx.run_id().to_string(), "quick -");
    }
    #[node]
    async fn slow_effect(_n: &u32, ctx: &RunContext) -> Result<(), String> {
        note(&ctx.run_id().to_string(), "slow_effect -");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        Ok(())
    }
    #[node(after(quick, slow_effect))]
    async fn wrap_up(n: &u32, ctx: &RunContext) -> String {
        note(&ctx.run_id().to_string(), "wrap_up -");
        format!("done {n}")
    }

    #[workflow(quick, slow_effect, wrap_up, durable)]
    pub async fn effects(n: u32) -> String;
}

#[tokio::test]
async fn ordering_edges_hold_when_a_run_resumes() {
    let dir = scratch("ordered");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let first = tokio::time::timeout(
        Duration::from_millis(100),
        ordered::effects::run(RunOptions::new().run_id("ordered-1").store(&store), 3),
    )
    .await;
    assert!(first.is_err(), "dropped while `slow_effect` runs");
    assert_eq!(
        store.run("ordered-1").unwrap().unwrap().completed_nodes(),
        vec![("quick".to_string(), None)]
    );
    let out = ordered::effects::resume(RunOptions::new().run_id("ordered-1").store(&store))
        .await
        .unwrap();
    assert_eq!(out, "done 3");
    assert_eq!(
        notes("ordered-1"),
        ["quick -", "slow_effect -", "slow_effect -", "wrap_up -"]
    );
}

mod limited {
    use flow_runtime::{RunContext, node, workflow};

    use super::flows::note;

    #[node]
    async fn first_step(n: &u32, ctx: &RunContext) -> Vec<u32> {
        note(&ctx.run_id().to_string(), "first_step -");
        vec![*n; 4]
    }
    #[node(limit = "db")]
    async fn limited_step(s: &[u32]) -> Result<usize, String> {
        Ok(s.len())
    }

    #[workflow(first_step, limited_step, durable)]
    pub async fn limited(n: u32) -> usize;
}

#[tokio::test]
async fn a_run_missing_a_limiter_is_not_recorded_as_failed() {
    use flow_runtime::{ConcurrencyLimit, Limiters};
    let dir = scratch("limiters");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    let err = limited::limited::run(RunOptions::new().run_id("lim-1").store(&store), 1234)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOptions);
    assert_eq!(
        store.run("lim-1").unwrap().unwrap().status(),
        RunStatus::Unfinished
    );
    let limiters = Limiters::new().limit("db", ConcurrencyLimit::new(1));
    let out = limited::limited::run(
        RunOptions::new()
            .run_id("lim-1")
            .store(&store)
            .limiters(&limiters),
        1234,
    )
    .await
    .unwrap();
    assert_eq!(out, 4);
    assert_eq!(
        notes("lim-1"),
        ["first_step -"],
        "what completed is read back"
    );
}
