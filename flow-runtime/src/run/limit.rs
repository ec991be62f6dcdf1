//! Limits shared by nodes, workflows and runs: [`ConcurrencyLimit`] and [`RateLimiter`].

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// At most `n` node bodies at once, across every node, workflow and run that uses the limit.
///
/// Name it from a node with `#[node(limit = PATH)]`, where `PATH` is a `static`, or pass it
/// to one run with [`RunOptions::limit`](crate::RunOptions::limit). A node holds a permit
/// for the length of one attempt: not while it waits for its inputs, and not while it waits
/// in retry backoff.
///
/// A node that holds a permit and runs another workflow in its body (a nested workflow
/// using the same limit) lends its permit to that workflow's nodes, so nesting never
/// deadlocks, even with a limit of 1. Lending works within one task; a nested workflow
/// spawned onto another task waits for free permits like any other run.
///
/// ```
/// use flow_runtime::ConcurrencyLimit;
///
/// static DATABASE: ConcurrencyLimit = ConcurrencyLimit::new(4);
/// assert_eq!(DATABASE.permits(), 4);
/// ```
pub struct ConcurrencyLimit {
    semaphore: Semaphore,
    permits: usize,
}

impl ConcurrencyLimit {
    /// A limit of `permits` node bodies at once.
    ///
    /// # Panics
    ///
    /// If `permits` is 0 (in a `static`, this is a compile error) or more than
    /// [`Semaphore::MAX_PERMITS`](tokio::sync::Semaphore::MAX_PERMITS).
    pub const fn new(permits: usize) -> Self {
        assert!(
            permits > 0,
            "a ConcurrencyLimit of 0 would never let a node run"
        );
        assert!(permits <= Semaphore::MAX_PERMITS, "too many permits");
        ConcurrencyLimit {
            semaphore: Semaphore::const_new(permits),
            permits,
        }
    }

    /// How many node bodies may run at once.
    pub const fn permits(&self) -> usize {
        self.permits
    }

    /// How many permits are free now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// Waits for a permit: one lent by the node this task is running inside, if it holds
    /// one of this limit, or a free one.
    pub(crate) async fn acquire(&self) -> Permit<'_> {
        match lent(self) {
            None => Permit::Own(acquired(self.semaphore.acquire().await)),
            Some(lend) => {
                let mut own = std::pin::pin!(self.semaphore.acquire());
                let mut borrowed = std::pin::pin!(lend.acquire_owned());
                std::future::poll_fn(|cx| {
                    if let Poll::Ready(p) = borrowed.as_mut().poll(cx) {
                        return Poll::Ready(Permit::Lent(acquired(p)));
                    }
                    if let Poll::Ready(p) = own.as_mut().poll(cx) {
                        return Poll::Ready(Permit::Own(acquired(p)));
                    }
                    Poll::Pending
                })
                .await
            }
        }
    }
}

impl fmt::Debug for ConcurrencyLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimit")
            .field("permits", &self.permits)
            .field("available", &self.available())
            .finish()
    }
}

/// The semaphores here are never closed.
fn acquired<P>(result: Result<P, tokio::sync::AcquireError>) -> P {
    match result {
        Ok(permit) => permit,
        Err(_) => unreachable!("flow: a limit's semaphore is never closed"),
    }
}

/// A permit of a [`ConcurrencyLimit`]: taken from it, or lent by an enclosing node.
pub(crate) enum Permit<'a> {
    Own(#[allow(dead_code)] SemaphorePermit<'a>),
    Lent(#[allow(dead_code)] OwnedSemaphorePermit),
}

/// A permit held by a running node, and the one-permit semaphore through which it lends
/// the permit to nested workflows that run inside the node's body (made when one first
/// asks, so a node that nests nothing allocates nothing).
pub(crate) struct Held<'a> {
    limit: &'a ConcurrencyLimit,
    _permit: Permit<'a>,
    lend: OnceLock<Arc<Semaphore>>,
}

