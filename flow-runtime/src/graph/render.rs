//! Mermaid and Graphviz DOT renderings of a [`WorkflowGraph`].

use std::fmt::Write as _;

use crate::WorkflowGraph;
use crate::graph::{Shape, Source};

impl WorkflowGraph {
    /// The graph as a Mermaid flowchart: workflow inputs as parallelograms, nodes as boxes,
    /// the output as a stadium, and every edge labelled with the type it carries.
    ///
    /// ```
    /// use flow_runtime::{node, workflow};
    /// pub struct Text(String);
    /// pub struct Words(usize);
    /// #[node]
    /// async fn count(text: &Text) -> Words { Words(text.0.split_whitespace().count()) }
    /// #[workflow(count)]
    /// async fn word_count(text: Text) -> Words;
    ///
    /// assert_eq!(
    ///     word_count::graph().to_mermaid(),
    ///     "flowchart LR\n\
    ///      \x20   in0[/\"text: Text\"/]\n\
    ///      \x20   n0[\"count\"]\n\
    ///      \x20   out([\"Words\"])\n\
    ///      \x20   in0 -- \"Text\" --> n0\n\
    ///      \x20   n0 -- \"Words\" --> out\n"
    /// );
    /// ```
    pub fn to_mermaid(&self) -> String {
        let mut s = String::from("flowchart LR\n");
        for (i, input) in self.inputs().iter().enumerate() {
            let label = format!("{}: {}", input.name(), input.ty());
            let _ = writeln!(s, "    in{i}[/\"{}\"/]", mermaid_escape(&label));
        }
        for i in 0..self.nodes().len() {
            let (open, close) = match (self.step(i).shape(), self.nodes()[i].traits()) {
                (Shape::Map { .. }, _) => ("[[", "]]"),
                (_, t) if t.is_optional() => ("{{", "}}"),
                _ => ("[", "]"),
            };
            let (name, detail) = self.label_parts(i);
            let mut label = mermaid_escape(&name);
            if !detail.is_empty() {
                label = format!("{label}<br/><small>{}</small>", mermaid_escape(&detail));
            }
            let _ = writeln!(s, "    n{i}{open}\"{label}\"{close}");
        }
        for (group, members) in self.races() {
            let _ = writeln!(s, "    subgraph race{group} [\"race\"]");
            for m in members {
                let _ = writeln!(s, "        n{m}");
            }
            s.push_str("    end\n");
        }
        for i in 0..self.nodes().len() {
            if self.step(i).may_skip() {
                let _ = writeln!(s, "    style n{i} stroke-dasharray: 5 3");
            }
        }
        if let Some(out) = self.output() {
            let _ = writeln!(s, "    out([\"{}\"])", mermaid_escape(out));
        }
        for edge in self.edges() {
            let from = endpoint(edge.from());
            let ty = mermaid_escape(self.edge_type(edge));
            let _ = writeln!(s, "    {from} -- \"{ty}\" --> n{}", edge.to());
        }
        for o in self.order_edges() {
            let _ = writeln!(s, "    n{} -. \"after\" .-> n{}", o.from(), o.to());
        }
        if let (Some(out), Some(node)) = (self.output(), self.output_node()) {
            let _ = writeln!(s, "    n{node} -- \"{}\" --> out", mermaid_escape(out));
        }
        s
    }

