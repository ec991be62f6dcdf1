//! Analysis: the graph a workflow's nodes form, its errors, and a plan of sequential and
//! parallel steps that starts every node as soon as its own inputs exist.

use std::collections::HashMap;

use proc_macro2::Span;
use quote::ToTokens;
use syn::Path;
use syn::spanned::Spanned;

use crate::errors::Errors;
use crate::parse::{MapSpec, NodeOptions, NodeSig, ParamKind, Shape, WorkflowSig};
use crate::types;

/// A listed node with its signature and options.
pub struct NodeEntry<'a> {
    pub path: &'a Path,
    pub sig: &'a NodeSig,
    pub options: &'a NodeOptions,
    /// The node's name in messages and metadata.
    pub name: String,
    /// How the node is applied (once, per element, as a race member).
    pub shape: &'a Shape,
    /// The type the listed node provides: its output, or `Vec<output>` for a mapped node.
    pub provides: Option<syn::Type>,
}

impl NodeEntry<'_> {
    /// The elements of a tuple output, each provided on its own edge (none for a mapped
    /// node, which provides the `Vec` of its tuples).
    pub fn parts(&self) -> &[crate::parse::Part] {
        if self.map().is_some() {
            &[]
        } else {
            &self.sig.parts
        }
    }
}

impl NodeEntry<'_> {
    /// `map(...)` options when the node runs once per element.
    pub fn map(&self) -> Option<&MapSpec> {
        match self.shape {
            Shape::Map(spec) => Some(spec),
            _ => None,
        }
    }

    /// Whether a failure is handed to consumers instead of ending the run (for a mapped
    /// node: per element, inside its `Vec<Result<..>>`).
    pub fn continues_on_error(&self) -> bool {
        self.options.continue_on_error.is_some() || self.map().is_some_and(|m| m.continue_on_error)
    }
}

