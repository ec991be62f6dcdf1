//! Static descriptions of nodes and workflows, built at compile time.

use std::fmt;

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
    ) -> Self {
        NodeInfo {
            name,
            fn_name,
            location,
            inputs,
            output,
            returns,
            fallible,
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
}

/// Where a node's input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    edges: &'static [Edge],
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
        edges: &'static [Edge],
    ) -> Self {
        WorkflowGraph {
            name,
            fn_name,
            location,
            inputs,
            output,
            output_node,
            nodes,
            edges,
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

    /// Every edge: one per node parameter.
    pub const fn edges(&self) -> &'static [Edge] {
        self.edges
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
