//! The SQLite store: one file (with its WAL beside it), no server.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::{
    Claim, DEFAULT_MAX_OUTPUT, Entry, EntryKind, NewRun, RunEnd, RunRecord, RunStatus, Store,
    StoreError, StoreErrorKind,
};

/// `PRAGMA application_id` of a flow store: "flow" in ASCII.
const APPLICATION_ID: i64 = 0x666c_6f77;
/// `PRAGMA user_version`: the schema this code writes.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE flow_runs (
    no INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    workflow TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    graph TEXT NOT NULL,
    inputs TEXT NOT NULL,
    status INTEGER NOT NULL,
    value TEXT,
    started_us INTEGER NOT NULL,
    finished_us INTEGER
);
CREATE TABLE flow_entries (
    run INTEGER NOT NULL,
    node TEXT NOT NULL,
    element INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    payload TEXT,
    started_us INTEGER NOT NULL,
    ended_us INTEGER NOT NULL,
    PRIMARY KEY (run, node, element, kind)
) WITHOUT ROWID;
";

/// How SQLite makes a commit durable (`PRAGMA synchronous`), in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// A commit survives a crash of the process (`kill -9`), not a power loss: the default,
    /// about 11 µs per commit.
    #[default]
    Normal,
    /// A commit also survives a power loss or an OS crash: one `fsync` per commit
    /// (nodes completing together share one).
    Full,
}

/// Options of [`SqliteStore::open_with`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    synchronous: Synchronous,
    max_output: usize,
    busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Normal,
            max_output: DEFAULT_MAX_OUTPUT,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl SqliteOptions {
    /// The defaults: [`Synchronous::Normal`], outputs up to 4 MiB, 5 s of waiting for a
    /// database another process is writing.
    pub fn new() -> Self {
        Self::default()
    }

    /// How commits are made durable.
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// The largest serialized node output accepted, in bytes.
    pub fn max_output(mut self, bytes: usize) -> Self {
        self.max_output = bytes;
        self
    }

    /// How long a write waits for another process's write to the same file.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }
}

/// A [`Store`] in one SQLite file, in WAL mode: it needs no server, and a run recorded in it
/// survives its process.
///
/// Runs are claimed with a lock file per run in a directory beside the database
/// (`runs.db.locks/`), which the OS releases when the process dies, so a run is never
/// continued by two callers at once and a crashed run can be resumed at once.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    locks: PathBuf,
    max_output: usize,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file if it is missing, with the default
    /// options. A file that is not an SQLite database, is damaged, or is a database of
    /// something else is an error (a foreign database is never changed).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens the store at `path` with `options`.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path)
            .map_err(|e| db_error(e, &format!("cannot open the store `{}`", path.display())))?;
        let what = format!("store `{}`", path.display());
        conn.busy_timeout(options.busy_timeout)
            .map_err(|e| db_error(e, &what))?;
        let id = application_id(&conn, &what)?;
        if id == 0 {
            // A new file, one another process is creating, or a foreign database: decided
            // inside one write transaction, before anything is changed.
            conn.execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| db_error(e, &what))?;
            let created = (|| {
                let id = application_id(&conn, &what)?;
                if id == 0 {
                    if !is_empty(&conn, &what)? {
                        return Err(not_a_store(&path));
                    }
                    conn.execute_batch(SCHEMA).map_err(|e| db_error(e, &what))?;
                    conn.execute_batch(&format!(
                        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
                    ))
                    .map_err(|e| db_error(e, &what))?;
                } else if id != APPLICATION_ID {
                    return Err(not_a_store(&path));
                }
                Ok(())
            })();
            match created {
                Ok(()) => conn
                    .execute_batch("COMMIT")
                    .map_err(|e| db_error(e, &what))?,
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(e);
                }
            }
        } else if id != APPLICATION_ID {
            return Err(not_a_store(&path));
        }
        // Switching to WAL takes the file's lock without waiting on the busy handler: a
        // caller opening the store while another does retries, within the busy timeout.
        let started = std::time::Instant::now();
        let mode: String = loop {
            match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && started.elapsed() < options.busy_timeout =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                other => break other.map_err(|e| db_error(e, &what))?,
            }
        };
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::new(
                StoreErrorKind::Database,
                format!("{what}: cannot use WAL mode (journal mode is `{mode}`)"),
                None,
            ));
        }
        let sync = match options.synchronous {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        conn.execute_batch(&format!("PRAGMA synchronous = {sync};"))
            .map_err(|e| db_error(e, &what))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| db_error(e, &what))?;
        if version != SCHEMA_VERSION {
            return Err(StoreError::new(
                StoreErrorKind::NotAStore,
                format!(
                    "{what} has schema version {version}; this version of flow reads version {SCHEMA_VERSION}"
                ),
                None,
            ));
        }
        // The tables must be there and readable: a damaged file fails here, not mid-run.
        conn.query_row("SELECT count(*) FROM flow_runs", [], |r| r.get::<_, i64>(0))
            .map_err(|e| db_error(e, &what))?;
        let mut locks = path.clone().into_os_string();
        locks.push(".locks");
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path,
            locks: PathBuf::from(locks),
            max_output: options.max_output,
        })
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the store holds about run `id`, if anything.
    pub fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        Store::run(self, id)
    }

    /// Every run in the store, oldest first: id, workflow, status, times, and journal.
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        Store::runs(self)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the connection leaves nothing half-written: SQLite rolls
        // back an unfinished transaction.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn what(&self) -> String {
        format!("store `{}`", self.path.display())
    }
}

