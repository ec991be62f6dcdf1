//! Nodes in other modules and crates, imported types, one node in several workflows.

use flow_runtime::workflow;

/// Nodes whose module imports their types; the workflows below do not import them.
pub mod text {
    pub mod types {
        pub struct Letters(pub usize);
        pub struct Shout(pub String);
    }
    pub mod nodes {
        use super::types::{Letters, Shout};
        use external_nodes::model::Words;
        use flow_runtime::node;

        #[node]
        pub async fn letters(words: &Words) -> Letters {
            Letters(words.0.iter().map(String::len).sum())
        }

        #[node]
        pub async fn shout(words: &Words) -> Shout {
            Shout(words.0.join(" ").to_uppercase())
        }

        /// A private node, usable by workflows in this module only.
        #[node]
        async fn count(words: &Words) -> usize {
            words.0.len()
        }

        #[flow_runtime::workflow(external_nodes::nodes::split, count)]
        pub async fn word_count(sentence: external_nodes::model::Sentence) -> usize;
    }
}

pub mod flows {
    use super::text::nodes::letters;
    use flow_runtime::workflow;

    /// `letters` imported by `use`, `split` from another crate by full path.
    #[workflow(external_nodes::nodes::split, letters)]
    pub async fn letter_count(
        sentence: external_nodes::model::Sentence,
    ) -> crate::modules::text::types::Letters;
}

/// The same nodes in a second workflow, in another module, listed by path.
#[workflow(
    external_nodes::nodes::split,
    crate::modules::text::nodes::shout,
    crate::modules::text::nodes::letters
)]
pub async fn shout_it(sentence: external_nodes::model::Sentence) -> text::types::Shout;

fn sentence(s: &str) -> external_nodes::model::Sentence {
    external_nodes::model::Sentence(s.to_string())
}

#[tokio::test]
async fn nodes_from_other_modules_and_crates() {
    assert_eq!(flows::letter_count(sentence("ab cde")).await.unwrap().0, 5);
    assert_eq!(shout_it(sentence("hi there")).await.unwrap().0, "HI THERE");
    assert_eq!(text::nodes::word_count(sentence("a b c")).await.unwrap(), 3);
}

#[tokio::test]
async fn node_functions_stay_callable() {
    let words = external_nodes::nodes::split(&sentence("x y")).await;
    assert_eq!(text::nodes::letters(&words).await.0, 2);
}

#[test]
fn a_node_in_several_workflows_is_one_node() {
    let a = flows::letter_count::graph().nodes()[1];
    let b = shout_it::graph().nodes()[2];
    assert!(std::ptr::eq(a, b));
    assert_eq!(a.module_path(), "runtime::modules::text::nodes");
    let split = shout_it::graph().nodes()[0];
    assert_eq!(split.module_path(), "flow_test_external_nodes::nodes");
    assert_eq!(split.inputs()[0].ty(), "Sentence");
}