impl<'a> Held<'a> {
    pub(crate) async fn acquire(limit: &'a ConcurrencyLimit) -> Held<'a> {
        let permit = limit.acquire().await;
        Held {
            limit,
            _permit: permit,
            lend: OnceLock::new(),
        }
    }

    fn lend(&self) -> Arc<Semaphore> {
        self.lend
            .get_or_init(|| Arc::new(Semaphore::new(1)))
            .clone()
    }
}

/// The permits a node holds while it runs, lent to nested workflows polled inside it.
struct Frame {
    parent: *const Frame,
    held: [*const Held<'static>; 2],
}

thread_local! {
    static LENDING: Cell<*const Frame> = const { Cell::new(std::ptr::null()) };
}

/// The lend semaphore of the innermost node, polled by this thread now, that holds a permit
/// of `limit`.
fn lent(limit: &ConcurrencyLimit) -> Option<Arc<Semaphore>> {
    let mut frame = LENDING.with(Cell::get);
    // SAFETY: every frame in the chain lives on the stack of a `poll` that is still running
    // on this thread (`lending` restores the previous pointer before it returns or unwinds),
    // and so do the `Held`s it points to.
    unsafe {
        while let Some(f) = frame.as_ref() {
            for held in f.held {
                if let Some(h) = held.as_ref()
                    && std::ptr::eq(h.limit, limit)
                {
                    return Some(h.lend());
                }
            }
            frame = f.parent;
        }
    }
    None
}

/// Runs `poll` with `held` lent to nested workflows.
pub(crate) fn lending<R>(held: [Option<&Held<'_>>; 2], poll: impl FnOnce() -> R) -> R {
    if held.iter().all(Option::is_none) {
        return poll();
    }
    struct Restore(*const Frame);
    impl Drop for Restore {
        fn drop(&mut self) {
            LENDING.with(|c| c.set(self.0));
        }
    }
    let ptr = |h: Option<&Held<'_>>| {
        h.map_or(std::ptr::null(), |h| {
            (h as *const Held<'_>).cast::<Held<'static>>()
        })
    };
    let frame = Frame {
        parent: LENDING.with(Cell::get),
        held: [ptr(held[0]), ptr(held[1])],
    };
    let _restore = Restore(frame.parent);
    LENDING.with(|c| c.set(&frame));
    poll()
}

/// A future polled with some permits lent to nested workflows.
pub(crate) struct Lending<'h, 'a, F> {
    pub(crate) held: [Option<&'h Held<'a>>; 2],
    pub(crate) future: F,
}

impl<F: Future> Future for Lending<'_, '_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is never moved out of the pinned `Lending`.
        let this = unsafe { self.get_unchecked_mut() };
        let held = this.held;
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        lending(held, || future.poll(cx))
    }
}

/// At most `n` node starts per period, shared by every node, workflow and run that uses it.
///
/// Name it from a node with `#[node(rate_limit = PATH)]`, where `PATH` is a `static`. Each
/// attempt of a node takes one start.
///
/// **Burst**: the limiter starts full. With `new(n, period)`, the first `n` starts happen at
/// once, and later ones are spaced `period / n` apart; [`with_burst`](Self::with_burst)
/// changes how many may start at once after a quiet spell. Starts are granted in the order
/// they are asked for. A start that is given up (its run was dropped while it waited) is not
/// handed to anyone else, so the limiter may run below its rate then, never above it.
///
/// ```
/// use std::time::Duration;
/// use flow_runtime::RateLimiter;
///
/// // 2 starts a second; the first 2 at once, then one every 500 ms.
/// static API: RateLimiter = RateLimiter::new(2, Duration::from_secs(1));
/// // 10 a minute, at most 1 at a time.
/// static MAIL: RateLimiter = RateLimiter::new(10, Duration::from_secs(60)).with_burst(1);
/// # let _ = (&API, &MAIL);
/// ```
pub struct RateLimiter {
    interval: Duration,
    burst: u32,
    /// The time at which the bucket will be full again if nothing more starts
    /// (the "theoretical arrival time" of the generic cell rate algorithm).
    full_at: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `starts` starts per `period`, with a burst of `starts`.
    ///
    /// # Panics
    ///
    /// If `starts` is 0 or `period` is zero (in a `static`, this is a compile error).
    pub const fn new(starts: u32, period: Duration) -> Self {
        assert!(
            starts > 0,
            "a RateLimiter of 0 starts would never let a node run"
        );
        assert!(!period.is_zero(), "a RateLimiter's period cannot be zero");
        let interval = match period.checked_div(starts) {
            Some(d) => d,
            None => unreachable!(),
        };
        RateLimiter {
            interval,
            burst: starts,
            full_at: Mutex::new(None),
        }
    }

