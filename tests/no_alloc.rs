//! The generated code allocates nothing per run: no spawn, no boxing, no per-node heap.
//! A counting global allocator watches whole runs of workflows whose nodes allocate nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use flow_runtime::{node, workflow};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    /// Bytes allocated and not yet freed on this thread, and their high-water mark.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        let _ = LIVE.try_with(|l| {
            l.set(l.get() + layout.size() as isize);
            let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
        });
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|l| l.set(l.get() - layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs a future that finishes without waiting, counting allocations on this thread.
fn allocations_of<F: Future>(future: F) -> (F::Output, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(output) = future.as_mut().poll(&mut cx) else {
        panic!("the workflow should finish in one poll");
    };
    let after = ALLOCATIONS.with(Cell::get);
    (output, after - before)
}

pub struct In(pub u64);
pub struct A(pub u64);
pub struct B(pub u64);
pub struct C(pub u64);
pub struct D(pub u64);
pub struct E(pub u64);
pub struct Out(pub u64);

#[node]
async fn a(i: &In) -> A {
    A(i.0 + 1)
}
#[node]
async fn b(a: &A) -> Result<B, std::io::Error> {
    Ok(B(a.0 * 2))
}
#[node]
async fn c(a: &A) -> C {
    C(a.0 * 3)
}
#[node]
async fn d(b: &B, c: &C) -> D {
    D(b.0 + c.0)
}

/// Sequence and parallel joins.
#[workflow(a, b, c, d)]
async fn diamond(i: In) -> D;

#[node]
async fn root2(i: &In) -> B {
    B(i.0 * 5)
}
#[node]
async fn e(a: &A, b: &B) -> E {
    E(a.0 + b.0)
}
#[node]
async fn c2(a: &A) -> C {
    C(a.0 + 100)
}
#[node]
async fn d2(b: &B) -> D {
    D(b.0 + 1000)
}
#[node]
async fn out(c: &C, d: &D, e: &E) -> Out {
    Out(c.0 + d.0 + e.0)
}

/// An N-shaped graph: the dataflow join with slots.
#[workflow(a, root2, c2, e, d2, out)]
async fn n_shape(i: In) -> Out;

pub struct Z(pub u64);
pub struct Out2(pub u64);

#[node]
async fn z(i: &In) -> Z {
    Z(i.0 + 10_000)
}
#[node]
async fn out2(c: &C, d: &D, e: &E, z: &Z) -> Out2 {
    Out2(c.0 + d.0 + e.0 + z.0)
}

/// The N-shaped part joined beside an independent node: a dataflow join inside a parallel
/// branch, with no node that can fail.
#[workflow(a, root2, c2, e, d2, z, out2)]
async fn n_beside(i: In) -> Out2;

#[test]
fn runs_allocate_nothing() {
    let (d, allocs) = allocations_of(diamond(In(1)));
    assert_eq!(d.unwrap().0, 4 + 6);
    assert_eq!(allocs, 0, "diamond allocated");

    let (o, allocs) = allocations_of(n_shape(In(1)));
    // a = 2, b = 5, c = 102, d = 1005, e = 7
    assert_eq!(o.unwrap().0, 102 + 1005 + 7);
    assert_eq!(allocs, 0, "n_shape allocated");

    let (o, allocs) = allocations_of(n_beside(In(1)));
    assert_eq!(o.unwrap().0, 102 + 1005 + 7 + 10_001);
    assert_eq!(allocs, 0, "n_beside allocated");

    // With per-call options that set no limit, deadline or token, nothing is allocated either.
    let (d, allocs) = allocations_of(diamond::run(flow_runtime::RunOptions::new(), In(1)));
    assert_eq!(d.unwrap().0, 4 + 6);
    assert_eq!(allocs, 0, "diamond::run allocated");
}

#[test]
fn only_the_error_path_allocates() {
    // Reporting an error boxes it once: proves the counter counts.
    #[node]
    async fn fails(_i: &In) -> Result<A, std::io::Error> {
        Err(std::io::ErrorKind::NotFound.into())
    }
    #[workflow(fails)]
    async fn failing(i: In) -> A;
    let (r, allocs) = allocations_of(failing(In(0)));
    assert!(r.is_err());
    assert!(allocs >= 1);
}

pub struct Doubled(pub u64);

#[node]
async fn double(x: &u64) -> Doubled {
    Doubled(x * 2)
}

#[workflow(map(double, concurrency = 64))]
async fn double_all(xs: &[u64]) -> Vec<Doubled>;

/// The most bytes live at once while `future` runs (polled until it finishes), beyond
/// those live before it started.
fn peak_bytes_of<F: Future>(future: F) -> (F::Output, isize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    let output = loop {
        // `FuturesUnordered` yields now and then; the noop waker just polls again.
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            break output;
        }
    };
    (output, PEAK.with(Cell::get) - base)
}

#[test]
fn map_memory_is_flat_in_the_number_of_items() {
    let extra = |n: u64| {
        let xs: Vec<u64> = (0..n).collect();
        let (out, peak) = peak_bytes_of(double_all(&xs));
        let out = out.unwrap();
        assert_eq!(out.len() as u64, n);
        assert_eq!(out.last().map(|d| d.0), n.checked_sub(1).map(|x| x * 2));
        // What the map holds beyond its output: at most 64 elements in flight.
        peak - (n as usize * std::mem::size_of::<Doubled>()) as isize
    };
    let small = extra(1_000);
    let large = extra(100_000);
    eprintln!("map bytes beyond the output: 1 000 items {small}, 100 000 items {large}");
    assert!(
        small > 0 && small < 64 * 1024,
        "1 000 items: {small} bytes beyond the output"
    );
    assert!(
        large <= small + 1024,
        "100 000 items held {large} bytes beyond the output, 1 000 items {small}"
    );
}