/// The type `Vec<T>` provided by a node mapped over elements, whose output is `T`, or
/// `Vec<Result<T, NodeError>>` when failed elements are kept.
pub fn mapped_type(value: Option<&syn::Type>, keep_errors: bool) -> Option<syn::Type> {
    let value = value?;
    Some(if keep_errors {
        syn::parse_quote!(Vec<Result<#value, NodeError>>)
    } else {
        syn::parse_quote!(Vec<#value>)
    })
}

/// Where a value comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Src {
    Input(usize),
    Node(usize),
    /// The run's context (`&RunContext`), which is not a graph dependency.
    Context,
    /// Every value of one type, in list order (`&[T]` with several producers of `T`): an
    /// index into [`Graph::collects`].
    Collect(usize),
}

/// The producers of one type gathered for consumers taking `&[T]` / `&Vec<T>`.
pub struct Collect {
    /// The key of the collected type.
    pub key: String,
    /// The producers, in list order.
    pub producers: Vec<usize>,
    /// Consumers take `&[Result<T, NodeError>]`: a producer's tolerated failure is in the
    /// list, in its place.
    pub tolerant: bool,
}

/// A race group: its members provide one value; the first to succeed wins.
pub struct Race {
    pub name: String,
    /// `race(..., continue_on_error)`: when every member failed, the race's failure is
    /// handed to its consumers.
    pub continue_on_error: bool,
    /// The members, in list order; the first one stands for the group in the plan.
    pub members: Vec<usize>,
}

/// The checked graph.
pub struct Graph {
    /// For each node, for each parameter, its provider.
    pub deps: Vec<Vec<Src>>,
    /// For each node, for each parameter whose provider is a node returning a tuple, the
    /// element it takes (`None`: the whole value).
    pub parts: Vec<Vec<Option<usize>>>,
    /// For each node, which elements of its tuple output are `Option`s.
    pub optional_parts: Vec<Vec<bool>>,
    /// The element of the output node's tuple that is the workflow's output.
    pub output_part: Option<usize>,
    /// For each node, the nodes that consume its output (each once, in list order).
    pub consumers: Vec<Vec<usize>>,
    /// The node providing the workflow's output.
    pub output: Option<usize>,
    /// The nodes in a topological order (ties broken by list order).
    pub topo: Vec<usize>,
    /// For each node, the conditional nodes (returning `Option<T>`) whose `None` means it
    /// provides nothing, in list order: itself if it is conditional, and those of every
    /// provider it needs a value from (`&T` or `Result<&T, _>`). Empty when it always
    /// provides its value.
    pub conditions: Vec<Vec<usize>>,
    /// For each mapped node, the parameter that takes one element.
    pub over: Vec<Option<usize>>,
    /// The collected types.
    pub collects: Vec<Collect>,
    /// For each node whose output is collected: the collect and its position in it.
    pub collected: Vec<Option<(usize, usize)>>,
    /// The race groups.
    pub races: Vec<Race>,
    /// For each node in a race group, the group.
    pub race_of: Vec<Option<usize>>,
    /// For each node, the nodes it waits for (for a race's first member, those of every
    /// member; for the other members, none: they run inside the first one's step).
    pub preds: Vec<Vec<usize>>,
    /// For each node, whether it (or, for a race's first member, any member) needs a value
    /// (`&T` or `Result<&T, _>`) that may be missing, so that it may be skipped.
    pub skippable: Vec<bool>,
    /// The ordering edges without data, `(first, then)`, in the order they are declared.
    pub order: Vec<(usize, usize)>,
    /// For each mapped node whose concurrency a workflow input gives, that input.
    pub map_limit: Vec<Option<usize>>,
}

/// The node that stands for node `i` in the plan: the first member of its race, or itself.
fn lead_of(races: &[Race], race_of: &[Option<usize>], i: usize) -> usize {
    race_of[i].map_or(i, |r| races[r].members[0])
}

/// The nodes that run in node `i`'s step: itself; every member for a race's first member;
/// none for the other members (they run in the first one's step).
fn step_members<'g>(races: &'g [Race], race_of: &[Option<usize>], i: &'g usize) -> &'g [usize] {
    match race_of[*i] {
        Some(r) if races[r].members[0] == *i => &races[r].members,
        Some(_) => &[],
        None => std::slice::from_ref(i),
    }
}

impl Graph {
    /// The node that stands for node `i` in the plan (see [`lead_of`]).
    pub fn lead(&self, i: usize) -> usize {
        lead_of(&self.races, &self.race_of, i)
    }

    /// Whether node `i` is run by the plan: every node but the members of a race group
    /// after its first.
    pub fn scheduled(&self, i: usize) -> bool {
        self.race_of[i].is_none_or(|r| self.races[r].members[0] == i)
    }

    /// The nodes that run in node `i`'s step (see [`step_members`]).
    pub fn step<'g>(&'g self, i: &'g usize) -> &'g [usize] {
        step_members(&self.races, &self.race_of, i)
    }

    /// The race group node `i` leads, if any.
    pub fn race_led_by(&self, i: usize) -> Option<&Race> {
        self.race_of[i]
            .map(|r| &self.races[r])
            .filter(|r| r.members[0] == i)
    }

    /// Whether node `i`'s provided value may be missing (it is stored as an `Option`).
    pub fn maybe(&self, i: usize) -> bool {
        !self.conditions[i].is_empty()
    }

    /// Whether element `part` of node `i`'s tuple output is an `Option`.
    pub fn optional_part(&self, i: usize, part: Option<usize>) -> bool {
        part.is_some_and(|j| self.optional_parts[i][j])
    }

    /// Whether the value a consumer takes from node `i` (element `part` of its tuple, or
    /// the whole value) may be missing.
    pub fn maybe_part(&self, i: usize, part: Option<usize>) -> bool {
        self.maybe(i) || self.optional_part(i, part)
    }
}

/// Builds the graph and reports every error in it.
pub fn build(
    wf_name: &str,
    wf: &WorkflowSig,
    nodes: &[NodeEntry<'_>],
    race_groups: &[crate::parse::RaceGroup],
    after: &[crate::parse::AfterSpec],
    errors: &mut Errors,
) -> Option<Graph> {
    let before = errors.len();
    let describe = |src: Src| match src {
        Src::Input(i) => format!("input `{}`", wf.inputs[i].ident),
        Src::Node(i) => format!("node `{}`", nodes[i].name),
        Src::Context | Src::Collect(_) => "the run".to_string(),
    };

    // Providers, in order: inputs, then nodes as listed. Several providers of one type
    // are an error unless they are one race group, or every consumer collects them.
    let mut providers: HashMap<String, (Src, Option<usize>)> = HashMap::new();
    let mut all: Vec<Provided> = Vec::new();
    let mut provided: Vec<(String, String, Src)> = Vec::new();
    let mut offer =
        |key: String, display: String, src: Src, part: Option<usize>, span: Span| match all
            .iter_mut()
            .find(|(k, _, _)| *k == key)
        {
            Some((_, _, list)) => list.push((src, part, span)),
            None => {
                providers.insert(key.clone(), (src, part));
                provided.push((display.clone(), describe(src), src));
                all.push((key, display, vec![(src, part, span)]));
            }
        };
    for (i, input) in wf.inputs.iter().enumerate() {
        offer(
            input.key.clone(),
            types::display(&input.inner),
            Src::Input(i),
            None,
            input.ty.span(),
        );
    }
    for (i, node) in nodes.iter().enumerate() {
        if let Some(out) = &node.provides {
            // A tuple provides each of its elements on its own edge, and itself whole.
            for (j, part) in node.parts().iter().enumerate() {
                if !types::is_unit(&part.inner) {
                    offer(
                        types::key(&part.inner),
                        types::display(&part.inner),
                        Src::Node(i),
                        Some(j),
                        node.path.span(),
                    );
                }
            }
            offer(
                types::key(out),
                types::display(out),
                Src::Node(i),
                None,
                node.path.span(),
            );
        }
    }
    let n = nodes.len();
    let races: Vec<Race> = race_groups
        .iter()
        .map(|g| Race {
            name: g
                .members
                .iter()
                .map(|&m| nodes[m].name.as_str())
                .collect::<Vec<_>>()
                .join(" | "),
            members: g.members.clone(),
            continue_on_error: g.continue_on_error,
        })
        .collect();
    let mut race_of = vec![None; n];
    for (r, race) in races.iter().enumerate() {
        check_race(wf_name, nodes, race, errors);
        for &m in &race.members {
            race_of[m] = Some(r);
        }
    }
    // Keys used as one value (`&T`, the output), and keys collected (`&[T]`).
    let mut single: Vec<String> = Vec::new();
    let mut collects: Vec<Collect> = Vec::new();
    let provided_list = || {
        if provided.is_empty() {
            "nothing".to_string()
        } else {
            provided
                .iter()
                .map(|(ty, who, _)| format!("`{ty}` ({who})"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };

    // Edges.
    let mut deps: Vec<Vec<Option<Src>>> = Vec::with_capacity(n);
    let mut parts: Vec<Vec<Option<usize>>> = Vec::with_capacity(n);
    let mut over = vec![None; n];
    for (i, node) in nodes.iter().enumerate() {
        if let Some(spec) = node.map() {
            if let Some(path) = &node.options.compensate {
                errors.spanned(
                    node.path,
                    format!(
                        "`map({})` cannot run a node with `compensate = {}`: compensation runs once on one output, and a mapped node has one per element",
                        node.name,
                        path.to_token_stream().to_string().replace(' ', ""),
                    ),
                );
            }
            over[i] = map_over(wf_name, node, spec, &providers, errors);
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        let mut node_deps = Vec::new();
        let mut node_parts = Vec::new();
        for (k, param) in node.sig.params.iter().enumerate() {
            if param.kind == ParamKind::Context {
                node_deps.push(Some(Src::Context));
                node_parts.push(None);
                continue;
            }
            if over[i] == Some(k) {
                single.push(vec_key(&param.inner));
                let found = providers.get(&vec_key(&param.inner)).copied();
                node_deps.push(found.map(|(s, _)| s));
                node_parts.push(found.and_then(|(_, part)| part));
                continue;
            }
            let found = providers.get(&param.key).copied();
            node_parts.push(found.and_then(|(_, part)| part));
            let mut src = found.map(|(s, _)| s);
            if src.is_some() {
                single.push(param.key.clone());
            } else if let Some((elem, tolerant_form)) =
                types::element_type(&param.inner).map(types::tolerated)
                && let elem_key = types::key(elem)
                && let Some((_, _, list)) = all.iter().find(|(k, _, _)| *k == elem_key)
                && list.iter().all(|(s, _, _)| matches!(s, Src::Node(_)))
            {
                if let Some((Src::Node(p), _, _)) = list.iter().find(|(_, part, _)| part.is_some())
                {
                    errors.spanned(
                        &param.ty,
                        format!(
                            "parameter `{}` of node `{}` collects every `{}`, but node `{}` provides it as one element of its tuple output: a collected value is moved into the list, and only a node's whole output can be; return `{}` alone from `{}`",
                            param.name,
                            node.name,
                            types::display(elem),
                            nodes[*p].name,
                            types::display(elem),
                            nodes[*p].name,
                        ),
                    );
                }
                let c = match collects.iter().position(|c| c.key == elem_key) {
                    Some(c) => {
                        if collects[c].tolerant != tolerant_form {
                            let ty = types::display(elem);
                            errors.spanned(
                                &param.ty,
                                format!(
                                    "parameter `{}` of node `{}` collects every `{ty}` as `{}`, but another node of workflow `{wf_name}` collects them as `{}`: the list is gathered once; take one form in every consumer",
                                    param.name,
                                    node.name,
                                    if tolerant_form { format!("&[Result<{ty}, NodeError>]") } else { format!("&[{ty}]") },
                                    if tolerant_form { format!("&[{ty}]") } else { format!("&[Result<{ty}, NodeError>]") },
                                ),
                            );
                        }
                        c
                    }
                    None => {
                        collects.push(Collect {
                            key: elem_key.clone(),
                            tolerant: tolerant_form,
                            producers: list
                                .iter()
                                .filter_map(|(s, _, _)| match s {
                                    Src::Node(p) => Some(*p),
                                    _ => None,
                                })
                                .collect(),
                        });
                        collects.len() - 1
                    }
                };
                let mut raced = false;
                let form_mismatch = collects[c].tolerant != tolerant_form;
                let mut tolerated = Vec::new();
                for &p in &collects[c].producers {
                    if nodes[p].options.compensate.is_some() {
                        errors.spanned(
                            &param.ty,
                            format!(
                                "parameter `{}` of node `{}` collects every `{}`, but node `{}` has `compensate`: a collected value is moved into the list, so it cannot be kept for its compensation",
                                param.name,
                                node.name,
                                types::display(elem),
                                nodes[p].name,
                            ),
                        );
                    } else if nodes[p].continues_on_error() && !tolerant_form && !form_mismatch {
                        tolerated.push(format!("`{}`", nodes[p].name));
                    }
                    if race_of[p].is_some() && !raced {
                        raced = true;
                        errors.spanned(
                            &param.ty,
                            format!(
                                "parameter `{}` of node `{}` collects every `{}`, but node `{}` is in a race, which provides one value: take `&{}`",
                                param.name,
                                node.name,
                                types::display(elem),
                                nodes[p].name,
                                types::display(elem),
                            ),
                        );
                    }
                }
                if !tolerated.is_empty() {
                    let ty = types::display(elem);
                    let (nodes_word, have) = if tolerated.len() == 1 {
                        ("node", "has")
                    } else {
                        ("nodes", "have")
                    };
                    errors.spanned(
                        &param.ty,
                        format!(
                            "parameter `{}` of node `{}` collects every `{ty}`, but {nodes_word} {} {have} `continue_on_error`, so a `{ty}` may be a failure\n\
                             take `&[Result<{ty}, flow_runtime::NodeError>]`: every producer's value or failure, in list order",
                            param.name,
                            node.name,
                            tolerated.join(" and "),
                        ),
                    );
                }
                src = Some(Src::Collect(c));
            }
            let tolerant_race = |p: usize| race_of[p].is_some_and(|r| races[r].continue_on_error);
            if let Some(Src::Node(p)) = src
                && ((nodes[p].options.continue_on_error.is_some() && nodes[p].map().is_none())
                    || tolerant_race(p))
                && param.kind == ParamKind::Ref
            {
                let ty = types::display(&param.inner);
                let who = match race_of[p] {
                    Some(r) if races[r].continue_on_error => {
                        format!("`race({})`", races[r].name.replace(" | ", ", "))
                    }
                    _ => format!("node `{}`", nodes[p].name),
                };
                errors.spanned(
                    &param.ty,
                    format!(
                        "parameter `{}` of node `{}` takes `&{ty}`, but {who} has `continue_on_error`, so its `{ty}` may be missing\n\
                         take `Option<&{ty}>` (`None` when it failed) or `Result<&{ty}, &flow_runtime::NodeError>` (its error when it failed)",
                        param.name, node.name,
                    ),
                );
            }
            if src.is_none() && (node.map().is_none() || over[i].is_some()) {
                let ty = types::display(&param.inner);
                errors.spanned(
                    &param.ty,
                    format!(
                        "no provider for `{ty}` in workflow `{wf_name}`: parameter `{}` of node `{}` needs a `{ty}`\n\
                         the workflow provides: {}\n\
                         list a node that returns `{ty}` in `#[workflow(...)]`, or add a workflow input of type `{ty}`",
                        param.name,
                        node.name,
                        provided_list(),
                    ),
                );
            }
            node_deps.push(src);
        }
        deps.push(node_deps);
        parts.push(node_parts);
    }

    // Output.
    let mut output = None;
    let mut output_part = None;
    if let Some(out) = &wf.output {
        let display = types::display(out);
        let key = types::key(out);
        match providers.get(&key).copied() {
            Some((Src::Node(i), part)) => {
                output = Some(i);
                output_part = part;
                single.push(key);
            }
            other => {
                let other = other.map(|(s, _)| s);
                let also = match other {
                    Some(Src::Input(i)) => format!(
                        " (input `{}` has that type, but the output must come from a node)",
                        wf.inputs[i].ident
                    ),
                    _ => String::new(),
                };
                let hint = match types::result_ok_type(out) {
                    Some(ok) => format!(
                        "\nthe generated function already returns `Result<_, flow_runtime::Error>`: declare the success type alone, as in `-> {}`",
                        ok.map(types::display).unwrap_or_else(|| "T".into())
                    ),
                    None => String::new(),
                };
                errors.spanned(
                    out,
                    format!(
                        "no node of workflow `{wf_name}` returns `{display}`, the workflow's output{also}\n\
                         the workflow provides: {}{hint}",
                        provided_list(),
                    ),
                );
            }
        }
    }

    // Several providers of one type.
    for (key, display, list) in &all {
        let collected = collects.iter().any(|c| c.key == *key);
        if collected && single.contains(key) {
            errors.at(
                list[0].2,
                format!(
                    "`{display}` in workflow `{wf_name}` is both collected (a consumer takes `&[{display}]`) and taken alone (as `&{display}`, or as the output): collected values are moved into the list; take one form only"
                ),
            );
            continue;
        }
        if list.len() < 2 {
            continue;
        }
        // An element of a tuple output that nothing takes does not compete with another
        // provider of its type: only a type something takes needs exactly one provider.
        if list.iter().any(|(_, part, _)| part.is_some()) && !single.contains(key) && !collected {
            continue;
        }
        let group = match list[0].0 {
            Src::Node(p) => race_of[p],
            _ => None,
        };
        let one_race = group.is_some()
            && list
                .iter()
                .all(|(s, _, _)| matches!(s, Src::Node(p) if race_of[*p] == group));
        if one_race || collected {
            continue;
        }
        let first = list[0].0;
        let describe_part = |src: Src, part: Option<usize>| match part {
            Some(_) => format!("{} (an element of its tuple output)", describe(src)),
            None => describe(src),
        };
        for &(src, part, span) in &list[1..] {
            if src == first
                && let Src::Node(p) = src
            {
                errors.at(
                    span,
                    format!(
                        "node `{}` returns `{display}` twice in its tuple, in workflow `{wf_name}`: each element of a tuple output is provided on its own edge, so each type needs exactly one; wrap one of them in a newtype",
                        nodes[p].name,
                    ),
                );
                continue;
            }
            errors.at(
                span,
                format!(
                    "two providers of `{display}` in workflow `{wf_name}`: {} and {}\n\
                     each type needs exactly one provider, so a consumer's `&{display}` has one meaning; \
                     wrap one of them in a newtype, list only one, take `&[{display}]` to receive every one in list order, \
                     or list them as `race(...)` to take the first that succeeds",
                    describe_part(first, list[0].1),
                    describe_part(src, part),
                ),
            );
        }
    }

    // Ordering edges without data.
    let order = ordering(wf_name, nodes, after, &race_of, errors);

    // Map concurrencies given by inputs.
    let map_limit: Vec<Option<usize>> = nodes
        .iter()
        .map(|node| {
            let ident = node.map()?.concurrency_input.as_ref()?;
            let found = wf.inputs.iter().position(|input| input.ident == *ident);
            if found.is_none() {
                let inputs = wf
                    .inputs
                    .iter()
                    .map(|i| format!("`{}: {}`", i.ident, types::display(&i.inner)))
                    .collect::<Vec<_>>();
                errors.spanned(
                    ident,
                    format!(
                        "`map({}, concurrency = {ident})`: workflow `{wf_name}` has no input `{ident}`; the concurrency is a number, or the name of an input of type `NonZeroUsize` or `Option<NonZeroUsize>` (its inputs: {})",
                        node.name,
                        if inputs.is_empty() { "none".to_owned() } else { inputs.join(", ") },
                    ),
                );
            }
            found
        })
        .collect();

    // Consumers and a topological order.
    let mut collected = vec![None; n];
    for (c, collect) in collects.iter().enumerate() {
        for (k, &p) in collect.producers.iter().enumerate() {
            collected[p] = Some((c, k));
        }
    }
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (c, node_deps) in deps.iter().enumerate() {
        let lead = lead_of(&races, &race_of, c);
        for d in node_deps {
            match d {
                Some(Src::Node(p)) => preds[lead].push(*p),
                Some(Src::Collect(k)) => preds[lead].extend(collects[*k].producers.iter().copied()),
                _ => {}
            }
        }
    }
    for &(first, then) in &order {
        preds[lead_of(&races, &race_of, then)].push(lead_of(&races, &race_of, first));
    }
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indegree = vec![0usize; n];
    for (c, from) in preds.iter_mut().enumerate() {
        from.sort_unstable();
        from.dedup();
        for &p in from.iter() {
            consumers[p].push(c);
            indegree[c] += 1;
        }
    }
    let mut topo = Vec::with_capacity(n);
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| indegree[i] == 0).collect();
    while let Some(i) = ready.pop_first() {
        topo.push(i);
        for &c in &consumers[i] {
            indegree[c] -= 1;
            if indegree[c] == 0 {
                ready.insert(c);
            }
        }
    }
    if topo.len() < n {
        report_cycles(
            wf_name, nodes, &deps, &collects, &race_of, &consumers, &indegree, errors,
        );
    }

    if errors.len() > before {
        return None;
    }
    let deps: Vec<Vec<Src>> = deps
        .into_iter()
        .map(|d| d.into_iter().map(|s| s.expect("checked above")).collect())
        .collect();
    let mut conditions: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut skippable = vec![false; n];
    for i in &topo {
        let mut conds = Vec::new();
        for &m in step_members(&races, &race_of, i) {
            for ((param, src), part) in nodes[m].sig.params.iter().zip(&deps[m]).zip(&parts[m]) {
                if let Src::Node(p) = *src
                    && matches!(param.kind, ParamKind::Ref | ParamKind::Result)
                {
                    conds.extend(conditions[p].iter().copied());
                    // An `Option` element of a tuple: missing when the node returns `None`
                    // there.
                    if part.is_some_and(|j| nodes[p].parts()[j].optional) {
                        conds.push(p);
                    }
                }
            }
        }
        skippable[*i] = !conds.is_empty();
        if nodes[*i].sig.optional && nodes[*i].map().is_none() {
            conds.push(*i);
        }
        conds.sort_unstable();
        conds.dedup();
        conditions[*i] = conds;
    }
    let optional_parts = nodes
        .iter()
        .map(|node| node.parts().iter().map(|p| p.optional).collect())
        .collect();
    Some(Graph {
        deps,
        parts,
        optional_parts,
        output_part,
        consumers,
        output,
        topo,
        conditions,
        over,
        collects,
        collected,
        races,
        race_of,
        preds,
        skippable,
        order,
        map_limit,
    })
}

/// The ordering edges `(first, then)` of `#[node(after(...))]` and the workflow's
/// `after(node: ...)`, each name resolved among the listed nodes.
fn ordering(
    wf_name: &str,
    nodes: &[NodeEntry<'_>],
    after: &[crate::parse::AfterSpec],
    race_of: &[Option<usize>],
    errors: &mut Errors,
) -> Vec<(usize, usize)> {
    let text = |p: &Path| p.to_token_stream().to_string().replace(' ', "");
    let listed = || {
        nodes
            .iter()
            .map(|n| format!("`{}`", text(n.path)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // A listed node by its path as listed, its function's name or its node name.
    let find = |p: &Path| -> Option<usize> {
        let written = text(p);
        nodes
            .iter()
            .position(|n| text(n.path) == written)
            .or_else(|| {
                // By name: ambiguous (not found) when several listed nodes answer to it.
                let ident = p.get_ident()?.to_string();
                let mut matching = nodes.iter().enumerate().filter(|(_, n)| {
                    n.path.segments.last().is_some_and(|s| s.ident == ident)
                        || n.sig.ident == ident
                        || n.name == ident
                });
                let (found, _) = matching.next()?;
                matching.next().is_none().then_some(found)
            })
    };
    // Why `find` found nothing: several listed nodes answer to the name, or none.
    let why = |p: &Path| -> String {
        let ident = p.get_ident().map(ToString::to_string);
        let matching: Vec<String> = nodes
            .iter()
            .filter(|n| {
                ident.as_ref().is_some_and(|ident| {
                    n.path.segments.last().is_some_and(|s| s.ident == ident)
                        || n.sig.ident == ident
                        || n.name == *ident
                })
            })
            .map(|n| format!("`{}`", text(n.path)))
            .collect();
        if matching.len() > 1 {
            format!(
                "a name several nodes of workflow `{wf_name}` answer to ({}): write the path as the workflow lists it",
                matching.join(", ")
            )
        } else {
            format!(
                "which workflow `{wf_name}` does not list\nthe workflow lists: {}",
                listed()
            )
        }
    };
    let mut order = Vec::new();
    let mut add = |first: usize, then: usize, at: &Path, errors: &mut Errors| {
        if first == then {
            errors.spanned(
                at,
                format!("node `{}` cannot run after itself", nodes[then].name),
            );
        } else if race_of[first].is_some() && race_of[first] == race_of[then] {
            errors.spanned(
                at,
                format!(
                    "node `{}` cannot run after `{}`: they race each other, so they start together",
                    nodes[then].name, nodes[first].name
                ),
            );
        } else if !order.contains(&(first, then)) {
            order.push((first, then));
        }
    };
    for (then, node) in nodes.iter().enumerate() {
        for p in &node.options.after {
            match find(p) {
                Some(first) => add(first, then, node.path, errors),
                None => errors.spanned(
                    node.path,
                    format!(
                        "node `{}` runs after `{}` (`#[node(after(...))]`), {}",
                        node.name,
                        text(p),
                        why(p),
                    ),
                ),
            }
        }
    }
    for spec in after {
        let Some(then) = find(&spec.node) else {
            errors.spanned(
                &spec.node,
                format!(
                    "`after({}: ...)` names `{}`, {}",
                    text(&spec.node),
                    text(&spec.node),
                    why(&spec.node),
                ),
            );
            continue;
        };
        for p in &spec.after {
            match find(p) {
                Some(first) => add(first, then, p, errors),
                None => errors.spanned(
                    p,
                    format!(
                        "node `{}` runs after `{}`, {}",
                        nodes[then].name,
                        text(p),
                        why(p),
                    ),
                ),
            }
        }
    }
    order
}

/// Checks that a race group's members can race: one provided type, no option that keeps
/// a member's output or failure.
fn check_race(wf_name: &str, nodes: &[NodeEntry<'_>], group: &Race, errors: &mut Errors) {
    let Some(&first) = group.members.first() else {
        return;
    };
    let first_ty = nodes[first].sig.output.as_ref();
    for &m in &group.members {
        let node = &nodes[m];
        let why = if node.options.compensate.is_some() {
            Some("`compensate`: a losing member is dropped mid-flight, so what to undo is unknown")
        } else if node.options.continue_on_error.is_some() {
            Some(
                "`continue_on_error`: a race already tolerates failed members until all fail; to hand the failure of all of them to the race's consumers, write `race(a, b, continue_on_error)`",
            )
        } else if node.sig.optional {
            Some("an `Option` output: a member either provides the value or fails")
        } else {
            None
        };
        if let Some(why) = why {
            errors.spanned(
                node.path,
                format!(
                    "node `{}` cannot race in workflow `{wf_name}` with {why}",
                    node.name
                ),
            );
        }
        let ty = node.sig.output.as_ref();
        if ty.is_none() || ty.map(types::key) != first_ty.map(types::key) {
            let show = |t: Option<&syn::Type>| {
                t.map_or("nothing".to_string(), |t| {
                    format!("`{}`", types::display(t))
                })
            };
            errors.spanned(
                node.path,
                format!(
                    "the members of `race({})` must provide one type: `{}` provides {}, `{}` provides {}",
                    group.name,
                    nodes[first].name,
                    show(first_ty),
                    node.name,
                    show(ty),
                ),
            );
        }
    }
}

/// A type's key, its display form, and every provider of it with its span.
type Provided = (String, String, Vec<(Src, Option<usize>, Span)>);

/// The key of `Vec<T>`.
fn vec_key(inner: &syn::Type) -> String {
    types::key(&syn::parse_quote!(Vec<#inner>))
}

/// The parameter of a mapped node that takes one element: named by `over = param`, or the
/// one `&T` parameter for which a `Vec<T>` is provided.
fn map_over(
    wf_name: &str,
    node: &NodeEntry<'_>,
    spec: &MapSpec,
    providers: &HashMap<String, (Src, Option<usize>)>,
    errors: &mut Errors,
) -> Option<usize> {
    let name = &node.name;
    let elementwise = |k: usize| {
        let param = &node.sig.params[k];
        param.kind == ParamKind::Ref && providers.contains_key(&vec_key(&param.inner))
    };
    if let Some(over) = &spec.over {
        let Some(k) = node.sig.params.iter().position(|p| *over == p.name) else {
            errors.spanned(over, format!("node `{name}` has no parameter `{over}`"));
            return None;
        };
        if !elementwise(k) {
            let param = &node.sig.params[k];
            let ty = types::display(&param.inner);
            errors.spanned(
                over,
                format!(
                    "`map({name})` runs `{name}` once per element of a `Vec<{ty}>`, but nothing in workflow `{wf_name}` provides a `Vec<{ty}>` (parameter `{over}` must be `&{ty}`)"
                ),
            );
            return None;
        }
        return Some(k);
    }
    let candidates: Vec<usize> = (0..node.sig.params.len())
        .filter(|&k| elementwise(k))
        .collect();
    match candidates[..] {
        [k] => Some(k),
        [] => {
            let takes = node
                .sig
                .params
                .iter()
                .filter(|p| p.kind == ParamKind::Ref)
                .map(|p| format!("`Vec<{}>`", types::display(&p.inner)))
                .collect::<Vec<_>>();
            let wanted = if takes.is_empty() {
                format!("`{name}` takes no `&T` parameter to apply to each element")
            } else {
                format!(
                    "nothing in workflow `{wf_name}` provides {}",
                    takes.join(" or ")
                )
            };
            errors.spanned(
                node.path,
                format!(
                    "`map({name})` runs `{name}` once per element of a collection, but {wanted}\n\
                     a mapped node takes one element as `&T`, and another node (or an input) provides the `Vec<T>`"
                ),
            );
            None
        }
        _ => {
            let names = candidates
                .iter()
                .map(|&k| format!("`{}`", node.sig.params[k].name))
                .collect::<Vec<_>>()
                .join(", ");
            errors.spanned(
                node.path,
                format!(
                    "`map({name})`: several parameters of `{name}` could take the elements ({names}); say which with `map({name}, over = {})`",
                    node.sig.params[candidates[0]].name
                ),
            );
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
/// Reports one cycle per strongly connected set of nodes left after the topological sort.
fn report_cycles(
    wf_name: &str,
    nodes: &[NodeEntry<'_>],
    deps: &[Vec<Option<Src>>],
    collects: &[Collect],
    race_of: &[Option<usize>],
    consumers: &[Vec<usize>],
    indegree: &[usize],
    errors: &mut Errors,
) {
    let mut reported = vec![false; nodes.len()];
    for start in 0..nodes.len() {
        if indegree[start] == 0 || reported[start] {
            continue;
        }
        // Find a shortest cycle through `start` (breadth-first over consumers).
        let mut prev: Vec<Option<usize>> = vec![None; nodes.len()];
        let mut queue = std::collections::VecDeque::from([start]);
        let mut seen = vec![false; nodes.len()];
        let mut last = None;
        'search: while let Some(v) = queue.pop_front() {
            for &c in &consumers[v] {
                if indegree[c] == 0 {
                    continue;
                }
                if c == start {
                    last = Some(v);
                    break 'search;
                }
                if !seen[c] {
                    seen[c] = true;
                    prev[c] = Some(v);
                    queue.push_back(c);
                }
            }
        }
        let Some(last) = last else { continue };
        let mut cycle = vec![last];
        while let Some(p) = prev[*cycle.last().expect("non-empty")] {
            cycle.push(p);
        }
        if *cycle.last().expect("non-empty") != start {
            cycle.push(start);
        }
        cycle.reverse(); // start, ..., last: each consumes the previous one's output.
        for &v in &cycle {
            reported[v] = true;
        }
        let name = |i: usize| format!("`{}`", nodes[i].name);
        let takes = |consumer: usize, producer: usize| -> (String, Option<&syn::Type>) {
            // The edge is a parameter of the consumer (or, for a race, of another member)
            // taking the producer's value alone or collected.
            let from = |d: &Option<Src>| match d {
                Some(Src::Node(p)) => *p == producer,
                Some(Src::Collect(c)) => collects[*c].producers.contains(&producer),
                _ => false,
            };
            let found = std::iter::once(consumer)
                .chain(
                    (0..nodes.len())
                        .filter(|&m| race_of[m].is_some() && race_of[m] == race_of[consumer]),
                )
                .find_map(|m| deps[m].iter().position(from).map(|idx| (m, idx)));
            match found {
                Some((m, idx)) => {
                    let param = &nodes[m].sig.params[idx];
                    (
                        format!(
                            "{} takes `&{}` from {}",
                            name(m),
                            types::display(&param.inner),
                            name(producer)
                        ),
                        Some(&param.ty),
                    )
                }
                None => (
                    format!("{} runs after {}", name(consumer), name(producer)),
                    None,
                ),
            }
        };
        let (message, span_ty) = if cycle.len() == 1 {
            let (_, ty) = takes(start, start);
            (
                format!(
                    "dependency cycle in workflow `{wf_name}`: node {} takes `&{}`, which only it provides",
                    name(start),
                    nodes[start]
                        .sig
                        .output
                        .as_ref()
                        .map(types::display)
                        .unwrap_or_default(),
                ),
                ty,
            )
        } else {
            let mut path: Vec<String> = cycle.iter().map(|&i| name(i)).collect();
            path.push(name(start));
            let mut steps = Vec::new();
            for w in cycle.windows(2) {
                steps.push(takes(w[1], w[0]).0);
            }
            let (closing, ty) = takes(start, last);
            steps.push(closing);
            (
                format!(
                    "dependency cycle in workflow `{wf_name}`: {}\n{}; a node cannot depend, directly or not, on its own output",
                    path.join(" → "),
                    steps.join(", "),
                ),
                ty,
            )
        };
        match span_ty {
            Some(ty) => errors.spanned(ty, message),
            None => errors.spanned(nodes[start].path, message),
        }
    }
}

/// How the generated code runs a set of nodes.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// One node.
    Node(usize),
    /// Each part after the previous one; every node of a part depends on every node of the
    /// parts before it, so waiting for the whole previous part delays nothing.
    Seq(Vec<Plan>),
    /// Parts with no edges between them, joined.
    Par(Vec<Plan>),
    /// A connected set with no series-parallel shape: every node is its own future in one
    /// join and waits for exactly its inputs.
    Dataflow(Vec<usize>),
}

type Bits = Vec<u64>;

fn bit(bits: &Bits, i: usize) -> bool {
    bits[i / 64] >> (i % 64) & 1 == 1
}

fn set_bit(bits: &mut Bits, i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

/// Decomposes the graph into a plan that never makes a node wait for anything but its own
/// inputs.
pub fn plan(graph: &Graph) -> Plan {
    let n = graph.preds.len();
    let words = n.div_ceil(64).max(1);
    // ancestors[i]: every node i depends on, directly or not.
    let mut ancestors: Vec<Bits> = vec![vec![0; words]; n];
    for &i in &graph.topo {
        let mut acc = vec![0; words];
        for &p in &graph.preds[i] {
            set_bit(&mut acc, p);
            for (a, b) in acc.iter_mut().zip(&ancestors[p]) {
                *a |= *b;
            }
        }
        ancestors[i] = acc;
    }
    let ctx = Ctx {
        graph,
        ancestors,
        words,
    };
    let scheduled: Vec<usize> = graph
        .topo
        .iter()
        .copied()
        .filter(|&i| graph.scheduled(i))
        .collect();
    if scheduled.is_empty() {
        return Plan::Seq(Vec::new());
    }
    ctx.decompose(scheduled)
}

struct Ctx<'a> {
    graph: &'a Graph,
    ancestors: Vec<Bits>,
    words: usize,
}

impl Ctx<'_> {
    /// `set` is in topological order.
    fn decompose(&self, set: Vec<usize>) -> Plan {
        if set.len() == 1 {
            return Plan::Node(set[0]);
        }
        let components = self.components(&set);
        if components.len() > 1 {
            return Plan::Par(components.into_iter().map(|c| self.decompose(c)).collect());
        }
        // Series split: the shortest prefix A (in topological order) such that every node
        // after it depends on every node in it.
        let len = set.len();
        let mut suffix: Vec<Bits> = vec![vec![!0; self.words]; len + 1];
        for k in (0..len).rev() {
            let mut s = suffix[k + 1].clone();
            for (a, b) in s.iter_mut().zip(&self.ancestors[set[k]]) {
                *a &= *b;
            }
            suffix[k] = s;
        }
        for k in 1..len {
            if set[..k].iter().all(|&x| bit(&suffix[k], x)) {
                let mut parts = Vec::new();
                for part in [set[..k].to_vec(), set[k..].to_vec()] {
                    match self.decompose(part) {
                        Plan::Seq(inner) => parts.extend(inner),
                        other => parts.push(other),
                    }
                }
                return Plan::Seq(parts);
            }
        }
        Plan::Dataflow(set)
    }

    /// The weakly connected components of `set` under the edges inside it, each in
    /// topological order, ordered by their first node.
    fn components(&self, set: &[usize]) -> Vec<Vec<usize>> {
        let n = self.graph.preds.len();
        let mut member = vec![false; n];
        for &i in set {
            member[i] = true;
        }
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        for &i in set {
            for &p in &self.graph.preds[i] {
                if member[p] {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, p));
                    parent[a] = b;
                }
            }
        }
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for &i in set {
            let root = find(&mut parent, i);
            match groups.iter_mut().find(|(r, _)| *r == root) {
                Some((_, g)) => g.push(i),
                None => groups.push((root, vec![i])),
            }
        }
        groups.into_iter().map(|(_, g)| g).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A graph from `deps[i]` = the nodes node `i` depends on.
    fn graph(deps: &[&[usize]]) -> Graph {
        let n = deps.len();
        let mut consumers = vec![Vec::new(); n];
        for (c, ds) in deps.iter().enumerate() {
            for &p in *ds {
                consumers[p].push(c);
            }
        }
        // Test graphs are listed in a topological order.
        Graph {
            deps: deps
                .iter()
                .map(|ds| ds.iter().map(|&p| Src::Node(p)).collect())
                .collect(),
            parts: deps.iter().map(|ds| vec![None; ds.len()]).collect(),
            optional_parts: vec![Vec::new(); n],
            output_part: None,
            consumers,
            output: None,
            topo: (0..n).collect(),
            conditions: vec![Vec::new(); n],
            over: vec![None; n],
            collects: Vec::new(),
            collected: vec![None; n],
            races: Vec::new(),
            race_of: vec![None; n],
            preds: deps.iter().map(|ds| ds.to_vec()).collect(),
            skippable: vec![false; n],
            order: Vec::new(),
            map_limit: vec![None; n],
        }
    }

    use Plan::*;

    #[test]
    fn diamond_is_seq_par_seq() {
        let g = graph(&[&[], &[0], &[0], &[1, 2]]);
        assert_eq!(
            plan(&g),
            Seq(vec![Node(0), Par(vec![Node(1), Node(2)]), Node(3)])
        );
    }

    #[test]
    fn chain_is_one_seq() {
        let g = graph(&[&[], &[0], &[1], &[2]]);
        assert_eq!(plan(&g), Seq(vec![Node(0), Node(1), Node(2), Node(3)]));
    }

    #[test]
    fn skewed_branches_do_not_wait_for_each_other() {
        // root -> {fast -> after_fast, slow}
        let g = graph(&[&[], &[0], &[1], &[0]]);
        assert_eq!(
            plan(&g),
            Seq(vec![
                Node(0),
                Par(vec![Seq(vec![Node(1), Node(2)]), Node(3)])
            ])
        );
    }

    #[test]
    fn complete_bipartite_stages_split_in_series() {
        // {0, 1} -> {2, 3}, each of 2 and 3 needs both.
        let g = graph(&[&[], &[], &[0, 1], &[0, 1]]);
        assert_eq!(
            plan(&g),
            Seq(vec![
                Par(vec![Node(0), Node(1)]),
                Par(vec![Node(2), Node(3)])
            ])
        );
    }

    #[test]
    fn n_shape_falls_back_to_dataflow() {
        // 2 needs 0; 3 needs 0 and 1; 4 needs 1.
        let g = graph(&[&[], &[], &[0], &[0, 1], &[1]]);
        assert_eq!(plan(&g), Dataflow(vec![0, 1, 2, 3, 4]));
    }

    #[test]
    fn independent_roots_are_joined() {
        let g = graph(&[&[], &[], &[]]);
        assert_eq!(plan(&g), Par(vec![Node(0), Node(1), Node(2)]));
    }
}
