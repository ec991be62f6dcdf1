//! Workflows in a crate of the 2021 edition: inputs by reference, with elided and named
//! lifetimes, through the plain function, `run` and as a node of another workflow.
#![allow(clippy::ptr_arg)] // nodes take `&T` of the types the graph carries

use flow_runtime::{node, workflow};

pub struct Probe(pub u32);
pub struct Items(pub u32);
pub struct Out(pub u32);
pub struct Label<'a>(pub &'a str);
pub struct Total(pub u32);

#[node]
async fn fetch(p: &Probe, l: &Label<'static>) -> Items {
    Items(p.0 + l.0.len() as u32)
}

#[node]
async fn merge(i: &Items, s: &String) -> Out {
    Out(i.0 + s.len() as u32)
}

/// Inputs by reference and by value, one with a named lifetime.
#[workflow(fetch, merge)]
pub async fn enrich(p: &Probe, l: Label<'static>, s: &String) -> Out;

#[node]
async fn double(o: &Out) -> Total {
    Total(o.0 * 2)
}

/// `enrich` as a node of another workflow.
#[workflow(enrich, double)]
pub async fn twice(p: &Probe, l: &Label<'static>, s: &String) -> Total;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn workflows_run_in_the_2021_edition() {
        let s = String::from("ab");
        assert_eq!(enrich(&Probe(1), Label("xyz"), &s).await.unwrap().0, 6);
        let options = flow_runtime::RunOptions::new().run_id("r");
        let out = enrich::run(options, &Probe(1), Label("xyz"), &s)
            .await
            .unwrap();
        assert_eq!(out.0, 6);
        assert_eq!(twice(&Probe(1), &Label("xyz"), &s).await.unwrap().0, 12);
    }
}