    /// The graph in Graphviz DOT: render it with `dot -Tsvg`.
    ///
    /// ```
    /// use flow_runtime::{node, workflow};
    /// pub struct Text(String);
    /// pub struct Words(usize);
    /// #[node]
    /// async fn count(text: &Text) -> Words { Words(text.0.split_whitespace().count()) }
    /// #[workflow(count)]
    /// async fn word_count(text: Text) -> Words;
    ///
    /// let dot = word_count::graph().to_dot();
    /// assert!(dot.starts_with("digraph \"word_count\" {\n"));
    /// assert!(dot.contains("    in0 -> n0 [label=\"Text\"];\n"));
    /// assert!(dot.contains("    n0 -> out [label=\"Words\"];\n"));
    /// ```
    pub fn to_dot(&self) -> String {
        let mut s = format!("digraph \"{}\" {{\n", dot_escape(self.name()));
        s.push_str("    rankdir=LR;\n    node [shape=box, fontname=\"Helvetica\"];\n");
        s.push_str("    edge [fontname=\"Helvetica\", fontsize=10];\n");
        for (i, input) in self.inputs().iter().enumerate() {
            let label = format!("{}: {}", input.name(), input.ty());
            let _ = writeln!(
                s,
                "    in{i} [label=\"{}\", shape=parallelogram];",
                dot_escape(&label)
            );
        }
        for i in 0..self.nodes().len() {
            let mut attrs = Vec::new();
            let traits = self.nodes()[i].traits();
            if let Shape::Map { .. } = self.step(i).shape() {
                attrs.push("peripheries=2");
            }
            if traits.is_optional() {
                attrs.push("shape=hexagon");
            } else if traits.is_workflow() {
                attrs.push("shape=component");
            }
            if self.step(i).may_skip() {
                attrs.push("style=dashed");
            }
            let extra: String = attrs.iter().map(|a| format!(", {a}")).collect();
            let (name, detail) = self.label_parts(i);
            let mut label = dot_escape(&name);
            if !detail.is_empty() {
                label = format!("{label}\\n{}", dot_escape(&detail));
            }
            let _ = writeln!(s, "    n{i} [label=\"{label}\"{extra}];");
        }
        for (group, members) in self.races() {
            let _ = writeln!(
                s,
                "    subgraph cluster_race{group} {{ label=\"race\"; style=dashed; {} }}",
                members
                    .iter()
                    .map(|m| format!("n{m};"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        if let Some(out) = self.output() {
            let _ = writeln!(s, "    out [label=\"{}\", shape=oval];", dot_escape(out));
        }
        for edge in self.edges() {
            let from = endpoint(edge.from());
            let ty = dot_escape(self.edge_type(edge));
            let _ = writeln!(s, "    {from} -> n{} [label=\"{ty}\"];", edge.to());
        }
        for o in self.order_edges() {
            let _ = writeln!(
                s,
                "    n{} -> n{} [label=\"after\", style=dashed];",
                o.from(),
                o.to()
            );
        }
        if let (Some(out), Some(node)) = (self.output(), self.output_node()) {
            let _ = writeln!(s, "    n{node} -> out [label=\"{}\"];", dot_escape(out));
        }
        s.push_str("}\n");
        s
    }
}

impl WorkflowGraph {
    /// A node's label for pictures: its name, and a line on its shape and options (empty if
    /// it has none).
    pub(crate) fn label_parts(&self, i: usize) -> (String, String) {
        let node = self.nodes()[i];
        let mut detail = Vec::new();
        if let Shape::Map { concurrency, .. } = self.step(i).shape() {
            detail.push(match concurrency {
                Some(c) => format!("map, ≤{c} at once"),
                None => "map".to_string(),
            });
        }
        let traits = self.traits(i);
        if traits.is_workflow() {
            detail.push("workflow".to_string());
        }
        let summary = traits.summary();
        if !summary.is_empty() {
            detail.push(summary);
        }
        let name = if node.traits().is_optional() {
            format!("{} ?", node.name())
        } else {
            node.name().to_string()
        };
        (name, detail.join(", "))
    }

    /// The races: each group's number and its members, in order.
    fn races(&self) -> Vec<(usize, Vec<usize>)> {
        let mut races: Vec<(usize, Vec<usize>)> = Vec::new();
        for i in 0..self.nodes().len() {
            if let Shape::Race { group } = self.step(i).shape() {
                match races.iter_mut().find(|(g, _)| *g == group) {
                    Some((_, members)) => members.push(i),
                    None => races.push((group, vec![i])),
                }
            }
        }
        races
    }
}

fn endpoint(source: Source) -> String {
    match source {
        Source::Input(i) => format!("in{i}"),
        Source::Node(i) => format!("n{i}"),
    }
}

/// A label's text for Mermaid. Angle brackets become `‹` and `›`: Mermaid drops `<Page>`
/// as an unknown HTML tag, and its entity codes (`#60;`) are drawn literally by renderers
/// without HTML labels, so `&Vec<Page>` reads `&Vec‹Page›` wherever it is drawn. A quote
/// and `#` (which starts an entity code) are entity codes, the only way Mermaid has.
fn mermaid_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push('‹'),
            '>' => out.push('›'),
            '#' => out.push_str("#35;"),
            _ => out.push(c),
        }
    }
    out
}

fn dot_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(mermaid_escape("Vec<\"a\">#"), "Vec‹#quot;a#quot;›#35;");
        assert_eq!(mermaid_escape("&Vec<Page>"), "&Vec‹Page›");
        assert_eq!(dot_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
