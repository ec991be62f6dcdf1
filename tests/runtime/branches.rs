//! Conditional branches: a node returning `Option<T>` provides `T` only when it returns
//! `Some`; consumers of `&T` are skipped (and so are theirs), consumers of `Option<&T>` run
//! once with `None`.

use crate::common::*;
use flow_runtime::{ErrorKind, NodeError, node, workflow};

pub mod routing {
    use super::*;

    pub struct Doc {
        pub kinds: &'static [&'static str],
        pub calls: Calls,
    }
    #[derive(Default)]
    pub struct Calls {
        pub text: Counter,
        pub image: Counter,
        pub audio: Counter,
        pub text_summary: Counter,
        pub aggregate: Counter,
    }
    pub struct TextPart(pub &'static str);
    pub struct ImagePart;
    pub struct AudioPart;
    pub struct TextReport(pub String);
    pub struct TextSummary(pub String);
    pub struct ImageReport(pub u32);
    pub struct AudioReport(pub u32);
    #[derive(Debug, PartialEq)]
    pub struct Summary(pub Vec<String>);

    #[node]
    async fn route_text(doc: &Doc) -> Option<TextPart> {
        doc.kinds.contains(&"text").then_some(TextPart("hello"))
    }
    #[node]
    async fn route_image(doc: &Doc) -> Option<ImagePart> {
        doc.kinds.contains(&"image").then_some(ImagePart)
    }
    #[node]
    async fn route_audio(doc: &Doc) -> Option<AudioPart> {
        doc.kinds.contains(&"audio").then_some(AudioPart)
    }
    #[node]
    async fn analyse_text(doc: &Doc, part: &TextPart) -> TextReport {
        doc.calls.text.hit();
        sleep_ms(30).await;
        TextReport(format!("text:{}", part.0))
    }
    /// Two levels below the condition: skipped with its provider.
    #[node]
    async fn summarise_text(doc: &Doc, report: &TextReport) -> TextSummary {
        doc.calls.text_summary.hit();
        TextSummary(format!("{} (summary)", report.0))
    }
    #[node]
    async fn analyse_image(doc: &Doc, _part: &ImagePart) -> Result<ImageReport, std::io::Error> {
        doc.calls.image.hit();
        sleep_ms(10).await;
        Ok(ImageReport(2))
    }
    #[node(timeout = "1s")]
    async fn analyse_audio(doc: &Doc, _part: &AudioPart) -> AudioReport {
        doc.calls.audio.hit();
        sleep_ms(20).await;
        AudioReport(3)
    }
    #[node]
    async fn aggregate(
        doc: &Doc,
        text: Option<&TextSummary>,
        image: Option<&ImageReport>,
        audio: Option<&AudioReport>,
    ) -> Summary {
        doc.calls.aggregate.hit();
        let mut parts = Vec::new();
        if let Some(t) = text {
            parts.push(t.0.clone());
        }
        if let Some(i) = image {
            parts.push(format!("image:{}", i.0));
        }
        if let Some(a) = audio {
            parts.push(format!("audio:{}", a.0));
        }
        Summary(parts)
    }

    #[workflow(
        route_text,
        route_image,
        route_audio,
        analyse_text,
        summarise_text,
        analyse_image,
        analyse_audio,
        aggregate
    )]
    pub async fn analyse(doc: &Doc) -> Summary;
}

