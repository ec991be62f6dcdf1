//! A workflow may come before the nodes it lists, and list them by `self::`, `super::` and
//! `crate::` paths; a node may take the same type twice.
use flow_runtime::workflow;

pub struct Request(pub u32);
pub struct Items(pub u32);
pub struct Report(pub u32);

#[workflow(self::nodes::fetch, nodes::report)]
pub async fn before(req: Request) -> Report;

pub mod nodes {
    use super::{Items, Report, Request};
    use flow_runtime::node;

    #[node]
    pub async fn fetch(req: &Request) -> Items {
        Items(req.0)
    }

    #[node]
    pub async fn report(a: &Items, b: &Items) -> Report {
        Report(a.0 + b.0)
    }

    pub mod inner {
        #[flow_runtime::workflow(super::fetch, crate::nodes::report)]
        pub async fn nested(req: crate::Request) -> crate::Report;
    }
}

fn main() {
    let _ = before(Request(1));
    let _ = nodes::inner::nested(Request(1));
    assert_eq!(before::graph().edges().len(), 3);
}
