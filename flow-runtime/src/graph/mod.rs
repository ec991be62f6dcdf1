//! Static descriptions of nodes and workflows, built at compile time.

#[cfg(feature = "render")]
pub(crate) mod render;
#[cfg(feature = "render")]
pub(crate) mod svg;

use std::fmt;
use std::time::Duration;

/// A parameter of a node or an input of a workflow: its name and its type as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Param {
    name: &'static str,
    ty: &'static str,
}

impl Param {
    #[doc(hidden)]
    pub const fn __new(name: &'static str, ty: &'static str) -> Self {
        Param { name, ty }
    }

    /// The parameter's name, as written in the function (`_` for a wildcard).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The type the parameter needs, as written, without the leading `&`: the parameter
    /// `items: &Items` has the type `Items`.
    pub const fn ty(&self) -> &'static str {
        self.ty
    }
}

/// Where a source-code item is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    module_path: &'static str,
    file: &'static str,
    line: u32,
    column: u32,
}

impl Location {
    #[doc(hidden)]
    pub const fn __new(
        module_path: &'static str,
        file: &'static str,
        line: u32,
        column: u32,
    ) -> Self {
        Location {
            module_path,
            file,
            line,
            column,
        }
    }

    /// The module the item is defined in, e.g. `my_crate::nodes`.
    pub const fn module_path(&self) -> &'static str {
        self.module_path
    }

    /// The source file, as `file!()` gives it.
    pub const fn file(&self) -> &'static str {
        self.file
    }

    /// The line of the item's name (1-based).
    pub const fn line(&self) -> u32 {
        self.line
    }

    /// The column of the item's name (1-based).
    pub const fn column(&self) -> u32 {
        self.column
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What `#[node]` records about a node function: its name, where it is, what it takes and
/// what it provides.
///
/// Every `#[node]` function has one, reachable as `path::to::node_fn::INFO`, and every
/// linked node is listed by [`registry::nodes`](crate::registry::nodes).
#[derive(Debug)]
pub struct NodeInfo {
    name: &'static str,
    fn_name: &'static str,
    location: Location,
    inputs: &'static [Param],
    output: Option<&'static str>,
    returns: &'static str,
    fallible: bool,
    traits: NodeTraits,
}

impl NodeInfo {
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub const fn __new(
        name: &'static str,
        fn_name: &'static str,
        location: Location,
        inputs: &'static [Param],
        output: Option<&'static str>,
        returns: &'static str,
        fallible: bool,
        traits: NodeTraits,
    ) -> Self {
        NodeInfo {
            name,
            fn_name,
            location,
            inputs,
            output,
            returns,
            fallible,
            traits,
        }
    }

    /// The node's name: the function's name unless `#[node(name = "...")]` sets another.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The name of the node function.
    pub const fn fn_name(&self) -> &'static str {
        self.fn_name
    }

    /// Where the node function is defined.
    pub const fn location(&self) -> &Location {
        &self.location
    }

    /// The module the node function is defined in.
    pub const fn module_path(&self) -> &'static str {
        self.location.module_path
    }

    /// The node's parameters, in order: each is a value the node depends on.
    pub const fn inputs(&self) -> &'static [Param] {
        self.inputs
    }

    /// The type the node provides to other nodes (`Items` for `-> Result<Items, E>`), or
    /// `None` when it returns `()` or `Result<(), E>`.
    pub const fn output(&self) -> Option<&'static str> {
        self.output
    }

    /// The return type as written, e.g. `Result<Items, FetchError>`.
    pub const fn returns(&self) -> &'static str {
        self.returns
    }

    /// Whether the node returns a `Result` and so can fail.
    pub const fn is_fallible(&self) -> bool {
        self.fallible
    }

    /// What `#[node(...)]` asked for, and whether the node may return `None`.
    pub const fn traits(&self) -> &NodeTraits {
        &self.traits
    }
}

/// A node's options and kind, as `#[node(...)]` and its signature declare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeTraits {
    optional: bool,
    workflow: bool,
    timeout: Option<Duration>,
    max_attempts: u32,
    spawn: bool,
    blocking: bool,
    continue_on_error: bool,
    compensate: bool,
    rate_limit: bool,
    limit: bool,
}

impl NodeTraits {
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
    pub const fn __new(
        optional: bool,
        workflow: bool,
        timeout: Option<Duration>,
        max_attempts: u32,
        spawn: bool,
        blocking: bool,
        continue_on_error: bool,
        compensate: bool,
        rate_limit: bool,
        limit: bool,
    ) -> Self {
        NodeTraits {
            optional,
            workflow,
            timeout,
            max_attempts,
            spawn,
            blocking,
            continue_on_error,
            compensate,
            rate_limit,
            limit,
        }
    }

