//! Standalone SVG pictures: a workflow's graph, and a run's timeline. Plain SVG 1.1 with
//! inline styles: any browser shows them, nothing to install.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::graph::{Shape, Source};
use crate::{AttemptReport, ErrorKind, NodeOutcome, NodeReport, RunReport, WorkflowGraph};

const FONT: &str = "font-family=\"Helvetica, Arial, sans-serif\"";
/// Width of one character at 13 px, roughly, for sizing boxes.
const CHAR: f64 = 7.4;

impl WorkflowGraph {
    /// The graph as a standalone SVG picture, laid out left to right in layers (a node one
    /// column right of its last dependency): inputs as parallelograms, nodes as boxes,
    /// the output as a pill, edges labelled with their types. A mapped node is a stack of
    /// boxes (with its bound), race members share a dashed frame, a node that may return
    /// `None` is marked `?`, a node that may be skipped has a dashed border, a sub-workflow
    /// has a double border, and node options are written under the name.
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
    /// let svg = word_count::graph().to_svg();
    /// assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    /// assert!(svg.contains(">count</text>"));
    /// ```
    pub fn to_svg(&self) -> String {
        GraphPicture::new(self).render()
    }
}

/// A box in the graph picture.
struct Item {
    label: String,
    detail: String,
    layer: usize,
    kind: ItemKind,
    x: f64,
    y: f64,
    w: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum ItemKind {
    Input,
    Node(usize),
    Output,
}

struct GraphPicture<'g> {
    graph: &'g WorkflowGraph,
    items: Vec<Item>,
    /// (from item, to item, label, dashed: an ordering edge without data)
    links: Vec<(usize, usize, String, bool)>,
    /// Per link, the points it runs through: out of its source's column, across each gap
    /// between columns, through a free slot of every column it passes, into its target.
    routes: Vec<Vec<(f64, f64)>>,
    /// Per column, its left and right edge.
    columns: Vec<(f64, f64)>,
}

/// What holds a place in a column: a box, or a link passing through the column.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Slot {
    Item(usize),
    /// Link `link` passing through this column.
    Pass(usize),
}

/// The height a passing link takes in its column.
const PASS_H: f64 = 12.0;

const BOX_H: f64 = 46.0;
const ROW_GAP: f64 = 34.0;
const COL_GAP: f64 = 90.0;
const MARGIN: f64 = 24.0;

impl<'g> GraphPicture<'g> {
    fn new(graph: &'g WorkflowGraph) -> Self {
        let inputs = graph.inputs().len();
        let n = graph.nodes().len();
        let mut items = Vec::new();
        for input in graph.inputs() {
            items.push(Item {
                label: format!("{}: {}", input.name(), input.ty()),
                detail: String::new(),
                layer: 0,
                kind: ItemKind::Input,
                x: 0.0,
                y: 0.0,
                w: 0.0,
            });
        }
        // Layers: one right of the latest dependency; nodes with no inputs from nodes sit
        // in the first node column.
        let mut layer = vec![usize::MAX; n];
        let mut done = false;
        let mut rounds = 0;
        while !done && rounds <= n {
            done = true;
            rounds += 1;
            for i in 0..n {
                let mut l = 1;
                let sources = graph
                    .edges_into(i)
                    .filter_map(|e| match e.from() {
                        Source::Node(p) => Some(p),
                        Source::Input(_) => None,
                    })
                    .chain(
                        graph
                            .order_edges()
                            .iter()
                            .filter(|o| o.to() == i)
                            .map(|o| o.from()),
                    );
                for p in sources {
                    if layer[p] == usize::MAX {
                        l = usize::MAX;
                        break;
                    }
                    l = l.max(layer[p] + 1);
                }
                if l != usize::MAX && layer[i] != l {
                    layer[i] = l;
                    done = false;
                }
            }
        }
        for (i, &l) in layer.iter().enumerate() {
            let (label, detail) = graph.label_parts(i);
            items.push(Item {
                label,
                detail,
                layer: if l == usize::MAX { 1 } else { l },
                kind: ItemKind::Node(i),
                x: 0.0,
                y: 0.0,
                w: 0.0,
            });
        }
        let mut links = Vec::new();
        for edge in graph.edges() {
            let from = match edge.from() {
                Source::Input(k) => k,
                Source::Node(k) => inputs + k,
            };
            links.push((
                from,
                inputs + edge.to(),
                graph.edge_type(edge).to_string(),
                false,
            ));
        }
        for o in graph.order_edges() {
            links.push((
                inputs + o.from(),
                inputs + o.to(),
                "after".to_string(),
                true,
            ));
        }
        if let Some(out) = graph.output() {
            let last = items.iter().map(|i| i.layer).max().unwrap_or(0);
            items.push(Item {
                label: out.to_string(),
                detail: String::new(),
                layer: last + 1,
                kind: ItemKind::Output,
                x: 0.0,
                y: 0.0,
                w: 0.0,
            });
            if let Some(node) = graph.output_node() {
                links.push((inputs + node, items.len() - 1, out.to_string(), false));
            }
        }
        let mut picture = GraphPicture {
            graph,
            items,
            links,
            routes: Vec::new(),
            columns: Vec::new(),
        };
        picture.place();
        picture
    }

