//! A worker killed with SIGKILL in the middle of a run: another worker finishes it, the
//! completed nodes are not run again, and the node in flight is taken over within seconds.

mod server;

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use flow_runtime::{RunOptions, node, workflow};
use flow_temporal::Worker;
use serde::{Deserialize, Serialize};

static DIR: OnceLock<PathBuf> = OnceLock::new();

/// Where the nodes write what they do: the parent's directory, or the one it gave its child.
fn dir() -> PathBuf {
    std::env::var("FLOW_CHILD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| DIR.get().expect("the test's directory").clone())
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

fn note(what: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir().join("log"))
        .unwrap();
    writeln!(f, "{what} {} {}", std::process::id(), now_ms()).unwrap();
}

/// `(what, pid, ms)` for each line written.
fn notes(dir: &std::path::Path) -> Vec<(String, u32, u128)> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut parts = l.rsplitn(3, ' ');
            let ms = parts.next()?.parse().ok()?;
            let pid = parts.next()?.parse().ok()?;
            Some((parts.next()?.to_owned(), pid, ms))
        })
        .collect()
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Job(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct A(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct B(pub u32);
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct C(pub u32);

#[node]
async fn step_a(j: &Job) -> A {
    note("a start");
    note("a end");
    A(j.0 + 1)
}

#[node]
async fn step_b(a: &A) -> B {
    note("b start");
    tokio::time::sleep(Duration::from_secs(4)).await;
    note("b end");
    B(a.0 * 10)
}

#[node]
async fn step_c(b: &B) -> C {
    note("c start");
    C(b.0 + 5)
}

#[workflow(step_a, step_b, step_c, durable)]
pub async fn killed(j: Job) -> C;

fn worker(client: &flow_temporal::Client, queue: &str) -> Worker {
    Worker::new(client, queue)
        .heartbeat_timeout(Duration::from_secs(2))
        .register::<killed>()
}

/// A worker process, spawned by the test below (which kills it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process the crash test spawns"]
async fn child_worker() {
    let Ok(queue) = std::env::var("FLOW_CHILD_QUEUE") else {
        return;
    };
    let client = server::client().await;
    worker(&client, &queue).run().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_run_is_finished_by_another_without_redoing_work() {
    let client = server::client().await;
    let queue = server::queue("killed");
    let dir = std::env::temp_dir().join(&queue);
    std::fs::create_dir_all(&dir).unwrap();
    DIR.set(dir.clone()).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_worker", "--ignored", "--nocapture"])
        .env("FLOW_CHILD_QUEUE", &queue)
        .env("FLOW_CHILD_DIR", &dir)
        .env("FLOW_TEMPORAL_ADDRESS", server::address())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let child_pid = child.id();
    let handle = client
        .start::<killed>(
            &queue,
            RunOptions::new().run_id(format!("{queue}-run")),
            (Job(1),),
        )
        .await
        .unwrap();
    // Kill the worker while `step_b` runs on it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !notes(&dir)
        .iter()
        .any(|(w, pid, _)| w == "b start" && *pid == child_pid)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the child never started step_b"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = now_ms();

    let worker = worker(&client, &queue);
    let stop = worker.shutdown_handle();
    let finish = async {
        let out = handle.result().await;
        stop.shutdown();
        out
    };
    let (ran, out) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(90), worker.run()),
        finish
    );
    ran.expect("the worker stops when asked").unwrap();
    assert_eq!(out.unwrap(), C(25));

    let lines = notes(&dir);
    let me = std::process::id();
    let count = |what: &str, pid: u32| {
        lines
            .iter()
            .filter(|(w, p, _)| w == what && *p == pid)
            .count()
    };
    // What completed on the killed worker did not run again.
    assert_eq!(count("a start", child_pid), 1, "{lines:?}");
    assert_eq!(count("a start", me), 0, "{lines:?}");
    // The node in flight ran again here, taken over within seconds of the kill.
    assert_eq!(count("b start", child_pid), 1, "{lines:?}");
    assert_eq!(count("b end", child_pid), 0, "{lines:?}");
    assert_eq!(count("b start", me), 1, "{lines:?}");
    assert_eq!(count("c start", me), 1, "{lines:?}");
    let restarted = lines
        .iter()
        .find(|(w, p, _)| w == "b start" && *p == me)
        .unwrap()
        .2;
    assert!(
        restarted - killed_at < 10_000,
        "step_b restarted {} ms after the kill",
        restarted - killed_at
    );
}
