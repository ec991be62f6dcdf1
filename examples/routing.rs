//! Conditional routing: classify a piece of content, run only the analysers for its kind
//! (in parallel), then aggregate whichever ran.
//!
//! One router node returns a tuple `(Class, Option<Text>, Option<Image>, ...)`: each element
//! is its own edge, and an `Option` element provides its kind's value only when it is
//! `Some`, so the analysers that take `&Text` run for text and are skipped otherwise (never
//! called). The router may select any set of branches at once. Every analyser
//! returns an `Analysis`; the aggregator takes `&[Analysis]` and receives the analyses that
//! ran, in the order the analysers are listed, and runs exactly once.
//!
//! ```text
//! cargo run --example routing
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use flow_runtime::{node, workflow};

/// What arrives: a kind and a body.
pub struct Content {
    pub kind: &'static str,
    pub body: &'static str,
}

/// How many times each analyser ran (to show that unselected ones never run).
#[derive(Default)]
pub struct Calls {
    pub text: AtomicUsize,
    pub image: AtomicUsize,
    pub audio: AtomicUsize,
    pub generic: AtomicUsize,
    pub aggregate: AtomicUsize,
}

impl Calls {
    fn hit(counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Class {
    Text,
    Image,
    Audio,
    Unknown,
}

pub struct Text(pub &'static str);
pub struct Image;
pub struct Audio;
pub struct Unknown;

#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub kind: &'static str,
    pub result: String,
}

#[derive(Debug, PartialEq)]
pub struct Report {
    pub class: Class,
    pub analyses: Vec<Analysis>,
}

async fn work(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

fn analysis(kind: &'static str, result: impl Into<String>) -> Analysis {
    Analysis {
        kind,
        result: result.into(),
    }
}

/// The router: one node classifies the content and selects the branches to run. Each
/// `Option` element of its tuple provides its kind's value only when it is `Some`.
#[node]
async fn route(
    content: &Content,
) -> (
    Class,
    Option<Text>,
    Option<Image>,
    Option<Audio>,
    Option<Unknown>,
) {
    let class = match content.kind {
        "text" => Class::Text,
        "image" => Class::Image,
        "audio" => Class::Audio,
        _ => Class::Unknown,
    };
    (
        class,
        (class == Class::Text).then_some(Text(content.body)),
        (class == Class::Image).then_some(Image),
        (class == Class::Audio).then_some(Audio),
        (class == Class::Unknown).then_some(Unknown),
    )
}

// Analysers.
#[node]
async fn text_sentiment(calls: &Calls, text: &Text) -> Analysis {
    Calls::hit(&calls.text);
    work(30).await;
    let mood = if text.0.contains("great") {
        "positive"
    } else {
        "neutral"
    };
    analysis("sentiment", mood)
}
#[node]
async fn text_entities(calls: &Calls, _text: &Text) -> Analysis {
    Calls::hit(&calls.text);
    work(20).await;
    analysis("entities", "Person, Location")
}
#[node]
async fn text_keywords(calls: &Calls, text: &Text) -> Analysis {
    Calls::hit(&calls.text);
    work(10).await;
    let words: Vec<&str> = text.0.split_whitespace().filter(|w| w.len() > 4).collect();
    analysis("keywords", words.join(", "))
}
#[node]
async fn image_objects(calls: &Calls, _image: &Image) -> Analysis {
    Calls::hit(&calls.image);
    work(40).await;
    analysis("objects", "car, tree, person")
}
#[node]
async fn image_faces(calls: &Calls, _image: &Image) -> Analysis {
    Calls::hit(&calls.image);
    work(25).await;
    analysis("faces", "2")
}
#[node]
async fn audio_transcribe(calls: &Calls, _audio: &Audio) -> Analysis {
    Calls::hit(&calls.audio);
    work(50).await;
    analysis("transcript", "Hello world")
}
#[node]
async fn audio_sentiment(calls: &Calls, _audio: &Audio) -> Analysis {
    Calls::hit(&calls.audio);
    work(15).await;
    analysis("audio_sentiment", "neutral")
}
#[node]
async fn generic(calls: &Calls, _unknown: &Unknown) -> Analysis {
    Calls::hit(&calls.generic);
    analysis("generic", "stored as is")
}

/// Runs once, with the analyses that ran, in list order.
#[node]
async fn aggregate(calls: &Calls, class: &Class, analyses: &[Analysis]) -> Report {
    Calls::hit(&calls.aggregate);
    Report {
        class: *class,
        analyses: analyses.to_vec(),
    }
}

#[workflow(
    route,
    text_sentiment,
    text_entities,
    text_keywords,
    image_objects,
    image_faces,
    audio_transcribe,
    audio_sentiment,
    generic,
    aggregate
)]
pub async fn analyse(calls: &Calls, content: Content) -> Report;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), flow_runtime::Error> {
    for (kind, body) in [
        ("text", "a great day in Lisbon with friends"),
        ("image", "<jpeg>"),
        ("audio", "<wav>"),
        ("video", "<mp4>"),
    ] {
        let calls = Calls::default();
        let start = std::time::Instant::now();
        let report = analyse(&calls, Content { kind, body }).await?;
        println!(
            "{kind:>5}: {:?} in {:>3} ms, aggregated once: {}",
            report.class,
            start.elapsed().as_millis(),
            calls.aggregate.load(Ordering::SeqCst) == 1
        );
        for a in &report.analyses {
            println!("         {:<16} {}", a.kind, a.result);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(c: &AtomicUsize) -> usize {
        c.load(Ordering::SeqCst)
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_selected_analysers_run_and_the_aggregator_runs_once() {
        let calls = Calls::default();
        let start = tokio::time::Instant::now();
        let report = analyse(
            &calls,
            Content {
                kind: "image",
                body: "<jpeg>",
            },
        )
        .await
        .unwrap();
        assert_eq!(report.class, Class::Image);
        let kinds: Vec<&str> = report.analyses.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["objects", "faces"]);
        assert_eq!(count(&calls.image), 2);
        assert_eq!(count(&calls.text), 0);
        assert_eq!(count(&calls.audio), 0);
        assert_eq!(count(&calls.generic), 0);
        assert_eq!(count(&calls.aggregate), 1);
        // The two image analysers ran side by side: the slower one (40 ms) bounds the run.
        assert_eq!(start.elapsed(), Duration::from_millis(40));
    }

    #[tokio::test(start_paused = true)]
    async fn every_kind_routes_to_its_own_analysers() {
        for (kind, class, expected) in [
            (
                "text",
                Class::Text,
                &["sentiment", "entities", "keywords"][..],
            ),
            (
                "audio",
                Class::Audio,
                &["transcript", "audio_sentiment"][..],
            ),
            ("video", Class::Unknown, &["generic"][..]),
        ] {
            let calls = Calls::default();
            let report = analyse(&calls, Content { kind, body: "x" }).await.unwrap();
            assert_eq!(report.class, class);
            let kinds: Vec<&str> = report.analyses.iter().map(|a| a.kind).collect();
            assert_eq!(kinds, expected);
            assert_eq!(count(&calls.aggregate), 1);
            let ran = count(&calls.text)
                + count(&calls.image)
                + count(&calls.audio)
                + count(&calls.generic);
            assert_eq!(ran, expected.len());
        }
    }
}