    /// Sizes the boxes and places them in layered columns (Sugiyama's method): a link
    /// that spans several columns takes a slot in each column it passes, so that it never
    /// runs behind a box; the slots of each column are ordered by the mean place of their
    /// neighbours, sweeping right and left, to keep crossings few; each gap between columns
    /// is as wide as the labels that start in it.
    fn place(&mut self) {
        for item in &mut self.items {
            let chars = item
                .label
                .chars()
                .count()
                .max(item.detail.chars().count() * 10 / 13);
            item.w = (chars as f64 * CHAR + 28.0).max(90.0);
        }
        let layers = self.items.iter().map(|i| i.layer).max().unwrap_or(0) + 1;
        // The slots of each column, and each link's chain of slots.
        let mut columns: Vec<Vec<Slot>> = vec![Vec::new(); layers];
        for (k, item) in self.items.iter().enumerate() {
            columns[item.layer].push(Slot::Item(k));
        }
        for (l, (from, to, _, _)) in self.links.iter().enumerate() {
            let (a, b) = (self.items[*from].layer, self.items[*to].layer);
            for column in columns.iter_mut().take(b).skip(a + 1) {
                column.push(Slot::Pass(l));
            }
        }
        // A slot's neighbours in the column before and after.
        // Where link `l` is in column `c`: its source's box, its target's, or a passing slot.
        let slot_at = |l: usize, c: usize| -> Option<Slot> {
            let (from, to, _, _) = &self.links[l];
            let (a, b) = (self.items[*from].layer, self.items[*to].layer);
            match c {
                _ if c == a => Some(Slot::Item(*from)),
                _ if c == b => Some(Slot::Item(*to)),
                _ if a < c && c < b => Some(Slot::Pass(l)),
                _ => None,
            }
        };
        let neighbours = |slot: Slot, column: usize, before: bool| -> Vec<Slot> {
            let Some(other) = (if before {
                column.checked_sub(1)
            } else {
                Some(column + 1)
            }) else {
                return Vec::new();
            };
            (0..self.links.len())
                .filter(|&l| slot_at(l, column) == Some(slot))
                .filter_map(|l| slot_at(l, other))
                .collect()
        };
        for sweep in 0..8 {
            let down = sweep % 2 == 0;
            let order: Vec<usize> = if down {
                (1..layers).collect()
            } else {
                (0..layers.saturating_sub(1)).rev().collect()
            };
            for c in order {
                let side = if down { c - 1 } else { c + 1 };
                let place: HashMap<Slot, usize> = columns[side]
                    .iter()
                    .enumerate()
                    .map(|(r, &slot)| (slot, r))
                    .collect();
                let mut keyed: Vec<(f64, usize, Slot)> = columns[c]
                    .iter()
                    .enumerate()
                    .map(|(r, &slot)| {
                        let near: Vec<f64> = neighbours(slot, c, down)
                            .into_iter()
                            .filter_map(|n| place.get(&n).map(|&p| p as f64))
                            .collect();
                        let key = if near.is_empty() {
                            r as f64
                        } else {
                            near.iter().sum::<f64>() / near.len() as f64
                        };
                        (key, r, slot)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                columns[c] = keyed.into_iter().map(|(_, _, slot)| slot).collect();
            }
        }
        // Heights: a column's slots stacked, every column centred on the tallest.
        let slot_h = |slot: Slot| match slot {
            Slot::Item(_) => BOX_H,
            Slot::Pass(_) => PASS_H,
        };
        let column_h =
            |column: &Vec<Slot>| column.iter().map(|&s| slot_h(s) + ROW_GAP).sum::<f64>();
        let tallest = columns.iter().map(column_h).fold(0.0, f64::max);
        let mut centre: HashMap<(Slot, usize), f64> = HashMap::new();
        let mut bounds = Vec::new();
        let mut x = MARGIN;
        for (c, column) in columns.iter().enumerate() {
            let w = column
                .iter()
                .filter_map(|s| match s {
                    Slot::Item(k) => Some(self.items[*k].w + self.shadow(*k)),
                    Slot::Pass(_) => None,
                })
                .fold(0.0, f64::max);
            let mut y = MARGIN + 40.0 + (tallest - column_h(column)) / 2.0;
            for &slot in column {
                let h = slot_h(slot);
                if let Slot::Item(k) = slot {
                    let shadow = self.shadow(k);
                    let item = &mut self.items[k];
                    item.x = x + (w - item.w - shadow) / 2.0;
                    item.y = y;
                }
                centre.insert((slot, c), y + h / 2.0);
                y += h + ROW_GAP;
            }
            bounds.push((x, x + w));
            // The gap after this column: room for the labels that start in it.
            let widest = self
                .labels()
                .iter()
                .filter(|l| self.items[l.0].layer == c)
                .map(|l| label_w(&l.1))
                .fold(0.0, f64::max);
            x += w + COL_GAP.max(widest + 36.0);
        }
        // Routes: out of the source's column at its height, through each passed column at
        // its slot's height, into the target.
        let mut routes = Vec::new();
        for (l, (from, to, _, _)) in self.links.iter().enumerate() {
            let (a, b) = (self.items[*from].layer, self.items[*to].layer);
            let src = &self.items[*from];
            let sy = centre[&(Slot::Item(*from), a)];
            let mut points = vec![(src.x + src.w + self.shadow(*from), sy), (bounds[a].1, sy)];
            for (c, bound) in bounds.iter().enumerate().take(b).skip(a + 1) {
                let py = centre[&(Slot::Pass(l), c)];
                points.push((bound.0, py));
                points.push((bound.1, py));
            }
            let dst = &self.items[*to];
            let dy = centre[&(Slot::Item(*to), b)];
            points.push((bounds[b].0, dy));
            points.push((dst.x, dy));
            routes.push(points);
        }
        self.routes = routes;
        self.columns = bounds;
    }

    /// How far right a box's drawing reaches past its width: a mapped node's stack.
    fn shadow(&self, k: usize) -> f64 {
        match self.items[k].kind {
            ItemKind::Node(i) if matches!(self.graph.step(i).shape(), Shape::Map { .. }) => 8.0,
            _ => 0.0,
        }
    }

    /// Each distinct label a box's links carry: (box, label, its place among the box's
    /// labels). One label for a fan-out of one type; stacked ones for a tuple's elements.
    fn labels(&self) -> Vec<(usize, String, usize)> {
        let mut out: Vec<(usize, String, usize)> = Vec::new();
        for (from, _, label, _) in &self.links {
            if out.iter().any(|(f, l, _)| f == from && l == label) {
                continue;
            }
            let place = out.iter().filter(|(f, _, _)| f == from).count();
            out.push((*from, label.clone(), place));
        }
        out
    }

    fn render(&self) -> String {
        let width = self.items.iter().map(|i| i.x + i.w).fold(300.0, f64::max) + MARGIN;
        let height = self.items.iter().map(|i| i.y + BOX_H).fold(120.0, f64::max) + MARGIN + 40.0;
        let mut s = svg_open(width, height);
        s.push_str(
            "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
             markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
             <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n",
        );
        let _ = writeln!(
            s,
            "<text x=\"{MARGIN}\" y=\"{}\" {FONT} font-size=\"16\" font-weight=\"bold\" fill=\"#222\">workflow {}</text>",
            MARGIN + 8.0,
            xml(self.graph.name())
        );
        self.render_races(&mut s);
        for (k, item) in self.items.iter().enumerate() {
            self.render_item(&mut s, k, item);
        }
        // Links after the boxes, so that nothing is drawn over them: straight through the
        // columns, curved across the gaps (a curve with level ends stays inside its gap).
        for ((from, to, _, dashed), route) in self.links.iter().zip(&self.routes) {
            let dash = if *dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            };
            let mut d = format!("M {:.1} {:.1}", route[0].0, route[0].1);
            for pair in route.windows(2) {
                let ((x1, y1), (x2, y2)) = (pair[0], pair[1]);
                if (y1 - y2).abs() < 0.05 {
                    let _ = write!(d, " L {x2:.1} {y2:.1}");
                } else {
                    let mid = (x1 + x2) / 2.0;
                    let _ = write!(d, " C {mid:.1} {y1:.1}, {mid:.1} {y2:.1}, {x2:.1} {y2:.1}");
                }
            }
            let _ = writeln!(
                s,
                "<path class=\"edge\" data-from=\"{from}\" data-to=\"{to}\" d=\"{d}\" fill=\"none\" stroke=\"#777\" stroke-width=\"1.4\"{dash} marker-end=\"url(#arrow)\"/>"
            );
        }
        // Labels in the gap right of their source, above the links they name.
        for (from, label, place) in self.labels() {
            let item = &self.items[from];
            let layer = item.layer;
            let x = self.columns[layer].1 + 6.0;
            let y = item.y + BOX_H / 2.0 - 5.0 - place as f64 * 13.0;
            let _ = writeln!(
                s,
                "<text class=\"label\" data-from=\"{from}\" data-w=\"{:.1}\" x=\"{x:.1}\" y=\"{y:.1}\" {FONT} font-size=\"11\" fill=\"#555\">{}</text>",
                label_w(&label),
                xml(&label)
            );
        }
        s.push_str("</svg>\n");
        s
    }

    /// A dashed frame around the members of each race.
    fn render_races(&self, s: &mut String) {
        let mut groups: HashMap<usize, Vec<&Item>> = HashMap::new();
        for item in &self.items {
            if let ItemKind::Node(i) = item.kind
                && let Shape::Race { group } = self.graph.step(i).shape()
            {
                groups.entry(group).or_default().push(item);
            }
        }
        let mut groups: Vec<_> = groups.into_iter().collect();
        groups.sort_by_key(|(g, _)| *g);
        for (_, members) in groups {
            let x0 = members.iter().map(|i| i.x).fold(f64::MAX, f64::min) - 10.0;
            let y0 = members.iter().map(|i| i.y).fold(f64::MAX, f64::min) - 20.0;
            let x1 = members.iter().map(|i| i.x + i.w).fold(0.0, f64::max) + 10.0;
            let y1 = members.iter().map(|i| i.y + BOX_H).fold(0.0, f64::max) + 10.0;
            let _ = writeln!(
                s,
                "<rect x=\"{x0:.1}\" y=\"{y0:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"8\" fill=\"#fff7e0\" \
                 stroke=\"#c99a2e\" stroke-dasharray=\"6 4\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"11\" fill=\"#8a6510\">race: first to succeed wins</text>",
                x1 - x0,
                y1 - y0,
                x0 + 6.0,
                y0 + 13.0
            );
        }
    }

    fn render_item(&self, s: &mut String, k: usize, item: &Item) {
        let (x, y, w, h) = (item.x, item.y, item.w, BOX_H);
        let cx = x + w / 2.0;
        match item.kind {
            ItemKind::Input => {
                let _ = writeln!(
                    s,
                    "<polygon class=\"box\" data-item=\"{k}\" points=\"{:.1},{y:.1} {:.1},{y:.1} {:.1},{:.1} {x:.1},{:.1}\" fill=\"#eef3fb\" stroke=\"#5b7db1\" stroke-width=\"1.3\"/>",
                    x + 10.0,
                    x + w,
                    x + w - 10.0,
                    y + h,
                    y + h
                );
            }
            ItemKind::Output => {
                let _ = writeln!(
                    s,
                    "<rect class=\"box\" data-item=\"{k}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"{:.1}\" fill=\"#eef7ee\" stroke=\"#3c8d4f\" stroke-width=\"1.3\"/>",
                    h / 2.0
                );
            }
            ItemKind::Node(i) => {
                let node = self.graph.nodes()[i];
                let step = self.graph.step(i);
                if let Shape::Map { .. } = step.shape() {
                    for off in [8.0, 4.0] {
                        let _ = writeln!(
                            s,
                            "<rect class=\"box\" data-item=\"{k}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"6\" fill=\"#fff\" stroke=\"#6d6d9c\" stroke-width=\"1.1\"/>",
                            x + off,
                            y - off
                        );
                    }
                }
                let dash = if step.may_skip() {
                    " stroke-dasharray=\"5 3\""
                } else {
                    ""
                };
                let _ = writeln!(
                    s,
                    "<rect class=\"box\" data-item=\"{k}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"6\" fill=\"#f4f4fb\" stroke=\"#6d6d9c\" stroke-width=\"1.5\"{dash}/>"
                );
                if node.traits().is_workflow() {
                    let _ = writeln!(
                        s,
                        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"4\" fill=\"none\" stroke=\"#6d6d9c\" stroke-width=\"1\"/>",
                        x + 3.0,
                        y + 3.0,
                        w - 6.0,
                        h - 6.0
                    );
                }
                let _ = writeln!(
                    s,
                    "<title>{} ({}) at {}</title>",
                    xml(node.name()),
                    xml(node.returns()),
                    xml(&node.location().to_string())
                );
            }
        }
        let label_y = if item.detail.is_empty() {
            y + h / 2.0 + 4.5
        } else {
            y + h / 2.0 - 2.0
        };
        let weight = if matches!(item.kind, ItemKind::Node(_)) {
            "bold"
        } else {
            "normal"
        };
        let _ = writeln!(
            s,
            "<text x=\"{cx:.1}\" y=\"{label_y:.1}\" {FONT} font-size=\"13\" font-weight=\"{weight}\" fill=\"#222\" text-anchor=\"middle\">{}</text>",
            xml(&item.label)
        );
        if !item.detail.is_empty() {
            let _ = writeln!(
                s,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" {FONT} font-size=\"10\" fill=\"#666\" text-anchor=\"middle\">{}</text>",
                y + h / 2.0 + 12.0,
                xml(&item.detail)
            );
        }
    }
}

impl RunReport {
    /// The run as a standalone SVG timeline: one lane per node (elements of a mapped node
    /// packed into rows of its lane), one bar per attempt coloured by its outcome, dashes
    /// for retry backoffs, a marker where a node was skipped; the critical path outlined
    /// and named; under the lanes, how many nodes were in flight over time. Pass the
    /// workflow's `graph` to order lanes as the workflow lists its nodes and to find the
    /// critical path along its edges (see [`critical_path`](Self::critical_path)).
    ///
    /// ```
    /// use flow_runtime::events::Recorder;
    /// use flow_runtime::{node, workflow, RunOptions};
    /// pub struct Text(String);
    /// pub struct Words(usize);
    /// #[node]
    /// async fn count(text: &Text) -> Words { Words(text.0.split_whitespace().count()) }
    /// #[workflow(count)]
    /// async fn word_count(text: Text) -> Words;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), flow_runtime::Error> {
    /// let recorder = Recorder::new();
    /// word_count::run(RunOptions::new().observe(recorder.clone()), Text("a b".into())).await?;
    /// let svg = recorder.report().to_svg(Some(word_count::graph()));
    /// assert!(svg.contains(">count</text>"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_svg(&self, graph: Option<&WorkflowGraph>) -> String {
        Timeline::new(self, graph).render()
    }
}

