//! Every node and workflow linked into the program, collected with [`inventory`].
//!
//! ```
//! use flow_runtime::{node, registry, workflow};
//! pub struct Celsius(f64);
//! pub struct Fahrenheit(f64);
//! #[node]
//! async fn convert(c: &Celsius) -> Fahrenheit { Fahrenheit(c.0 * 1.8 + 32.0) }
//! #[workflow(convert)]
//! async fn to_fahrenheit(c: Celsius) -> Fahrenheit;
//!
//! let node = registry::node("convert").unwrap();
//! assert_eq!(node.inputs()[0].ty(), "Celsius");
//! assert_eq!(node.output(), Some("Fahrenheit"));
//! let wf = registry::workflow("to_fahrenheit").unwrap();
//! assert_eq!(wf.nodes()[0].name(), "convert");
//! assert!(registry::workflows().any(|w| std::ptr::eq(w, to_fahrenheit::graph())));
//! ```

use crate::{NodeInfo, WorkflowGraph};

#[doc(hidden)]
pub struct NodeRegistration(pub &'static NodeInfo);

#[doc(hidden)]
pub struct WorkflowRegistration(pub fn() -> &'static WorkflowGraph);

/// A durable workflow, runnable by name on JSON inputs (what [`cli`](crate::cli) runs).
#[doc(hidden)]
pub struct DurableRegistration {
    pub name: &'static str,
    pub graph: fn() -> &'static WorkflowGraph,
    pub run: for<'o> fn(Vec<String>, crate::RunOptions<'o>) -> crate::store::backend::Stored<'o>,
    pub resume: for<'o> fn(crate::RunOptions<'o>) -> crate::store::backend::Stored<'o>,
}

inventory::collect!(NodeRegistration);
inventory::collect!(WorkflowRegistration);
inventory::collect!(DurableRegistration);

/// The durable workflow called `name`, as a runnable entry.
#[cfg(feature = "cli")]
pub(crate) fn durable(name: &str) -> Option<&'static DurableRegistration> {
    inventory::iter::<DurableRegistration>
        .into_iter()
        .find(|r| r.name == name)
}

/// Every `#[node]` function linked into the program, in no particular order.
pub fn nodes() -> impl Iterator<Item = &'static NodeInfo> {
    inventory::iter::<NodeRegistration>.into_iter().map(|r| r.0)
}

/// Every `#[workflow]` linked into the program, in no particular order.
pub fn workflows() -> impl Iterator<Item = &'static WorkflowGraph> {
    inventory::iter::<WorkflowRegistration>
        .into_iter()
        .map(|r| (r.0)())
}

/// The node called `name`. When several nodes share the name (in different modules), the
/// first found; use [`nodes`] and filter on [`NodeInfo::module_path`] to choose.
pub fn node(name: &str) -> Option<&'static NodeInfo> {
    nodes().find(|n| n.name() == name)
}

/// The workflow called `name`. When several workflows share the name (in different modules),
/// the first found; use [`workflows`] and filter on [`WorkflowGraph::module_path`] to choose.
pub fn workflow(name: &str) -> Option<&'static WorkflowGraph> {
    workflows().find(|w| w.name() == name)
}