impl Store for SqliteStore {
    fn claim(&self, id: &str) -> Result<Claim, StoreError> {
        let io = |e: std::io::Error| {
            StoreError::new(
                StoreErrorKind::Io,
                format!("cannot lock run `{id}` in {}", self.what()),
                Some(Box::new(e)),
            )
        };
        std::fs::create_dir_all(&self.locks).map_err(io)?;
        let path = lock_path(&self.locks, id);
        loop {
            let file: File = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::new(
                        StoreErrorKind::InUse,
                        format!(
                            "run `{id}` is being run by another caller of {}",
                            self.what()
                        ),
                        None,
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
            }
            // The holder before may have removed the file between our open and our lock:
            // the lock counts only on the file the path still names.
            if still_named(&file, &path) {
                return Ok(Claim::new(LockFile { path, _file: file }));
            }
        }
    }

    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let conn = self.conn();
        let what = self.what();
        load(&conn, id, &what)
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let conn = self.conn();
        let what = self.what();
        let ids: Vec<String> = {
            let mut stmt = conn
                .prepare_cached("SELECT id FROM flow_runs ORDER BY started_us, id")
                .map_err(|e| db_error(e, &what))?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .map_err(|e| db_error(e, &what))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| db_error(e, &what))?
        };
        let mut runs = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(run) = load(&conn, &id, &what)? {
                runs.push(run);
            }
        }
        Ok(runs)
    }

    fn create(&self, run: &NewRun<'_>) -> Result<(), StoreError> {
        let conn = self.conn();
        let what = self.what();
        conn.prepare_cached(
            "INSERT INTO flow_runs (id, workflow, fingerprint, graph, inputs, status, started_us)
             VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
        )
        .and_then(|mut s| {
            s.execute(params![
                run.id,
                run.workflow,
                run.fingerprint,
                run.graph,
                run.inputs,
                micros(run.started)
            ])
        })
        .map_err(|e| db_error(e, &what))?;
        Ok(())
    }

    fn append(&self, id: &str, entries: &[Entry]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let what = self.what();
        let tx = conn.transaction().map_err(|e| db_error(e, &what))?;
        insert(&tx, id, entries).map_err(|e| db_error(e, &what))?;
        tx.commit().map_err(|e| db_error(e, &what))
    }

    fn finish(&self, id: &str, entries: &[Entry], end: &RunEnd) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let what = self.what();
        let tx = conn.transaction().map_err(|e| db_error(e, &what))?;
        insert(&tx, id, entries).map_err(|e| db_error(e, &what))?;
        tx.prepare_cached(
            "UPDATE flow_runs SET status = ?2, value = ?3, finished_us = ?4 WHERE id = ?1",
        )
        .and_then(|mut s| {
            s.execute(params![
                id,
                end.status.code(),
                end.value,
                micros(end.finished)
            ])
        })
        .map_err(|e| db_error(e, &what))?;
        tx.commit().map_err(|e| db_error(e, &what))
    }

    fn max_output(&self) -> usize {
        self.max_output
    }
}