const LABEL_W: f64 = 170.0;
const CHART_W: f64 = 760.0;
const ROW_H: f64 = 18.0;
const LANE_PAD: f64 = 6.0;
const MAX_ROWS: usize = 16;

fn colour(outcome: NodeOutcome) -> &'static str {
    match outcome {
        NodeOutcome::Finished => "#2e9d5b",
        NodeOutcome::Failed => "#d64545",
        NodeOutcome::Cancelled => "#9a9a9a",
        NodeOutcome::Running => "#3d7fd1",
        NodeOutcome::Skipped => "#c7c7c7",
    }
}

/// How a bar is drawn: the colours of the legend, one per kind of end.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Paint {
    Outcome(NodeOutcome),
    /// An attempt that ran out of its time.
    TimedOut,
    /// A failure the run went on without (`continue_on_error`).
    Tolerated,
}

impl Paint {
    fn fill(self) -> &'static str {
        match self {
            Paint::Outcome(o) => colour(o),
            Paint::TimedOut => "#e08a1e",
            Paint::Tolerated => "#f0b4b4",
        }
    }

    /// Extra attributes: a tolerated failure is outlined in the failure's colour.
    fn outline(self) -> &'static str {
        match self {
            Paint::Tolerated => " stroke=\"#d64545\" stroke-dasharray=\"3 2\"",
            _ => "",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Paint::Outcome(o) => o.name(),
            Paint::TimedOut => "timed out",
            Paint::Tolerated => "tolerated failure",
        }
    }
}

