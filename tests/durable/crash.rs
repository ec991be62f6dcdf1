//! Crash safety with real processes: a child runs a durable `shop` run and is killed with
//! SIGKILL at random moments, again and again; after each kill the store is read, and the
//! run is continued by a new process. No node recorded as completed may run again, the
//! output must be right, and a compensation runs once.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flow_runtime::store::{RunStatus, SqliteStore};

use crate::flows::{Order, expected};
use crate::scratch;

/// A node and its map element, as `completed_nodes` lists them.
type Key = (String, Option<usize>);

const CHILD: &str = env!("CARGO_BIN_EXE_flow-durable-child");

/// A small deterministic generator of kill delays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

struct Outcome {
    /// What the last child printed: `ok ...` or `err ...`.
    printed: String,
    /// Every start (and ended compensation) the children noted: (what, pid).
    effects: Vec<(String, u32)>,
    kills: usize,
}

/// Runs `order` in children killed after random delays until one finishes; checks after
/// every kill that the store reads, and that no completed node ran again.
fn crash_until_done(name: &str, order: &Order, seed: u64, max_kills: usize) -> Outcome {
    let dir = scratch(name);
    let db = dir.join("runs.db");
    let effects = dir.join("effects.log");
    let id = format!("order-{}", order.id);
    let order_json = serde_json::to_string(order).unwrap();
    let mut rng = Rng(seed);
    // Per killed child: its pid, and what the store held as completed after its death.
    let mut killed: Vec<(usize, HashSet<Key>)> = Vec::new();
    // Every child, in the order they ran.
    let mut spawned: Vec<u32> = Vec::new();
    let mut round = 0;
    let printed = loop {
        let mode = if round % 2 == 1 { "resume" } else { "run" };
        let mut child = Command::new(CHILD)
            .args([db.to_str().unwrap(), &id, mode, &order_json])
            .env("FLOW_TEST_EFFECTS", &effects)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the child starts");
        spawned.push(child.id());
        if round < max_kills {
            let delay = Duration::from_millis(5 + rng.below(160));
            let deadline = Instant::now() + delay;
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = child.kill(); // SIGKILL
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() {
            assert!(
                stdout.starts_with("ok ") || stdout.starts_with("err "),
                "child printed {stdout:?}, stderr {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if stdout.starts_with("err ") && stdout.contains("is being run by another caller") {
                panic!("the killed child's claim outlived it: {stdout}");
            }
            if stdout.contains("has no recorded run to resume") {
                // The child before was killed before it recorded the run's start.
                round += 1;
                continue;
            }
            break stdout;
        }
        assert!(
            out.status.code().is_none(),
            "the child failed by itself: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        // Killed: the store must read, whatever the moment.
        let store = SqliteStore::open(&db).expect("the store opens after a kill");
        let done: HashSet<_> = match store.run(&id).expect("the store reads after a kill") {
            Some(rec) => rec.completed_nodes().into_iter().collect(),
            None => HashSet::new(),
        };
        killed.push((spawned.len() - 1, done));
        round += 1;
        assert!(round < max_kills + 5, "the run never finished");
    };
    let effects: Vec<(String, u32)> = std::fs::read_to_string(&effects)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (what, pid) = l.rsplit_once(' ').unwrap();
            (what.to_string(), pid.parse().unwrap())
        })
        .collect();
    // No node recorded as completed before a kill started again in a later process.
    for (k, done) in &killed {
        let later = &spawned[k + 1..];
        for (what, by) in effects.iter().filter(|(_, by)| later.contains(by)) {
            let (node, element) = what.split_once(' ').unwrap();
            let key = (node.to_string(), element.parse::<usize>().ok());
            assert!(
                !done.contains(&key),
                "`{what}` was recorded as completed before process {} was killed, and ran again in process {by}",
                spawned[*k]
            );
        }
    }
    // The final store says how the run ended.
    let store = SqliteStore::open(&db).unwrap();
    let rec = store.run(&id).unwrap().unwrap();
    let status = rec.status();
    assert_ne!(status, RunStatus::Unfinished);
    Outcome {
        printed,
        effects,
        kills: killed.len(),
    }
}