fn insert(tx: &rusqlite::Transaction<'_>, id: &str, entries: &[Entry]) -> rusqlite::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    // Entries are keyed by the run's number, which grows: a new run's entries go at the
    // end of the table, as rows of a log do.
    let no: i64 = tx
        .prepare_cached("SELECT no FROM flow_runs WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO flow_entries
         (run, node, element, kind, seq, payload, started_us, ended_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for e in entries {
        stmt.execute(params![
            no,
            e.node,
            e.element.map_or(-1, |i| i as i64),
            e.kind.code(),
            e.seq,
            e.payload,
            micros(e.started),
            micros(e.ended),
        ])?;
    }
    Ok(())
}

fn load(conn: &Connection, id: &str, what: &str) -> Result<Option<RunRecord>, StoreError> {
    let corrupt = |detail: &str| {
        StoreError::new(
            StoreErrorKind::Corrupt,
            format!("{what}: run `{id}` has {detail}"),
            None,
        )
    };
    let row = conn
        .prepare_cached(
            "SELECT workflow, fingerprint, graph, inputs, status, value, started_us, finished_us
             FROM flow_runs WHERE id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                ))
            })
            .optional()
        })
        .map_err(|e| db_error(e, what))?;
    let Some((workflow, fingerprint, graph, inputs, status, value, started, finished)) = row else {
        return Ok(None);
    };
    let status = RunStatus::from_code(status).ok_or_else(|| corrupt("an unknown status"))?;
    let mut entries = Vec::new();
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT node, element, kind, seq, payload, started_us, ended_us
                 FROM flow_entries
                 WHERE run = (SELECT no FROM flow_runs WHERE id = ?1) ORDER BY seq",
            )
            .map_err(|e| db_error(e, what))?;
        let rows = stmt
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })
            .map_err(|e| db_error(e, what))?;
        for row in rows {
            let (node, element, kind, seq, payload, started, ended) =
                row.map_err(|e| db_error(e, what))?;
            entries.push(Entry {
                node,
                element: usize::try_from(element).ok(),
                kind: EntryKind::from_code(kind).ok_or_else(|| corrupt("an unknown entry"))?,
                seq: u32::try_from(seq).map_err(|_| corrupt("an entry out of range"))?,
                payload,
                started: time(started),
                ended: time(ended),
            });
        }
    }
    let start = NewRun {
        id,
        workflow: &workflow,
        fingerprint: &fingerprint,
        graph: &graph,
        inputs: &inputs,
        started: time(started),
    };
    Ok(Some(RunRecord::new(
        &start,
        status,
        value,
        finished.map(time),
        entries,
    )))
}

fn application_id(conn: &Connection, what: &str) -> Result<i64, StoreError> {
    conn.query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| db_error(e, what))
}

fn is_empty(conn: &Connection, what: &str) -> Result<bool, StoreError> {
    let n: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| db_error(e, what))?;
    Ok(n == 0)
}

fn not_a_store(path: &Path) -> StoreError {
    StoreError::new(
        StoreErrorKind::NotAStore,
        format!(
            "`{}` is a database that is not a flow store; it was left unchanged",
            path.display()
        ),
        None,
    )
}

fn db_error(e: rusqlite::Error, what: &str) -> StoreError {
    let kind = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreErrorKind::Corrupt,
        Some(
            ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::PermissionDenied
            | ErrorCode::ReadOnly,
        ) => StoreErrorKind::Io,
        _ => StoreErrorKind::Database,
    };
    let message = match kind {
        StoreErrorKind::Corrupt => format!("{what} is damaged or is not an SQLite database"),
        _ => format!("{what}: {e}"),
    };
    StoreError::new(kind, message, Some(Box::new(e)))
}

/// A run's lock: its file is removed when the run is released (before the lock is), so
/// that lock files do not pile up.
struct LockFile {
    path: PathBuf,
    _file: File,
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `path` still names the open `file`.
#[cfg(unix)]
fn still_named(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether `path` still names the open `file` (elsewhere, a locked file cannot be removed).
#[cfg(not(unix))]
fn still_named(_: &File, path: &Path) -> bool {
    path.exists()
}

/// The lock file of run `id`: named by a hash of the id, which may hold any character.
fn lock_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!(
        "{:016x}.lock",
        crate::journal::fnv64(id.as_bytes())
    ))
}

fn micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

fn time(us: i64) -> SystemTime {
    if us >= 0 {
        UNIX_EPOCH + Duration::from_micros(us as u64)
    } else {
        UNIX_EPOCH - Duration::from_micros(us.unsigned_abs())
    }
}