/// One lane: a node's name and its reports (one, or one per element), packed into rows.
struct Lane {
    name: String,
    reports: Vec<usize>,
    row_of: Vec<usize>,
    rows: usize,
}

struct Timeline<'r> {
    report: &'r RunReport,
    lanes: Vec<Lane>,
    critical: Vec<usize>,
    end: Duration,
}

impl<'r> Timeline<'r> {
    fn new(report: &'r RunReport, graph: Option<&WorkflowGraph>) -> Self {
        let mut order: Vec<String> = Vec::new();
        if let Some(graph) = graph {
            order.extend(graph.nodes().iter().map(|n| n.name().to_string()));
        }
        for n in &report.nodes {
            if !order.contains(&n.node) {
                order.push(n.node.clone());
            }
        }
        let end = report.end().max(Duration::from_micros(1));
        let mut lanes = Vec::new();
        for name in order {
            let mut reports: Vec<usize> = (0..report.nodes.len())
                .filter(|&k| report.nodes[k].node == name)
                .collect();
            // A node of the graph that never started (the run ended first) keeps its lane.
            reports.sort_by_key(|&k| (report.nodes[k].start, report.nodes[k].element));
            // Greedy interval packing: each report takes the first row free at its start.
            let mut row_end: Vec<Duration> = Vec::new();
            let mut row_of = Vec::new();
            for &k in &reports {
                let n = &report.nodes[k];
                let start = n.start.or(n.end).unwrap_or_default();
                let stop = n.end.unwrap_or(end);
                let row = match row_end.iter().position(|&e| e <= start) {
                    Some(r) => r,
                    None => {
                        row_end.push(Duration::ZERO);
                        row_end.len() - 1
                    }
                };
                row_end[row] = stop.max(start + Duration::from_nanos(1));
                row_of.push(row);
            }
            lanes.push(Lane {
                name,
                reports,
                rows: row_end.len().max(1),
                row_of,
            });
        }
        Timeline {
            report,
            lanes,
            critical: report.critical_path(graph),
            end,
        }
    }