    /// The node returns `Option<T>`: its consumers are skipped when it returns `None`.
    pub const fn is_optional(&self) -> bool {
        self.optional
    }

    /// The node is a `#[workflow]` listed as a node of another workflow.
    pub const fn is_workflow(&self) -> bool {
        self.workflow
    }

    /// The timeout of each attempt (`timeout = "..."`).
    pub const fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The most attempts it makes (`retry(max_attempts = N)`; 1 without `retry`).
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// It runs as its own task (`spawn`).
    pub const fn is_spawned(&self) -> bool {
        self.spawn
    }

    /// It runs on the blocking pool (`blocking`).
    pub const fn is_blocking(&self) -> bool {
        self.blocking
    }

    /// Its failure is handed to its consumers (`continue_on_error`).
    pub const fn continues_on_error(&self) -> bool {
        self.continue_on_error
    }

    /// It has a compensation (`compensate = ...`).
    pub const fn has_compensation(&self) -> bool {
        self.compensate
    }

    /// It takes a rate limiter's starts (`rate_limit = ...`).
    pub const fn is_rate_limited(&self) -> bool {
        self.rate_limit
    }

    /// It holds a shared concurrency limit's permits (`limit = ...`).
    pub const fn is_limited(&self) -> bool {
        self.limit
    }

    /// The options in a few words, for pictures: `timeout 2s, 3 attempts, spawn`; empty
    /// when there are none.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(t) = self.timeout {
            parts.push(format!("timeout {t:?}"));
        }
        if self.max_attempts() > 1 {
            parts.push(format!("{} attempts", self.max_attempts()));
        }
        for (on, word) in [
            (self.spawn, "spawn"),
            (self.blocking, "blocking"),
            (self.rate_limit, "rate-limited"),
            (self.limit, "limited"),
            (self.continue_on_error, "continue on error"),
            (self.compensate, "compensated"),
        ] {
            if on {
                parts.push(word.to_string());
            }
        }
        parts.join(", ")
    }
}

/// How a node runs in one workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Shape {
    /// Once per run.
    Once,
    /// Once per element of a collection (`map(node, ...)`).
    Map {
        /// The most elements in flight, if bounded.
        concurrency: Option<usize>,
        /// Every element runs and consumers get each one's result.
        continue_on_error: bool,
    },
    /// As a member of race `group` (`race(a, b, ...)`; groups are numbered from 0 in the
    /// order the workflow lists them).
    Race {
        /// The race's number.
        group: usize,
    },
}

/// A node's place in one workflow: its [`Shape`], and whether it may be skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Step {
    shape: Shape,
    may_skip: bool,
    traits: Option<NodeTraits>,
}

impl Step {
    #[doc(hidden)]
    pub const fn __new(shape: Shape, may_skip: bool) -> Self {
        Step {
            shape,
            may_skip,
            traits: None,
        }
    }

    #[doc(hidden)]
    pub const fn __with_traits(shape: Shape, may_skip: bool, traits: NodeTraits) -> Self {
        Step {
            shape,
            may_skip,
            traits: Some(traits),
        }
    }

    /// The node's options in this workflow when they are not its own: those it takes from
    /// the workflow's `defaults(...)` (or a race's `continue_on_error`). `None`: the node's
    /// own, [`NodeInfo::traits`].
    pub const fn traits(&self) -> Option<&NodeTraits> {
        self.traits.as_ref()
    }

    /// How the node runs.
    pub const fn shape(&self) -> Shape {
        self.shape
    }

    /// Whether the node may be skipped: it needs a value an `Option` node upstream may not
    /// produce.
    pub const fn may_skip(&self) -> bool {
        self.may_skip
    }
}

/// Where a node's input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// The workflow input at this index of [`WorkflowGraph::inputs`].
    Input(usize),
    /// The node at this index of [`WorkflowGraph::nodes`].
    Node(usize),
}

/// One edge of a workflow graph: a value (of type [`WorkflowGraph::edge_type`]) flows from
/// [`from`](Edge::from) into parameter [`param`](Edge::param) of node [`to`](Edge::to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Edge {
    from: Source,
    to: usize,
    param: usize,
}

impl Edge {
    #[doc(hidden)]
    pub const fn __new(from: Source, to: usize, param: usize) -> Self {
        Edge { from, to, param }
    }

    /// Where the value comes from.
    pub const fn from(&self) -> Source {
        self.from
    }

    /// The index of the consuming node in [`WorkflowGraph::nodes`].
    pub const fn to(&self) -> usize {
        self.to
    }

    /// The index of the consuming parameter in the node's [`NodeInfo::inputs`].
    pub const fn param(&self) -> usize {
        self.param
    }
}