fn order(id: u32, fail: bool) -> Order {
    Order {
        id,
        lines: 50,
        express: id.is_multiple_of(2),
        fail,
        pace: 8,
    }
}

#[test]
fn killed_runs_resume_without_running_completed_nodes_again() {
    let mut kills = 0;
    for (k, seed) in [0x9e37_79b9_u64, 0x85eb_ca6b, 0xc2b2_ae35, 0x27d4_eb2f]
        .into_iter()
        .enumerate()
    {
        let o = order(100 + k as u32, false);
        let outcome = crash_until_done(&format!("crash-{k}"), &o, seed, 6);
        let want = serde_json::to_string(&expected(&o)).unwrap();
        assert_eq!(outcome.printed, format!("ok {want}"));
        kills += outcome.kills;
        // Every line was priced, at least once; the total ran after all of them.
        for i in 0..o.lines {
            let key = format!("price {i}");
            assert!(
                outcome.effects.iter().any(|(w, _)| *w == key),
                "{key} never ran"
            );
        }
    }
    assert!(kills >= 8, "only {kills} kills landed mid-run");
}

#[test]
fn a_killed_failing_run_compensates_once() {
    for (k, seed) in [0x1656_67b1_u64, 0xd3a2_646c, 0xfd70_46c5]
        .into_iter()
        .enumerate()
    {
        let o = order(200 + k as u32, true);
        let outcome = crash_until_done(&format!("crash-fail-{k}"), &o, seed, 6);
        assert_eq!(
            outcome.printed,
            format!(
                "err node `receipt` of workflow `shop` failed: order {} was refused",
                o.id
            )
        );
        let releases = outcome
            .effects
            .iter()
            .filter(|(w, _)| w == "release -")
            .count();
        assert_eq!(releases, 1, "the hold was released {releases} times");
    }
}

#[test]
fn two_processes_continuing_one_run_never_both_run_it() {
    let dir = scratch("two-processes");
    let db = dir.join("runs.db");
    let effects = dir.join("effects.log");
    let o = Order {
        pace: 10,
        ..order(300, false)
    };
    let order_json = serde_json::to_string(&o).unwrap();
    let id = format!("order-{}", o.id);
    let spawn = |mode: &str| {
        Command::new(CHILD)
            .args([db.to_str().unwrap(), &id, mode, &order_json])
            .env("FLOW_TEST_EFFECTS", &effects)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the child starts")
    };
    // Start the run, kill it mid-way, then let two processes continue it at once.
    let mut first = spawn("run");
    // Killed once its run is recorded, some way in.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && SqliteStore::open(&db)
            .ok()
            .and_then(|s| s.run(&id).ok().flatten())
            .is_none()
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(40));
    let _ = first.kill();
    let _ = first.wait();
    let done: HashSet<Key> = SqliteStore::open(&db)
        .unwrap()
        .run(&id)
        .unwrap()
        .map(|r| r.completed_nodes().into_iter().collect())
        .unwrap_or_default();
    let (a, b) = (spawn("resume"), spawn("run"));
    let later = [a.id(), b.id()];
    let outputs: Vec<String> = [a, b]
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .collect();
    let want = format!("ok {}", serde_json::to_string(&expected(&o)).unwrap());
    let ok = outputs.iter().filter(|o| **o == want).count();
    let busy = outputs
        .iter()
        .filter(|o| o.contains("is being run by another caller"))
        .count();
    // One ran it; the other was turned away, or came after and read the result back.
    assert!(ok >= 1 && ok + busy == 2, "{outputs:?}");
    // Of the two, one ran what was left: nothing started in both, nothing completed before
    // the kill started again.
    let lines = std::fs::read_to_string(&effects).unwrap();
    let mut seen = HashSet::new();
    for line in lines.lines() {
        let (what, pid) = line.rsplit_once(' ').unwrap();
        if !later.contains(&pid.parse().unwrap()) {
            continue;
        }
        let (node, element) = what.split_once(' ').unwrap();
        let key: Key = (node.to_string(), element.parse().ok());
        assert!(
            !done.contains(&key),
            "{what} completed before the kill and ran again"
        );
        assert!(seen.insert(key), "{what} ran in both processes");
    }
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(
        store.run(&id).unwrap().unwrap().status(),
        RunStatus::Succeeded
    );
}