#[tokio::test(start_paused = true)]
async fn unselected_branches_never_run_and_the_join_runs_once() {
    use routing::*;
    let doc = Doc {
        kinds: &["image"],
        calls: Calls::default(),
    };
    let summary = analyse(&doc).await.unwrap();
    assert_eq!(summary, Summary(vec!["image:2".into()]));
    assert_eq!(doc.calls.text.get(), 0);
    assert_eq!(doc.calls.text_summary.get(), 0);
    assert_eq!(doc.calls.audio.get(), 0);
    assert_eq!(doc.calls.image.get(), 1);
    assert_eq!(doc.calls.aggregate.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn selected_branches_run_in_parallel() {
    use routing::*;
    let doc = Doc {
        kinds: &["text", "audio", "image"],
        calls: Calls::default(),
    };
    let start = tokio::time::Instant::now();
    let summary = analyse(&doc).await.unwrap();
    // The slowest branch (text, 30 ms) bounds the run: the branches ran side by side.
    assert_eq!(start.elapsed(), ms(30));
    assert_eq!(
        summary,
        Summary(vec![
            "text:hello (summary)".into(),
            "image:2".into(),
            "audio:3".into()
        ])
    );
    assert_eq!(doc.calls.text_summary.get(), 1);
    assert_eq!(doc.calls.aggregate.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn nothing_selected_still_runs_the_join_once() {
    use routing::*;
    let doc = Doc {
        kinds: &[],
        calls: Calls::default(),
    };
    assert_eq!(analyse(&doc).await.unwrap(), Summary(vec![]));
    assert_eq!(doc.calls.aggregate.get(), 1);
    assert_eq!(
        doc.calls.text.get() + doc.calls.image.get() + doc.calls.audio.get(),
        0
    );
}

mod skipped_output {
    use super::*;

    pub struct Ask(pub Option<u32>);
    #[derive(Debug)]
    pub struct Found(pub u32);
    #[derive(Debug)]
    pub struct Answer(pub u32);

    #[node]
    async fn lookup(ask: &Ask) -> Option<Found> {
        ask.0.map(Found)
    }
    #[node]
    async fn answer(found: &Found) -> Answer {
        Answer(found.0 * 2)
    }

    #[workflow(lookup, answer)]
    pub async fn respond(ask: Ask) -> Answer;

    #[workflow(lookup)]
    pub async fn find(ask: Ask) -> Found;
}

#[tokio::test]
async fn a_skipped_output_is_a_clear_error() {
    use skipped_output::*;
    assert_eq!(respond(Ask(Some(4))).await.unwrap().0, 8);
    let err = respond(Ask(None)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutputSkipped);
    assert_eq!(err.workflow(), "respond");
    assert_eq!(err.node_name(), Some("answer"));
    assert_eq!(
        anyhow_chain(&err),
        "workflow `respond` produced no output: node `answer` was skipped because node `lookup` returned `None`"
    );
    let skipped = std::error::Error::source(&err)
        .unwrap()
        .downcast_ref::<flow_runtime::error::Skipped>()
        .unwrap();
    assert_eq!(skipped.conditions(), ["lookup"]);

    let err = find(Ask(None)).await.unwrap_err();
    assert_eq!(
        anyhow_chain(&err),
        "workflow `find` produced no output: node `lookup` was skipped because it returned `None`"
    );
}

mod dataflow {
    //! An N-shaped graph (no series-parallel plan) with a condition in it.
    use super::*;

    pub struct Probe {
        pub left: bool,
        pub runs: Counter,
    }
    pub struct A(pub u32);
    pub struct B(pub u32);
    pub struct C(pub u32);
    pub struct D(pub u32);
    pub struct E(pub u32);
    #[derive(Debug, PartialEq)]
    pub struct Out(pub Option<u32>, pub Option<u32>);

    #[node]
    async fn a(p: &Probe) -> Option<A> {
        sleep_ms(5).await;
        p.left.then_some(A(1))
    }
    #[node]
    async fn b(_p: &Probe) -> B {
        sleep_ms(7).await;
        B(2)
    }
    #[node]
    async fn c(p: &Probe, a: &A) -> C {
        p.runs.hit();
        C(a.0 + 10)
    }
    #[node]
    async fn d(p: &Probe, a: &A, b: &B) -> D {
        p.runs.hit();
        D(a.0 + b.0)
    }
    #[node]
    async fn e(_p: &Probe, b: &B) -> E {
        E(b.0 * 3)
    }
    #[node]
    async fn out(c: Option<&C>, d: Option<&D>, e: &E) -> Out {
        Out(c.map(|c| c.0 + e.0), d.map(|d| d.0))
    }

    #[workflow(a, b, c, d, e, out)]
    pub async fn shape(p: &Probe) -> Out;
}

#[tokio::test(start_paused = true)]
async fn skips_propagate_inside_a_dataflow_join() {
    use dataflow::*;
    let p = Probe {
        left: true,
        runs: Counter::default(),
    };
    assert_eq!(shape(&p).await.unwrap(), Out(Some(17), Some(3)));
    assert_eq!(p.runs.get(), 2);
    let p = Probe {
        left: false,
        runs: Counter::default(),
    };
    assert_eq!(shape(&p).await.unwrap(), Out(None, None));
    assert_eq!(p.runs.get(), 0);
}

mod tolerant {
    //! A condition behind a `continue_on_error` node, and a `Result` consumer.
    use super::*;

    pub struct Mode(pub u8);
    pub struct Value(pub u32);
    #[derive(Debug, PartialEq)]
    pub struct Seen(pub String);
    #[derive(Debug, PartialEq)]
    pub struct Peek(pub Option<u32>);

    #[node(continue_on_error)]
    async fn maybe_value(mode: &Mode) -> Result<Option<Value>, std::io::Error> {
        match mode.0 {
            0 => Ok(None),
            1 => Ok(Some(Value(5))),
            _ => Err(std::io::Error::other("broken")),
        }
    }
    #[node]
    async fn seen(v: Result<&Value, &NodeError>) -> Seen {
        Seen(match v {
            Ok(v) => format!("ok {}", v.0),
            Err(e) => format!("err {}", std::error::Error::source(e).unwrap()),
        })
    }
    #[node]
    async fn peek(v: Option<&Value>) -> Peek {
        Peek(v.map(|v| v.0))
    }
    #[node]
    async fn both(s: Option<&Seen>, p: &Peek) -> (Option<String>, Option<u32>) {
        (s.map(|s| s.0.clone()), p.0)
    }

    #[workflow(maybe_value, seen, peek, both)]
    pub async fn observe(mode: Mode) -> (Option<String>, Option<u32>);
}

#[tokio::test]
async fn conditional_and_tolerated() {
    use tolerant::*;
    assert_eq!(
        observe(Mode(1)).await.unwrap(),
        (Some("ok 5".into()), Some(5))
    );
    // Skipped: the `Result` consumer is skipped, the `Option` consumer sees `None`.
    assert_eq!(observe(Mode(0)).await.unwrap(), (None, None));
    assert_eq!(
        observe(Mode(2)).await.unwrap(),
        (Some("err broken".into()), None)
    );
}