    fn x(&self, t: Duration) -> f64 {
        MARGIN + LABEL_W + t.as_secs_f64() / self.end.as_secs_f64() * CHART_W
    }

    fn render(&self) -> String {
        let report = self.report;
        let lane_h = |lane: &Lane| lane.rows.min(MAX_ROWS) as f64 * ROW_H + 2.0 * LANE_PAD;
        let top = MARGIN + 70.0;
        let lanes_h: f64 = self.lanes.iter().map(lane_h).sum();
        let flight_h = 60.0;
        let height = top + lanes_h + 40.0 + flight_h + 70.0;
        let width = MARGIN * 2.0 + LABEL_W + CHART_W + 20.0;
        let mut s = svg_open(width, height);
        // Header.
        let outcome = match report.outcome {
            Some(o) => format!("{o:?}").to_lowercase(),
            None => "running".to_string(),
        };
        let run_id = report
            .run_id
            .as_ref()
            .map_or(String::new(), |r| format!(" · {r}"));
        let _ = writeln!(
            s,
            "<text x=\"{MARGIN}\" y=\"{:.1}\" {FONT} font-size=\"16\" font-weight=\"bold\" fill=\"#222\">{}{} · {} · {}</text>",
            MARGIN + 8.0,
            xml(&report.workflow),
            xml(&run_id),
            outcome,
            fmt_duration(report.end())
        );
        let path: Vec<String> = self
            .critical
            .iter()
            .map(|&k| report.nodes[k].label())
            .collect();
        let _ = writeln!(
            s,
            "<text x=\"{MARGIN}\" y=\"{:.1}\" {FONT} font-size=\"12\" fill=\"#444\">critical path: {} · at most {} in flight</text>",
            MARGIN + 28.0,
            xml(&path.join(" → ")),
            report.max_parallelism()
        );
        if let Some(error) = &report.error {
            let _ = writeln!(
                s,
                "<text x=\"{MARGIN}\" y=\"{:.1}\" {FONT} font-size=\"12\" fill=\"#b02a2a\">{}</text>",
                MARGIN + 46.0,
                xml(&truncate(error, 140))
            );
        }
        // Time grid.
        let step = tick_step(self.end);
        let bottom = top + lanes_h;
        let mut t = Duration::ZERO;
        while t <= self.end {
            let x = self.x(t);
            let _ = writeln!(
                s,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#e4e4e4\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" {FONT} font-size=\"10\" fill=\"#777\" text-anchor=\"middle\">{}</text>",
                top - 4.0,
                top - 8.0,
                fmt_duration(t)
            );
            t += step;
        }
        // Lanes.
        let mut y = top;
        for (l, lane) in self.lanes.iter().enumerate() {
            let h = lane_h(lane);
            if l % 2 == 1 {
                let _ = writeln!(
                    s,
                    "<rect x=\"{MARGIN}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#f7f7f9\"/>",
                    LABEL_W + CHART_W
                );
            }
            let label = if lane.reports.len() > 1 {
                format!("{} ×{}", lane.name, lane.reports.len())
            } else {
                lane.name.clone()
            };
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"12\" fill=\"#222\">{}</text>",
                MARGIN + 4.0,
                y + LANE_PAD + ROW_H / 2.0 + 4.0,
                xml(&truncate(&label, 24))
            );
            if lane.reports.is_empty() {
                let _ = writeln!(
                    s,
                    "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"10\" fill=\"#999\" font-style=\"italic\">never started: the run ended first</text>",
                    self.x(Duration::ZERO) + 4.0,
                    y + LANE_PAD + ROW_H / 2.0 + 3.0
                );
            }
            let row_h = (h - 2.0 * LANE_PAD) / lane.rows.max(1) as f64;
            for (j, &k) in lane.reports.iter().enumerate() {
                let ry = y + LANE_PAD + lane.row_of[j] as f64 * row_h;
                self.render_node(&mut s, k, ry, row_h);
            }
            y += h;
        }
        self.render_critical_links(&mut s, top);
        // In flight.
        let fy = bottom + 30.0;
        self.render_in_flight(&mut s, fy, flight_h);
        // Legend: what the picture shows (no "running" for a finished run).
        let ly = fy + flight_h + 30.0;
        let mut lx = MARGIN + LABEL_W;
        for paint in self.paints_shown() {
            let _ = writeln!(
                s,
                "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"14\" height=\"10\" fill=\"{}\"{}/>\
                 <text x=\"{:.1}\" y=\"{ly:.1}\" {FONT} font-size=\"11\" fill=\"#444\">{}</text>",
                ly - 9.0,
                paint.fill(),
                paint.outline(),
                lx + 18.0,
                paint.name()
            );
            lx += 18.0 + 7.0 * paint.name().len() as f64 + 16.0;
        }
        let _ = writeln!(
            s,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"14\" height=\"10\" fill=\"#fff\" stroke=\"#111\" stroke-width=\"2\"/>\
             <text x=\"{:.1}\" y=\"{ly:.1}\" {FONT} font-size=\"11\" fill=\"#444\">critical path</text>",
            ly - 9.0,
            lx + 18.0
        );
        s.push_str("</svg>\n");
        s
    }

    fn render_node(&self, s: &mut String, k: usize, y: f64, h: f64) {
        let n = &self.report.nodes[k];
        let critical = self.critical.contains(&k);
        let bar_h = (h - 3.0).max(2.0);
        if n.outcome == NodeOutcome::Skipped {
            let x = self.x(n.end.unwrap_or_default());
            let _ = writeln!(
                s,
                "<g><title>{} skipped at {}</title><rect x=\"{:.1}\" y=\"{y:.1}\" width=\"10\" height=\"{bar_h:.1}\" fill=\"{}\" stroke=\"#888\" stroke-dasharray=\"2 2\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"10\" fill=\"#777\">skipped</text></g>",
                xml(&n.label()),
                fmt_duration(n.end.unwrap_or_default()),
                x - 5.0,
                colour(NodeOutcome::Skipped),
                x + 8.0,
                y + bar_h - 3.0
            );
            return;
        }
        let mut previous_end = None;
        for a in &n.attempts {
            if let Some(prev) = previous_end {
                let _ = writeln!(
                    s,
                    "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#d64545\" stroke-dasharray=\"3 3\"/>",
                    self.x(prev),
                    y + bar_h / 2.0,
                    self.x(a.start),
                    y + bar_h / 2.0
                );
            }
            let end = a.end.unwrap_or(self.end);
            let x0 = self.x(a.start);
            // Bars of consecutive elements that touch keep a gap between them.
            let w = (self.x(end) - x0 - 1.0).max(1.5);
            let last = a.number == n.attempts.last().map_or(0, |l| l.number);
            let paint = self.paint(n, a, last);
            let stroke = if critical {
                " stroke=\"#111\" stroke-width=\"2\""
            } else {
                paint.outline()
            };
            let why = match &a.error {
                Some(e) => format!(": {}", e),
                None => String::new(),
            };
            let _ = writeln!(
                s,
                "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bar_h:.1}\" rx=\"2\" fill=\"{}\"{stroke}>\
                 <title>{} attempt {}: {} to {}, {}{}</title></rect>",
                paint.fill(),
                xml(&n.label()),
                a.number,
                fmt_duration(a.start),
                fmt_duration(end),
                paint.name(),
                xml(&why)
            );
            previous_end = Some(end);
        }
        // A mapped element is named on its bar, so one named elsewhere (on the critical
        // path, say) can be found.
        if let (Some(i), Some(start)) = (n.element, n.start) {
            let end = n.end.unwrap_or(self.end);
            let width = self.x(end) - self.x(start);
            let text = format!("[{i}]");
            if width >= 6.0 * text.len() as f64 + 4.0 && bar_h >= 9.0 {
                let _ = writeln!(
                    s,
                    "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"9\" fill=\"#fff\" pointer-events=\"none\">{text}</text>",
                    self.x(start) + 2.0,
                    y + bar_h / 2.0 + 3.0
                );
            }
        }
    }

    /// How attempt `a` of `n` is drawn: a timeout, a tolerated failure (the last attempt
    /// of a node whose failure did not end the run) or its outcome.
    fn paint(&self, n: &NodeReport, a: &AttemptReport, last: bool) -> Paint {
        if a.outcome != NodeOutcome::Failed {
            return Paint::Outcome(a.outcome);
        }
        if last && n.tolerated {
            Paint::Tolerated
        } else if a.error_kind == Some(ErrorKind::NodeTimedOut) {
            Paint::TimedOut
        } else {
            Paint::Outcome(NodeOutcome::Failed)
        }
    }

    /// The kinds of bar the picture has, in the legend's order.
    fn paints_shown(&self) -> Vec<Paint> {
        let mut shown = Vec::new();
        for n in &self.report.nodes {
            if n.outcome == NodeOutcome::Skipped {
                shown.push(Paint::Outcome(NodeOutcome::Skipped));
            }
            let last = n.attempts.last().map_or(0, |l| l.number);
            for a in &n.attempts {
                shown.push(self.paint(n, a, a.number == last));
            }
        }
        [
            Paint::Outcome(NodeOutcome::Finished),
            Paint::Outcome(NodeOutcome::Failed),
            Paint::TimedOut,
            Paint::Tolerated,
            Paint::Outcome(NodeOutcome::Cancelled),
            Paint::Outcome(NodeOutcome::Running),
            Paint::Outcome(NodeOutcome::Skipped),
        ]
        .into_iter()
        .filter(|p| shown.contains(p))
        .collect()
    }

    /// Lines from each critical node's end to the next one's start.
    fn render_critical_links(&self, s: &mut String, top: f64) {
        let mut centre: HashMap<usize, f64> = HashMap::new();
        let mut y = top;
        for lane in &self.lanes {
            let h = lane.rows.min(MAX_ROWS) as f64 * ROW_H + 2.0 * LANE_PAD;
            let row_h = (h - 2.0 * LANE_PAD) / lane.rows.max(1) as f64;
            for (j, &k) in lane.reports.iter().enumerate() {
                centre.insert(
                    k,
                    y + LANE_PAD + lane.row_of[j] as f64 * row_h + (row_h - 3.0) / 2.0,
                );
            }
            y += h;
        }
        for pair in self.critical.windows(2) {
            let (a, b) = (&self.report.nodes[pair[0]], &self.report.nodes[pair[1]]);
            let (Some(end), Some(start)) = (a.end, b.start) else {
                continue;
            };
            let _ = writeln!(
                s,
                "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#111\" stroke-width=\"1.2\" stroke-dasharray=\"4 2\"/>",
                self.x(end),
                centre[&pair[0]],
                self.x(start),
                centre[&pair[1]]
            );
        }
    }

    /// A step chart of how many nodes were in flight.
    fn render_in_flight(&self, s: &mut String, y: f64, h: f64) {
        let max = self.report.max_parallelism().max(1) as f64;
        let base = y + h;
        let mut d = format!("M {:.1} {base:.1}", self.x(Duration::ZERO));
        let mut before = 0;
        for (t, now) in self.report.in_flight() {
            let x = self.x(t);
            let _ = write!(d, " L {x:.1} {:.1}", base - before as f64 / max * h);
            let _ = write!(d, " L {x:.1} {:.1}", base - now as f64 / max * h);
            before = now;
        }
        let _ = write!(d, " L {:.1} {base:.1} Z", self.x(self.end));
        // Its scale: a line and a count at every level, up to the most in flight (at most
        // five lines).
        let levels = self.report.max_parallelism().max(1);
        let every = levels.div_ceil(5);
        let mut level = 0;
        while level <= levels {
            let ly = base - level as f64 / max * h;
            let _ = writeln!(
                s,
                "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"#eee\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"9\" fill=\"#777\" text-anchor=\"end\">{level}</text>",
                self.x(Duration::ZERO),
                self.x(self.end),
                self.x(Duration::ZERO) - 4.0,
                ly + 3.0
            );
            level += every;
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"12\" fill=\"#222\">in flight (max {})</text>\
             <line x1=\"{:.1}\" y1=\"{base:.1}\" x2=\"{:.1}\" y2=\"{base:.1}\" stroke=\"#bbb\"/>\
             <path d=\"{d}\" fill=\"#3d7fd1\" fill-opacity=\"0.35\" stroke=\"#3d7fd1\" stroke-width=\"1\"/>",
            MARGIN + 4.0,
            y + h / 2.0,
            self.report.max_parallelism(),
            self.x(Duration::ZERO),
            self.x(self.end)
        );
    }
}

