//! `flow-runtime` with `default-features = false`: no registry, no pictures, no SQLite; the
//! workflows, their policies and shapes run as ever.

use std::sync::atomic::{AtomicU32, Ordering};

use flow_runtime::{node, workflow};

pub struct Order(pub u32);
pub struct Line(pub u32);
pub struct Priced(pub u32);
pub struct Quote(pub u32);
pub struct Express;
#[derive(Debug, PartialEq)]
pub struct Total(pub u32);

static FLAKY: AtomicU32 = AtomicU32::new(0);

#[node]
async fn lines(o: &Order) -> Vec<Line> {
    (1..=o.0).map(Line).collect()
}

#[node(retry(max_attempts = 2, initial = "1ms"))]
async fn price(line: &Line) -> Result<Priced, String> {
    if line.0 == 1 && FLAKY.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err("busy".into());
    }
    Ok(Priced(line.0 * 10))
}

#[node]
async fn express(o: &Order) -> Option<Express> {
    (o.0 > 2).then_some(Express)
}

#[node]
async fn fast(_o: &Order) -> Result<Quote, String> {
    Err("down".into())
}

#[node]
async fn slow(_o: &Order) -> Result<Quote, String> {
    Ok(Quote(5))
}

#[node]
async fn total(p: &[Priced], e: Option<&Express>, q: &Quote) -> Total {
    Total(p.iter().map(|p| p.0).sum::<u32>() + e.map_or(0, |_| 100) + q.0)
}

#[workflow(lines, map(price, concurrency = 2), express, race(fast, slow), total)]
pub async fn checkout(o: Order) -> Total;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn workflows_run_without_the_default_features() {
        assert_eq!(checkout(Order(3)).await.unwrap(), Total(60 + 100 + 5));
        assert_eq!(checkout(Order(1)).await.unwrap(), Total(10 + 5));
        assert_eq!(
            FLAKY.load(Ordering::SeqCst),
            3,
            "line 1 priced twice in the first run, once in the second"
        );
        assert_eq!(checkout::graph().nodes().len(), 6);
    }
}
