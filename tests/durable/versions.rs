//! A run recorded by one version of a workflow, continued by the next: four versions of
//! workflow `orders`, each in its own module.

use std::time::Duration;

use flow_runtime::store::SqliteStore;
use flow_runtime::{ErrorKind, RunOptions};

use crate::flows::{chain, notes};
use crate::scratch;

mod v1 {
    use crate::flows::note;
    use flow_runtime::{RunContext, node, workflow};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct A(pub u32);
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct B(pub u32);

    #[node]
    async fn a(x: &u32, ctx: &RunContext) -> A {
        note(&ctx.run_id().to_string(), "a");
        A(*x)
    }

    #[node]
    async fn b(a: &A) -> B {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        B(a.0)
    }

    #[workflow(a, b, durable, name = "orders")]
    pub async fn orders(x: u32) -> B;
}

/// Adds a node after `b`: the recorded `a` still fits.
mod v2 {
    use crate::flows::note;
    use flow_runtime::{RunContext, node, workflow};
    use serde::{Deserialize, Serialize};

    pub use super::v1::{A, B};
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct C(pub u32);

    #[node]
    async fn a(x: &u32, ctx: &RunContext) -> A {
        note(&ctx.run_id().to_string(), "a");
        A(*x)
    }

    #[node]
    async fn b(a: &A) -> B {
        B(a.0 + 1)
    }

    #[node]
    async fn c(b: &B) -> C {
        C(b.0 * 10)
    }

    #[workflow(a, b, c, durable, name = "orders")]
    pub async fn orders(x: u32) -> C;
}

/// `a` returns another type.
mod v3 {
    use flow_runtime::{node, workflow};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Amount(pub u32);
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct B(pub u32);

    #[node]
    async fn a(x: &u32) -> Amount {
        Amount(*x)
    }

    #[node]
    async fn b(a: &Amount) -> B {
        B(a.0)
    }

    #[workflow(a, b, durable, name = "orders")]
    pub async fn orders(x: u32) -> B;
}

/// `a` returns a type of the same name whose fields changed.
mod v4 {
    use flow_runtime::{node, workflow};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct A {
        pub amount: u32,
        pub currency: String,
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct B(pub u32);

    #[node]
    async fn a(x: &u32) -> A {
        A {
            amount: *x,
            currency: "EUR".into(),
        }
    }

    #[node]
    async fn b(a: &A) -> B {
        B(a.amount)
    }

    #[workflow(a, b, durable, name = "orders")]
    pub async fn orders(x: u32) -> B;
}

/// A run of `v1` dropped while `b` runs: `a` is recorded.
async fn started(store: &SqliteStore, id: &str) {
    let run = v1::orders::run(RunOptions::new().run_id(id).store(store), 4);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), run)
            .await
            .is_err()
    );
    let rec = store.run(id).unwrap().unwrap();
    assert_eq!(rec.completed_nodes(), vec![("a".to_string(), None)]);
    assert_eq!(notes(id), vec!["a"]);
}

#[tokio::test]
async fn a_compatible_change_continues_the_run() {
    let dir = scratch("v2");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    started(&store, "v-2").await;
    let out = v2::orders::resume(RunOptions::new().run_id("v-2").store(&store))
        .await
        .unwrap();
    assert_eq!(out, v2::C(50));
    assert_eq!(notes("v-2"), vec!["a"], "the recorded `a` was read back");
}

#[tokio::test]
async fn a_node_whose_type_changed_stops_the_run_naming_it() {
    let dir = scratch("v3");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    started(&store, "v-3").await;
    let err = v3::orders::resume(RunOptions::new().run_id("v-3").store(&store))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GraphChanged);
    assert_eq!(err.node_name(), Some("a"));
    let text = chain(&err);
    assert!(
        text.contains("node `a` now returns `Amount` where the run recorded `A`"),
        "{text}"
    );
    // The run is still there, unfinished, for the version that can continue it.
    let rec = store.run("v-3").unwrap().unwrap();
    assert_eq!(rec.status(), flow_runtime::store::RunStatus::Unfinished);
}

#[tokio::test]
async fn a_recorded_output_that_no_longer_decodes_is_an_error_naming_node_and_type() {
    let dir = scratch("v4");
    let store = SqliteStore::open(dir.join("runs.db")).unwrap();
    started(&store, "v-4").await;
    let err = v4::orders::resume(RunOptions::new().run_id("v-4").store(&store))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Undecodable);
    assert_eq!(err.node_name(), Some("a"));
    let text = chain(&err);
    assert!(
        text.contains("the recorded output of node `a` does not decode as `A`"),
        "{text}"
    );
    assert_eq!(
        store.run("v-4").unwrap().unwrap().status(),
        flow_runtime::store::RunStatus::Unfinished
    );
}
