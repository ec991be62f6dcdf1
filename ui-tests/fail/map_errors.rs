use flow_runtime::{node, workflow};

pub struct Item;
pub struct Score;
pub struct Other;

#[node]
async fn items() -> Vec<Item> {
    Vec::new()
}

#[node]
async fn score(_item: &Item) -> Score {
    Score
}

// Nothing provides a `Vec<Other>` to map over.
#[node]
async fn weigh(_other: &Other) -> Score {
    Score
}

#[workflow(map(weigh))]
pub async fn no_collection() -> Vec<Score>;

// Two parameters could take the elements.
#[node]
async fn pair(_a: &Item, _b: &Other) -> Score {
    Score
}

#[node]
async fn others() -> Vec<Other> {
    Vec::new()
}

#[workflow(items, others, map(pair))]
pub async fn ambiguous() -> Vec<Score>;

// `over` names a parameter that does not exist.
#[workflow(items, map(score, over = thing))]
pub async fn wrong_over() -> Vec<Score>;

// A mapped node cannot have a compensation.
#[node(compensate = undo)]
async fn book(_item: &Item) -> Score {
    Score
}

async fn undo(_s: &Score) -> Result<(), std::io::Error> {
    Ok(())
}

#[workflow(items, map(book))]
pub async fn compensated() -> Vec<Score>;

// Malformed options.
#[workflow(items, map(score, concurrency = 0))]
pub async fn zero() -> Vec<Score>;

#[workflow(items, map(score, parallel = 4))]
pub async fn unknown_option() -> Vec<Score>;

#[workflow(items, map(concurrency = 4))]
pub async fn no_node() -> Vec<Score>;



#[workflow(items, map(score, over = "item"))]
pub async fn over_string() -> Vec<Score>;
fn main() {}
