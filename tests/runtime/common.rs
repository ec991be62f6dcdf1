//! Helpers shared by the tests.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::time::{Duration, Instant};

/// Counts calls.
#[derive(Default)]
pub struct Counter(AtomicUsize);

impl Counter {
    pub fn hit(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Records `(node, event, time since start)` in order.
pub struct Log {
    start: Instant,
    events: Mutex<Vec<(&'static str, &'static str, Duration)>>,
}

impl Log {
    pub fn new() -> Self {
        Log {
            start: Instant::now(),
            events: Mutex::new(Vec::new()),
        }
    }
    pub fn record(&self, node: &'static str, event: &'static str) {
        let at = self.start.elapsed();
        self.events.lock().unwrap().push((node, event, at));
    }
    /// When `node` recorded `event`.
    pub fn at(&self, node: &str, event: &str) -> Duration {
        self.events
            .lock()
            .unwrap()
            .iter()
            .find(|(n, e, _)| *n == node && *e == event)
            .unwrap_or_else(|| panic!("{node} never recorded {event}"))
            .2
    }
    pub fn count(&self, node: &str, event: &str) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, e, _)| *n == node && *e == event)
            .count()
    }
    /// The nodes in the order they recorded `event`.
    pub fn order(&self, event: &str) -> Vec<&'static str> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e, _)| *e == event)
            .map(|(n, _, _)| *n)
            .collect()
    }
}

/// Sleeps for `ms` milliseconds of (usually paused) tokio time.
pub async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Increments a counter when dropped: proves a future was dropped.
pub struct DropGuard<'a>(pub &'a Counter);

impl Drop for DropGuard<'_> {
    fn drop(&mut self) {
        self.0.hit();
    }
}

/// The error and its causes on one line, as `anyhow`'s `{:#}` prints them.
pub fn anyhow_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
