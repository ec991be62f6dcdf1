//! Map-reduce: split a corpus into documents, count the words of every document with at
//! most four in flight, then reduce the counts. The map keeps input order whatever order
//! the documents finish in, and an empty corpus still reaches the reducer.
//!
//! ```text
//! cargo run --example map_reduce
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use flow_runtime::{node, workflow};

pub struct Corpus(pub &'static str);
pub struct Document {
    pub id: usize,
    pub text: &'static str,
}
pub struct WordCount {
    pub id: usize,
    pub words: BTreeMap<&'static str, usize>,
}
#[derive(Debug)]
pub struct Totals {
    pub documents: usize,
    pub order: Vec<usize>,
    pub top: Vec<(&'static str, usize)>,
}

#[node]
async fn split(corpus: &Corpus) -> Vec<Document> {
    corpus
        .0
        .split('\n')
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(id, text)| Document { id, text })
        .collect()
}

/// Written for one document; `map(count_words, ...)` runs it once per element.
#[node]
async fn count_words(doc: &Document) -> WordCount {
    // Longer documents take longer: later, shorter ones finish first.
    tokio::time::sleep(Duration::from_millis(doc.text.len() as u64)).await;
    let mut words = BTreeMap::new();
    for w in doc.text.split_whitespace() {
        *words
            .entry(w.trim_matches(|c: char| !c.is_alphanumeric()))
            .or_default() += 1;
    }
    WordCount { id: doc.id, words }
}

#[node]
async fn reduce(counts: &[WordCount]) -> Totals {
    let mut all: BTreeMap<&'static str, usize> = BTreeMap::new();
    for c in counts {
        for (w, n) in &c.words {
            *all.entry(w).or_default() += n;
        }
    }
    let mut top: Vec<_> = all.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    top.truncate(3);
    Totals {
        documents: counts.len(),
        order: counts.iter().map(|c| c.id).collect(),
        top,
    }
}

#[workflow(split, map(count_words, concurrency = 4), reduce)]
pub async fn word_count(corpus: Corpus) -> Totals;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), flow_runtime::Error> {
    let corpus = Corpus(
        "the quick brown fox jumps over the lazy dog and the cat\n\
         a dog\n\
         the fox and the dog are friends now\n\
         cats and dogs\n\
         the end",
    );
    let totals = word_count(corpus).await?;
    println!(
        "{} documents, counted in input order {:?}; top words {:?}",
        totals.documents, totals.order, totals.top
    );
    let empty = word_count(Corpus("")).await?;
    println!(
        "an empty corpus: {} documents, top {:?}",
        empty.documents, empty.top
    );
    Ok(())
}