    /// `starts` starts a second.
    pub const fn per_second(starts: u32) -> Self {
        Self::new(starts, Duration::from_secs(1))
    }

    /// How many may start at once after a quiet spell (at least 1).
    ///
    /// # Panics
    ///
    /// If `burst` is 0.
    pub const fn with_burst(mut self, burst: u32) -> Self {
        assert!(burst > 0, "a RateLimiter's burst must be at least 1");
        self.burst = burst;
        self
    }

    /// The time between two starts at the steady rate.
    pub const fn interval(&self) -> Duration {
        self.interval
    }

    /// How many may start at once.
    pub const fn burst(&self) -> u32 {
        self.burst
    }

    /// Waits until one more start is allowed, and takes it.
    pub async fn acquire(&self) {
        let start = {
            let mut full_at = match self.full_at.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            let now = Instant::now();
            let tat = full_at.map_or(now, |t| t.max(now));
            let tolerance = self.interval * (self.burst - 1);
            let start = tat.checked_sub(tolerance).map_or(now, |s| s.max(now));
            *full_at = Some(tat + self.interval);
            start
        };
        if start > Instant::now() {
            tokio::time::sleep_until(start).await;
        }
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("interval", &self.interval)
            .field("burst", &self.burst)
            .finish()
    }
}

/// Limiters built at run time (from configuration, say), by name: a node names one with
/// `#[node(limit = "database")]` or `#[node(rate_limit = "jira")]`, and each run is handed
/// the set with [`RunOptions::limiters`](crate::RunOptions::limiters). Runs given the same
/// `Limiters` share its limits, as every user of a `static` limiter does.
///
/// A node whose run was given no limiter of its name fails at its first attempt with
/// [`ErrorKind::InvalidOptions`](crate::ErrorKind::InvalidOptions), naming the limiter; a
/// named limiter is never silently left out.
///
/// ```
/// use flow_runtime::{ConcurrencyLimit, Limiters, RateLimiter};
///
/// let db = 4; // read from configuration
/// let limiters = Limiters::new()
///     .limit("database", ConcurrencyLimit::new(db))
///     .rate_limit("jira", RateLimiter::per_second(5));
/// assert_eq!(limiters.get_limit("database").map(|l| l.permits()), Some(4));
/// assert!(limiters.get_rate_limit("slack").is_none());
/// ```
#[derive(Default)]
#[must_use = "limiters do nothing until they are given to runs: `RunOptions::new().limiters(&limiters)`"]
pub struct Limiters {
    limits: Vec<(String, ConcurrencyLimit)>,
    rates: Vec<(String, RateLimiter)>,
}

impl Limiters {
    /// No limiters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `limit` under `name` (replacing one of that name).
    pub fn limit(mut self, name: impl Into<String>, limit: ConcurrencyLimit) -> Self {
        let name = name.into();
        self.limits.retain(|(n, _)| *n != name);
        self.limits.push((name, limit));
        self
    }

    /// Adds `limiter` under `name` (replacing one of that name).
    pub fn rate_limit(mut self, name: impl Into<String>, limiter: RateLimiter) -> Self {
        let name = name.into();
        self.rates.retain(|(n, _)| *n != name);
        self.rates.push((name, limiter));
        self
    }

    /// The concurrency limit named `name`.
    pub fn get_limit(&self, name: &str) -> Option<&ConcurrencyLimit> {
        self.limits.iter().find(|(n, _)| n == name).map(|(_, l)| l)
    }

    /// The rate limiter named `name`.
    pub fn get_rate_limit(&self, name: &str) -> Option<&RateLimiter> {
        self.rates.iter().find(|(n, _)| n == name).map(|(_, l)| l)
    }
}

impl fmt::Debug for Limiters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiters")
            .field(
                "limits",
                &self
                    .limits
                    .iter()
                    .map(|(n, l)| (n.as_str(), l.permits()))
                    .collect::<Vec<_>>(),
            )
            .field(
                "rate_limits",
                &self
                    .rates
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}
