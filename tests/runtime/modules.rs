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

/// Nodes of a module, and stand-ins for them in a module that glob-imports them.
pub mod shop {
    use flow_runtime::{node, workflow};

    pub struct Order(pub u32);
    pub struct Hold(pub u32);
    pub struct Shipped(pub u32);

    #[node]
    pub async fn reserve(o: &Order) -> Hold {
        Hold(o.0)
    }
    #[node]
    pub async fn ship(h: &Hold) -> Shipped {
        Shipped(h.0 + 1)
    }
    #[workflow(reserve, ship)]
    pub async fn order(o: Order) -> Shipped;

    /// The usual test layout: `use super::*` and a stand-in of the same name, which
    /// shadows the glob-imported node as any item does.
    pub mod fakes {
        use super::*;

        #[node]
        pub async fn reserve(o: &Order) -> Hold {
            Hold(o.0 * 100)
        }
        #[workflow(reserve, ship)]
        pub async fn order(o: Order) -> Shipped;

        /// Listed by path, it is the same node.
        #[workflow(self::reserve, ship)]
        pub async fn by_path(o: Order) -> Shipped;

        #[node]
        pub async fn total(s: &Shipped) -> u32 {
            s.0
        }
        /// The stand-in workflow, as a node of another.
        #[workflow(order, total)]
        pub async fn outer(o: Order) -> u32;
    }
}

#[tokio::test]
async fn a_modules_own_node_stands_in_for_a_glob_imported_one() {
    assert_eq!(shop::order(shop::Order(1)).await.unwrap().0, 2);
    assert_eq!(shop::fakes::order(shop::Order(1)).await.unwrap().0, 101);
    assert_eq!(shop::fakes::by_path(shop::Order(1)).await.unwrap().0, 101);
    assert_eq!(shop::fakes::outer(shop::Order(2)).await.unwrap(), 201);
    let names: Vec<_> = shop::fakes::order::graph()
        .nodes()
        .iter()
        .map(|n| n.module_path())
        .collect();
    assert_eq!(
        names,
        ["runtime::modules::shop::fakes", "runtime::modules::shop"]
    );
}

#[tokio::test]
async fn nodes_and_workflows_in_a_function_body() {
    use flow_runtime::{RunOptions, node, workflow};

    struct Seed(u32);
    struct Grown(u32);
    struct Label<'a>(&'a str);

    #[node]
    async fn grow(s: &Seed, l: &Label<'static>) -> Grown {
        Grown(s.0 + l.0.len() as u32)
    }
    #[workflow(grow)]
    async fn garden(s: Seed, l: &Label<'static>) -> Grown;

    let label = Label("abc");
    assert_eq!(garden(Seed(1), &label).await.unwrap().0, 4);
    assert_eq!(
        garden::run(RunOptions::new().run_id("g"), Seed(2), &label)
            .await
            .unwrap()
            .0,
        5
    );
    assert_eq!(garden::graph().nodes()[0].name(), "grow");
}

/// A workflow input named like a node does not hide the node from the body.
mod input_named_like_a_node {
    use flow_runtime::{node, workflow};

    #[node]
    async fn item(n: &u32) -> String {
        format!("item {n}")
    }
    #[workflow(item)]
    pub async fn by_name(item: u32) -> String;

    #[tokio::test]
    async fn the_node_runs() {
        assert_eq!(by_name(3).await.unwrap(), "item 3");
        assert_eq!(
            by_name::run(flow_runtime::RunOptions::new(), 4)
                .await
                .unwrap(),
            "item 4"
        );
    }
}

// Nodes named like the standard library's macros (`write!`, `format!`) are listed as any
// other node.
mod like_std_macros {
    use flow_runtime::{node, workflow};

    pub struct Row(pub u32);
    pub struct Written(pub u32);
    pub struct Formatted(pub String);

    #[node]
    async fn write(row: &Row) -> Written {
        Written(row.0 + 1)
    }

    #[node]
    async fn format(w: &Written) -> Formatted {
        Formatted(std::format!("{}", w.0))
    }

    #[workflow(write, format)]
    pub async fn store(row: Row) -> Formatted;

    #[tokio::test]
    async fn they_run() {
        assert_eq!(store(Row(1)).await.unwrap().0, "2");
    }
}
