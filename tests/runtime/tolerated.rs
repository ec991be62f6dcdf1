//! Tolerated failures as data: `&[Result<T, NodeError>]` over several `continue_on_error`
//! producers, `Option<Result<&T, &NodeError>>` for a conditional tolerated producer, and a
//! race marked `continue_on_error` whose members all failing is its consumers' to handle.

use crate::common::*;
use flow_runtime::{ErrorKind, NodeError, node, workflow};

/// LangGraph-Go's error collection: run several sources, keep what succeeded, report what
/// failed, in list order.
pub mod sources {
    use super::*;

    pub struct Query {
        pub failing: &'static [&'static str],
        pub with_archive: bool,
    }
    #[derive(Debug, Clone, PartialEq)]
    pub struct Hit(pub &'static str);
    #[derive(Debug, PartialEq)]
    pub struct Digest {
        pub hits: Vec<&'static str>,
        pub failed: Vec<String>,
    }
    pub struct Archive;

    fn search(q: &Query, name: &'static str) -> Result<Hit, String> {
        if q.failing.contains(&name) {
            Err(format!("{name} is down"))
        } else {
            Ok(Hit(name))
        }
    }
    #[node(continue_on_error)]
    async fn web(q: &Query) -> Result<Hit, String> {
        sleep_ms(30).await;
        search(q, "web")
    }
    #[node(continue_on_error, retry(max_attempts = 2, initial = "1ms"))]
    async fn news(q: &Query) -> Result<Hit, String> {
        sleep_ms(10).await;
        search(q, "news")
    }
    /// Not tolerated: its failure ends the run; its value is an `Ok` in the list.
    #[node]
    async fn local(q: &Query) -> Result<Hit, String> {
        sleep_ms(20).await;
        search(q, "local")
    }
    #[node]
    async fn archive_on(q: &Query) -> Option<Archive> {
        q.with_archive.then_some(Archive)
    }
    /// Conditional and tolerated: left out of the list when skipped.
    #[node(continue_on_error)]
    async fn archive(q: &Query, _a: &Archive) -> Result<Hit, String> {
        search(q, "archive")
    }
    #[node]
    async fn digest(results: &[Result<Hit, NodeError>]) -> Digest {
        let mut d = Digest {
            hits: Vec::new(),
            failed: Vec::new(),
        };
        for r in results {
            match r {
                Ok(hit) => d.hits.push(hit.0),
                Err(e) => d.failed.push(format!(
                    "{}: {}",
                    e.node_name().unwrap_or("?"),
                    std::error::Error::source(e)
                        .map(|s| s.to_string())
                        .unwrap_or_default()
                )),
            }
        }
        d
    }

    #[workflow(web, news, local, archive_on, archive, digest)]
    pub async fn gather(q: &Query) -> Digest;
}

#[tokio::test(start_paused = true)]
async fn failures_of_tolerated_producers_are_collected_in_list_order() {
    use sources::*;
    let q = Query {
        failing: &["news"],
        with_archive: true,
    };
    let start = tokio::time::Instant::now();
    let d = gather(&q).await.unwrap();
    assert_eq!(
        d,
        Digest {
            hits: vec!["web", "local", "archive"],
            failed: vec!["news: news is down".into()],
        }
    );
    // The sources ran side by side (`news` twice): the slowest, 30 ms, bounds the run.
    assert_eq!(start.elapsed(), ms(30));

    let q = Query {
        failing: &["web", "archive"],
        with_archive: false,
    };
    let d = gather(&q).await.unwrap();
    assert_eq!(d.hits, ["news", "local"]);
    assert_eq!(
        d.failed,
        ["web: web is down"],
        "the skipped archive is left out"
    );

    // A failure that is not tolerated still ends the run.
    let q = Query {
        failing: &["local"],
        with_archive: false,
    };
    let err = gather(&q).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NodeFailed);
    assert_eq!(err.node_name(), Some("local"));
}

/// GraphFlow's fallback: when every provider failed, the consumer decides.
pub mod fallback {
    use super::*;