/// An ordering edge without data: node [`to`](OrderEdge::to) starts only once node
/// [`from`](OrderEdge::from) has ended (`#[node(after(...))]` or the workflow's
/// `after(node: ...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrderEdge {
    from: usize,
    to: usize,
}

impl OrderEdge {
    #[doc(hidden)]
    pub const fn __new(from: usize, to: usize) -> Self {
        OrderEdge { from, to }
    }

    /// The index in [`WorkflowGraph::nodes`] of the node that runs first.
    pub const fn from(&self) -> usize {
        self.from
    }

    /// The index in [`WorkflowGraph::nodes`] of the node that runs after it.
    pub const fn to(&self) -> usize {
        self.to
    }
}

/// The static shape of a workflow: its inputs, its nodes in the order the workflow lists
/// them, the edges between them and which node provides the output.
///
/// `#[workflow]` builds it at compile time. Reach it as `my_workflow::graph()`, or list every
/// workflow a program links with [`registry::workflows`](crate::registry::workflows).
/// Render it with [`to_mermaid`](WorkflowGraph::to_mermaid) or [`to_dot`](WorkflowGraph::to_dot).
#[derive(Debug)]
pub struct WorkflowGraph {
    name: &'static str,
    fn_name: &'static str,
    location: Location,
    inputs: &'static [Param],
    output: Option<&'static str>,
    output_node: Option<usize>,
    nodes: &'static [&'static NodeInfo],
    steps: &'static [Step],
    edges: &'static [Edge],
    order: &'static [OrderEdge],
}

impl WorkflowGraph {
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub const fn __new(
        name: &'static str,
        fn_name: &'static str,
        location: Location,
        inputs: &'static [Param],
        output: Option<&'static str>,
        output_node: Option<usize>,
        nodes: &'static [&'static NodeInfo],
        steps: &'static [Step],
        edges: &'static [Edge],
        order: &'static [OrderEdge],
    ) -> Self {
        WorkflowGraph {
            name,
            fn_name,
            location,
            inputs,
            output,
            output_node,
            nodes,
            steps,
            edges,
            order,
        }
    }

    /// The workflow's name: the function's name unless `#[workflow(name = "...")]` sets another.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The name of the generated workflow function.
    pub const fn fn_name(&self) -> &'static str {
        self.fn_name
    }

    /// Where the workflow is declared.
    pub const fn location(&self) -> &Location {
        &self.location
    }

    /// The module the workflow is declared in.
    pub const fn module_path(&self) -> &'static str {
        self.location.module_path
    }

    /// The workflow's inputs: the parameters of its declaration.
    pub const fn inputs(&self) -> &'static [Param] {
        self.inputs
    }

    /// The type the workflow returns (inside `Result<_, flow_runtime::Error>`), or `None`
    /// for a workflow declared without a return type.
    pub const fn output(&self) -> Option<&'static str> {
        self.output
    }

    /// The index in [`nodes`](WorkflowGraph::nodes) of the node that provides the output.
    pub const fn output_node(&self) -> Option<usize> {
        self.output_node
    }

    /// The nodes, in the order the workflow lists them.
    pub const fn nodes(&self) -> &'static [&'static NodeInfo] {
        self.nodes
    }

    /// How node `node` (an index into [`nodes`](WorkflowGraph::nodes)) runs here.
    pub fn step(&self, node: usize) -> Step {
        self.steps
            .get(node)
            .copied()
            .unwrap_or(Step::__new(Shape::Once, false))
    }

    /// The options node `node` runs with in this workflow: its own
    /// ([`NodeInfo::traits`]) with what it takes from the workflow (see [`Step::traits`]).
    pub fn traits(&self, node: usize) -> NodeTraits {
        let step = self.step(node);
        match step.traits() {
            Some(t) => *t,
            None => *self.nodes[node].traits(),
        }
    }

    /// Every edge: one per node parameter.
    pub const fn edges(&self) -> &'static [Edge] {
        self.edges
    }

    /// The ordering edges, without data: each node that runs after another.
    pub const fn order_edges(&self) -> &'static [OrderEdge] {
        self.order
    }

    /// The edges into node `node` (an index into [`nodes`](WorkflowGraph::nodes)).
    pub fn edges_into(&self, node: usize) -> impl Iterator<Item = &'static Edge> + use<> {
        self.edges.iter().filter(move |e| e.to == node)
    }

    /// The type carried by an edge, as the consuming parameter writes it.
    pub fn edge_type(&self, edge: &Edge) -> &'static str {
        self.nodes[edge.to].inputs[edge.param].ty
    }

    /// The node at `index`, by name.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
}
