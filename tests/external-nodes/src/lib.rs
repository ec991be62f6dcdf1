//! Nodes defined in another crate, listed by workflows in the integration tests.

pub mod model {
    /// A sentence to analyse.
    pub struct Sentence(pub String);
    /// The words of a sentence.
    pub struct Words(pub Vec<String>);
}

pub mod nodes {
    use crate::model::{Sentence, Words};
    use flow_runtime::node;

    /// Splits a sentence into words.
    #[node]
    pub async fn split(sentence: &Sentence) -> Words {
        Words(sentence.0.split_whitespace().map(str::to_owned).collect())
    }
}