    pub struct Symbol(pub bool, pub bool);
    #[derive(Debug, PartialEq)]
    pub struct Quote(pub u32);
    #[derive(Debug, PartialEq)]
    pub struct Price(pub String);

    #[node]
    async fn exchange(s: &Symbol) -> Result<Quote, String> {
        sleep_ms(20).await;
        if s.0 {
            Ok(Quote(100))
        } else {
            Err("exchange closed".into())
        }
    }
    #[node]
    async fn broker(s: &Symbol) -> Result<Quote, String> {
        sleep_ms(10).await;
        if s.1 {
            Ok(Quote(101))
        } else {
            Err("broker offline".into())
        }
    }
    #[node]
    async fn price(quote: Result<&Quote, &NodeError>) -> Price {
        match quote {
            Ok(q) => Price(q.0.to_string()),
            Err(e) => Price(format!("{:?}: {}", e.kind(), e.causes().len())),
        }
    }
    #[workflow(race(exchange, broker, continue_on_error), price)]
    pub async fn quote(s: Symbol) -> Price;

    #[node]
    async fn maybe_price(quote: Option<&Quote>) -> Price {
        Price(quote.map_or("last known".into(), |q| q.0.to_string()))
    }
    #[workflow(race(exchange, broker, continue_on_error), maybe_price)]
    pub async fn quote_or_last(s: Symbol) -> Price;
}

#[tokio::test(start_paused = true)]
async fn a_tolerant_race_hands_its_failure_to_its_consumers() {
    use fallback::*;
    assert_eq!(
        quote(Symbol(true, true)).await.unwrap(),
        Price("101".into())
    );
    assert_eq!(
        quote(Symbol(true, false)).await.unwrap(),
        Price("100".into())
    );
    assert_eq!(
        quote(Symbol(false, false)).await.unwrap(),
        Price("RaceFailed: 2".into())
    );
    assert_eq!(
        quote_or_last(Symbol(false, false)).await.unwrap(),
        Price("last known".into())
    );
}

/// A conditional, tolerated producer: skipped (`None`), failed (`Some(Err)`) or done.
pub mod conditional {
    use super::*;

    pub struct Ask(pub Option<u32>);
    pub struct Key(pub u32);
    #[derive(Debug)]
    pub struct Record(pub u32);
    #[derive(Debug, PartialEq)]
    pub struct Answer(pub String);

    #[node]
    async fn key(a: &Ask) -> Option<Key> {
        a.0.map(Key)
    }
    #[node(continue_on_error)]
    async fn load(k: &Key) -> Result<Record, String> {
        if k.0 == 0 {
            Err("no record 0".into())
        } else {
            Ok(Record(k.0 * 2))
        }
    }
    #[node]
    async fn answer(record: Option<Result<&Record, &NodeError>>) -> Answer {
        Answer(match record {
            None => "skipped".into(),
            Some(Err(e)) => format!("failed: {:?}", e.kind()),
            Some(Ok(r)) => r.0.to_string(),
        })
    }
    #[workflow(key, load, answer)]
    pub async fn ask(a: Ask) -> Answer;

    /// The producer itself returns `Option`.
    #[node(continue_on_error)]
    async fn find(a: &Ask) -> Result<Option<Record>, String> {
        match a.0 {
            Some(0) => Err("bad key".into()),
            other => Ok(other.map(Record)),
        }
    }
    #[workflow(find, answer)]
    pub async fn ask_direct(a: Ask) -> Answer;
}

#[tokio::test]
async fn option_of_result_tells_skipped_from_failed() {
    use conditional::*;
    for (input, expected) in [
        (None, "skipped"),
        (Some(0), "failed: NodeFailed"),
        (Some(4), "8"),
    ] {
        assert_eq!(ask(Ask(input)).await.unwrap(), Answer(expected.into()));
    }
    for (input, expected) in [
        (None, "skipped"),
        (Some(0), "failed: NodeFailed"),
        (Some(4), "4"),
    ] {
        assert_eq!(
            ask_direct(Ask(input)).await.unwrap(),
            Answer(expected.into())
        );
    }
}