/// How wide a link's label is drawn (11 px text).
fn label_w(label: &str) -> f64 {
    label.chars().count() as f64 * 6.4 + 4.0
}

fn svg_open(width: f64, height: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
    )
}

/// A step between grid lines: 1, 2 or 5 × 10^k of a unit, about eight across.
fn tick_step(end: Duration) -> Duration {
    let target = end.as_secs_f64() / 8.0;
    let mut unit = 1e-6;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if unit * m >= target {
                return Duration::from_secs_f64(unit * m);
            }
        }
        unit *= 10.0;
    }
}

/// `250µs`, `12ms`, `1.5ms`, `2.35s`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let trim = |v: f64, digits: usize| {
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if secs == 0.0 {
        "0".to_string()
    } else if secs < 1e-3 {
        format!("{}µs", trim(secs * 1e6, 1))
    } else if secs < 1.0 {
        format!("{}ms", trim(secs * 1e3, 2))
    } else {
        format!("{}s", trim(secs, 3))
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// Text for SVG content and attribute values.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_duration(Duration::ZERO), "0");
        assert_eq!(fmt_duration(Duration::from_micros(250)), "250µs");
        assert_eq!(fmt_duration(Duration::from_millis(12)), "12ms");
        assert_eq!(fmt_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(fmt_duration(Duration::from_millis(2350)), "2.35s");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            tick_step(Duration::from_millis(80)),
            Duration::from_millis(10)
        );
        assert_eq!(
            tick_step(Duration::from_millis(330)),
            Duration::from_millis(50)
        );
        assert_eq!(
            tick_step(Duration::from_secs(3)),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(xml("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
