//! Running one node over every element of a collection: in input order, with a bound on
//! the elements in flight, fail-fast or collecting every element's result.

use core::cmp::Ordering;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::collections::BinaryHeap;

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::Error;

pin_project_lite::pin_project! {
    /// An element's future and its index.
    struct Indexed<F> {
        index: usize,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Indexed<F> {
    type Output = (usize, F::Output);

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.future.poll(cx) {
            Poll::Ready(out) => Poll::Ready((*this.index, out)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// An output that finished before an earlier element, parked until its turn.
struct Parked<O>(usize, O);

impl<O> PartialEq for Parked<O> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<O> Eq for Parked<O> {}
impl<O> PartialOrd for Parked<O> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<O> Ord for Parked<O> {
    // Reversed: the heap's top is the smallest index.
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.cmp(&self.0)
    }
}

/// Runs `f` on every element of `items` (with its index), at most `concurrency` at a time (all at once when
/// `None`), and returns the outputs in input order. An element's future is created only
/// when it starts. The first failure (in time) ends the map: no further element starts,
/// the ones in flight are dropped, and the error carries the element's index.
pub async fn map<'a, T, O, F, Fut>(
    items: &'a [T],
    concurrency: Option<usize>,
    f: F,
) -> Result<Vec<O>, Error>
where
    F: FnMut(usize, &'a T) -> Fut,
    Fut: Future<Output = Result<O, Error>>,
{
    let mut out = Vec::with_capacity(items.len());
    let mut failed: Option<(usize, Error)> = None;
    drive(
        items,
        concurrency,
        f,
        |index, result| match result {
            Ok(value) => Some(value),
            Err(e) => {
                let e = e.at_element(index);
                // Of elements failing at the same instant, the first in input order ends
                // the map; the others are kept in its `others`.
                failed = Some(match failed.take() {
                    None => (index, e),
                    Some((first, mut kept)) if first < index => {
                        kept.push_other(e);
                        (first, kept)
                    }
                    Some((_, later)) => {
                        let mut e = e;
                        e.push_other(later);
                        (index, e)
                    }
                });
                None
            }
        },
        &mut out,
    )
    .await;
    match failed {
        Some((_, e)) => Err(e),
        None => Ok(out),
    }
}

/// Like [`map`], but a failed element does not end the map: every element runs and the
/// result is each element's outcome, in input order.
pub async fn map_all<'a, T, O, F, Fut>(
    items: &'a [T],
    concurrency: Option<usize>,
    f: F,
) -> Vec<Result<O, Error>>
where
    F: FnMut(usize, &'a T) -> Fut,
    Fut: Future<Output = Result<O, Error>>,
{
    let mut out = Vec::with_capacity(items.len());
    drive(
        items,
        concurrency,
        f,
        |index, result: Result<O, Error>| Some(result.map_err(|e| e.at_element(index))),
        &mut out,
    )
    .await;
    out
}

/// Runs the elements, handing each output to `accept` as it finishes and pushing what it
/// returns onto `out` in input order; stops when `accept` returns `None`.
async fn drive<'a, T, R, O, F, Fut>(
    items: &'a [T],
    concurrency: Option<usize>,
    mut f: F,
    mut accept: impl FnMut(usize, R) -> Option<O>,
    out: &mut Vec<O>,
) where
    F: FnMut(usize, &'a T) -> Fut,
    Fut: Future<Output = R>,
{
    let limit = concurrency.unwrap_or(usize::MAX).max(1);
    let mut next = items.iter().enumerate();
    let mut running = FuturesUnordered::new();
    let mut parked: BinaryHeap<Parked<O>> = BinaryHeap::new();
    loop {
        while running.len() < limit {
            match next.next() {
                Some((index, item)) => running.push(Indexed {
                    index,
                    future: f(index, item),
                }),
                None => break,
            }
        }
        let Some((index, result)) = running.next().await else {
            return;
        };
        let Some(value) = accept(index, result) else {
            // Fail-fast, once the elements that finished at the same instant are seen.
            core::future::poll_fn(|cx| {
                while let Poll::Ready(Some((index, result))) = running.poll_next_unpin(cx) {
                    let _ = accept(index, result);
                }
                Poll::Ready(())
            })
            .await;
            return;
        };
        if index == out.len() {
            out.push(value);
            while parked.peek().is_some_and(|p| p.0 == out.len()) {
                let Parked(_, value) = parked.pop().expect("peeked");
                out.push(value);
            }
        } else {
            parked.push(Parked(index, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn outputs_are_in_input_order() {
        let items: Vec<u64> = (0..20).collect();
        let out = map(&items, Some(4), |_, &i| async move {
            tokio::time::sleep(Duration::from_millis((20 - i) * 3 % 7)).await;
            Ok::<_, Error>(i * 10)
        })
        .await
        .unwrap();
        assert_eq!(out, (0..20).map(|i| i * 10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn empty_input_gives_empty_output() {
        let items: Vec<u64> = Vec::new();
        let out = map(&items, Some(4), |_, &i| async move { Ok::<_, Error>(i) })
            .await
            .unwrap();
        assert!(out.is_empty());
    }
}
