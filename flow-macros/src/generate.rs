//! Generation: what `#[node]` and `#[workflow]` expand to, and the workflow body that runs
//! a [`Plan`] with nested joins.

use std::hash::{DefaultHasher, Hash, Hasher};

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Ident, ReturnType, Signature};

use crate::analyse::{self, Graph, NodeEntry, Plan, Src};
use crate::errors::Errors;
use crate::parse::{self, NodeSig, WorkflowDecl, WorkflowSig};
use crate::types;

/// `#[node]`: the function unchanged, plus the signature callback macro, the type-namespace
/// twin that carries `INFO`, and the registry entry.
pub fn node(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let options = parse::node_options(args.clone(), &mut errors);
    let func: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            errors.at(
                e.span(),
                "`#[node]` goes on an `async fn` item: `#[node] async fn step(input: &Input) -> Output { ... }`",
            );
            let errors = errors.to_compile_errors();
            return quote!(#item #errors);
        }
    };
    let sig = NodeSig::analyse(&func.sig, &mut errors);
    if func.sig.receiver().is_some() {
        // A method: the items emitted beside a node cannot live in an `impl`.
        let errors = errors.to_compile_errors();
        return quote!(#func #errors);
    }
    let ident = &func.sig.ident;
    let vis = &func.vis;
    let start = ident.span().start();
    let (line, column) = (start.line as u32, start.column as u32 + 1);

    let mut hasher = DefaultHasher::new();
    (ident.to_string(), line, column, ident.span().file()).hash(&mut hasher);
    let macro_name = format_ident!("__flow_node_{}_{:016x}", ident, hasher.finish());

    let packet = if errors.is_empty() {
        let fn_sig = &func.sig;
        quote!([ { #args } #fn_sig ])
    } else {
        quote!([poisoned])
    };

    let twin = match &sig {
        Some(sig) if errors.is_empty() => {
            let name = parse::name_or(&options.name, ident);
            let fn_name = ident.to_string();
            let params = sig.params.iter().map(|p| {
                let (n, t) = (&p.name, types::display(&p.inner));
                quote!(::flow_runtime::Param::__new(#n, #t))
            });
            let output = option_str(sig.output.as_ref().map(types::display));
            let returns = &sig.returns;
            let fallible = sig.fallible;
            let check = match (&func.sig.output, sig.fallible) {
                (ReturnType::Type(_, ty), true) => quote_spanned! {ty.span()=>
                    const _: () = ::flow_runtime::__private::assert_fallible::<#ty>();
                },
                _ => quote!(),
            };
            quote! {
                #[doc(hidden)]
                #[allow(non_camel_case_types)]
                #vis struct #ident {}

                impl #ident {
                    /// What `#[node]` recorded about this node.
                    #[doc(hidden)]
                    pub const INFO: &'static ::flow_runtime::NodeInfo = {
                        static INFO: ::flow_runtime::NodeInfo = ::flow_runtime::NodeInfo::__new(
                            #name,
                            #fn_name,
                            ::flow_runtime::Location::__new(
                                ::core::module_path!(),
                                ::core::file!(),
                                #line,
                                #column,
                            ),
                            &[#(#params),*],
                            #output,
                            #returns,
                            #fallible,
                        );
                        &INFO
                    };
                }

                ::flow_runtime::__private::inventory::submit! {
                    ::flow_runtime::__private::NodeRegistration(#ident::INFO)
                }

                #check
            }
        }
        _ => quote! {
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            #vis struct #ident {}
        },
    };

    let errors = errors.to_compile_errors();
    quote! {
        #func
        #errors

        #[doc(hidden)]
        #[macro_export]
        #[allow(non_local_definitions)]
        macro_rules! #macro_name {
            ( [ ( $($next:tt)* ) $($rest:tt)* ] ( $($final:tt)* ) $($acc:tt)* ) => {
                $($next)* ! ( [ $($rest)* ] ( $($final)* ) $($acc)* #packet )
            };
            ( [ ] ( $($final:tt)* ) $($acc:tt)* ) => {
                $($final)* ! ( $($acc)* #packet )
            };
        }

        #[doc(hidden)]
        #[allow(unused_imports)]
        #vis use #macro_name as #ident;

        #twin
    }
}

fn option_str(s: Option<String>) -> TokenStream {
    match s {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

fn option_usize(n: Option<usize>) -> TokenStream {
    match n {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    }
}

/// `#[workflow]`: the function with the same name and inputs returning
/// `Result<Output, flow_runtime::Error>`, whose body is the chain of node callbacks that
/// ends in [`expand`]; the type-namespace twin with `graph()`; the registry entry.
pub fn workflow(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let wf_args = parse::workflow_args(args.clone(), &mut errors);
    let decl: WorkflowDecl = match syn::parse2(item.clone()) {
        Ok(d) => d,
        Err(e) => {
            errors.at(
                e.span(),
                "`#[workflow(...)]` goes on a body-less `async fn` declaration: `#[workflow(a, b)] pub async fn name(input: Input) -> Output;`",
            );
            let errors = errors.to_compile_errors();
            return quote!(#item #errors);
        }
    };
    if let Some(body) = &decl.body {
        errors.spanned(
            body,
            "a workflow is declared without a body: end the declaration with `;` and the macro writes the body that runs the nodes",
        );
    }
    WorkflowSig::analyse(&decl.sig, &mut errors);
    if wf_args.nodes.is_empty() && errors.is_empty() {
        errors.spanned(
            &decl.sig.ident,
            format!(
                "workflow `{}` lists no nodes: list them in the attribute, as in `#[workflow(fetch, merge)]`",
                decl.sig.ident
            ),
        );
    }

    let ident = &decl.sig.ident;
    let vis = &decl.vis;
    let attrs = &decl.attrs;
    let mut fn_sig = decl.sig.clone();
    fn_sig.asyncness = Some(Default::default());
    let out_ty = match &decl.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    let out_span = match &decl.sig.output {
        ReturnType::Default => ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    fn_sig.output = syn::parse_quote_spanned! {out_span=>
        -> ::core::result::Result<#out_ty, ::flow_runtime::Error>
    };

    let ok = errors.is_empty();
    let chain = |mode: &str| -> TokenStream {
        if !ok {
            return quote!(::core::unreachable!());
        }
        let mode = Ident::new(mode, Span::call_site());
        let first = &wf_args.nodes[0];
        let rest = wf_args.nodes[1..].iter().map(|p| quote!((#p)));
        let sig = &decl.sig;
        quote! {
            #first ! ( [ #(#rest)* ] (::flow_runtime::__private::workflow) { #mode } { #args } { #sig } )
        }
    };
    let body = chain("body");
    let graph = chain("graph");
    let register = if ok {
        quote! {
            ::flow_runtime::__private::inventory::submit! {
                ::flow_runtime::__private::WorkflowRegistration(#ident::graph)
            }
        }
    } else {
        quote!()
    };
    let allow = (!ok).then(|| quote!(#[allow(unused_variables)]));
    let errors = errors.to_compile_errors();
    quote! {
        #errors

        #(#attrs)*
        #allow
        #vis #fn_sig {
            #body
        }

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #ident {}

        impl #ident {
            /// The static graph of this workflow: its inputs, nodes, edges and output.
            #[allow(unreachable_code)]
            pub fn graph() -> &'static ::flow_runtime::WorkflowGraph {
                #graph
            }
        }

        #register
    }
}

/// What a node's callback macro hands over: its options and signature, or a marker that
/// `#[node]` already reported errors for it.
enum Packet {
    Node {
        args: TokenStream,
        sig: Box<Signature>,
    },
    Poisoned,
}

impl Parse for Packet {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let content;
        syn::bracketed!(content in input);
        if content.peek(Ident) && content.fork().parse::<Ident>()? == "poisoned" {
            content.parse::<TokenStream>()?;
            return Ok(Packet::Poisoned);
        }
        let args;
        syn::braced!(args in content);
        Ok(Packet::Node {
            args: args.parse()?,
            sig: Box::new(content.parse()?),
        })
    }
}

/// The end of the callback chain: `{ mode } { workflow args } { workflow signature }`
/// followed by one packet per node, in list order.
struct ExpandInput {
    mode: Ident,
    args: TokenStream,
    sig: Signature,
    packets: Vec<Packet>,
}

impl Parse for ExpandInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let (mode, args, sig);
        {
            let content;
            syn::braced!(content in input);
            mode = content.parse()?;
        }
        {
            let content;
            syn::braced!(content in input);
            args = content.parse()?;
        }
        {
            let content;
            syn::braced!(content in input);
            sig = content.parse()?;
        }
        let mut packets = Vec::new();
        while !input.is_empty() {
            packets.push(input.parse()?);
        }
        Ok(ExpandInput {
            mode,
            args,
            sig,
            packets,
        })
    }
}

/// The proc macro at the end of the chain: sees every node's signature, checks the graph,
/// and writes either the workflow's body or its static graph.
pub fn expand(input: TokenStream) -> TokenStream {
    let input: ExpandInput = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let graph_mode = input.mode == "graph";
    let unreachable = quote!(::core::unreachable!());
    // The attribute already reported these; here they are known to be valid.
    let mut reported = Errors::default();
    let wf_args = parse::workflow_args(input.args, &mut reported);
    let wf_sig = WorkflowSig::analyse(&input.sig, &mut reported);
    let inputs: Vec<&Ident> = wf_sig.inputs.iter().map(|i| &i.ident).collect();
    let unreachable = if graph_mode {
        unreachable
    } else {
        quote!({ #(let _ = &#inputs;)* #unreachable })
    };
    let mut node_sigs = Vec::new();
    let mut node_options = Vec::new();
    for packet in &input.packets {
        match packet {
            Packet::Poisoned => return unreachable,
            Packet::Node { args, sig } => {
                let Some(node_sig) = NodeSig::analyse(sig, &mut reported) else {
                    return unreachable;
                };
                node_sigs.push(node_sig);
                node_options.push(parse::node_options(args.clone(), &mut reported));
            }
        }
    }
    if !reported.is_empty() || node_sigs.len() != wf_args.nodes.len() {
        return unreachable;
    }
    let wf_name = parse::name_or(&wf_args.name, &wf_sig.ident);
    let entries: Vec<NodeEntry<'_>> = wf_args
        .nodes
        .iter()
        .zip(&node_sigs)
        .zip(&node_options)
        .map(|((path, sig), options)| NodeEntry {
            path,
            sig,
            name: parse::name_or(&options.name, &sig.ident),
        })
        .collect();
    let mut errors = Errors::default();
    let Some(graph) = analyse::build(&wf_name, &wf_sig, &entries, &mut errors) else {
        if graph_mode {
            return unreachable;
        }
        let errors = errors.to_compile_errors();
        return quote!({ #errors #unreachable });
    };
    if graph_mode {
        graph_static(&wf_name, &input.sig, &wf_sig, &entries, &graph)
    } else {
        Body {
            wf_name: &wf_name,
            wf: &wf_sig,
            nodes: &entries,
            graph: &graph,
        }
        .generate()
    }
}

/// The `WorkflowGraph` static.
fn graph_static(
    wf_name: &str,
    decl: &Signature,
    wf: &WorkflowSig,
    nodes: &[NodeEntry<'_>],
    graph: &Graph,
) -> TokenStream {
    let fn_name = wf.ident.to_string();
    let start = decl.ident.span().start();
    let (line, column) = (start.line as u32, start.column as u32 + 1);
    let inputs = wf.inputs.iter().map(|i| {
        let (n, t) = (i.ident.to_string(), types::display(&i.inner));
        quote!(::flow_runtime::Param::__new(#n, #t))
    });
    let output = option_str(wf.output.as_ref().map(types::display));
    let output_node = option_usize(graph.output);
    let infos = nodes.iter().map(|n| {
        let path = n.path;
        quote!(#path::INFO)
    });
    let mut edges = Vec::new();
    for (to, deps) in graph.deps.iter().enumerate() {
        for (param, src) in deps.iter().enumerate() {
            let from = match src {
                Src::Input(i) => quote!(::flow_runtime::Source::Input(#i)),
                Src::Node(i) => quote!(::flow_runtime::Source::Node(#i)),
            };
            edges.push(quote!(::flow_runtime::Edge::__new(#from, #to, #param)));
        }
    }
    quote! {{
        static GRAPH: ::flow_runtime::WorkflowGraph = ::flow_runtime::WorkflowGraph::__new(
            #wf_name,
            #fn_name,
            ::flow_runtime::Location::__new(::core::module_path!(), ::core::file!(), #line, #column),
            &[#(#inputs),*],
            #output,
            #output_node,
            &[#(#infos),*],
            &[#(#edges),*],
        );
        &GRAPH
    }}
}

/// Writes the workflow's body.
struct Body<'a> {
    wf_name: &'a str,
    wf: &'a WorkflowSig,
    nodes: &'a [NodeEntry<'a>],
    graph: &'a Graph,
}

fn out_var(i: usize) -> Ident {
    format_ident!("__flow_o{}", i)
}

fn ref_var(i: usize) -> Ident {
    format_ident!("__flow_r{}", i)
}

fn slot_var(i: usize) -> Ident {
    format_ident!("__flow_s{}", i)
}

fn input_var(i: usize) -> Ident {
    format_ident!("__flow_i{}", i)
}

fn branch_var(i: usize) -> Ident {
    format_ident!("__flow_b{}", i)
}

impl Body<'_> {
    fn generate(&self) -> TokenStream {
        let wf_name = self.wf_name;
        let inputs = self.wf.inputs.iter().enumerate().map(|(i, input)| {
            let var = input_var(i);
            let ident = &input.ident;
            let used = self.graph.deps.iter().any(|d| d.contains(&Src::Input(i)));
            match (used, input.by_ref) {
                (false, _) => quote!(let _ = &#ident;),
                (true, true) => quote!(let #var = #ident;),
                (true, false) => quote!(let #var = &#ident;),
            }
        });
        let plan = analyse::plan(self.graph);
        let stmts = self.stmts(&plan);
        let result = match (self.graph.output, &self.wf.output) {
            (Some(i), Some(ty)) => {
                let var = out_var(i);
                quote_spanned!(ty.span()=> ::core::result::Result::Ok(#var))
            }
            _ => quote!(::core::result::Result::Ok(())),
        };
        quote! {{
            const __FLOW_WORKFLOW: &str = #wf_name;
            #(#inputs)*
            #stmts
            #result
        }}
    }

    /// The nodes in `set` whose outputs are used outside it: by a node not in it, or as the
    /// workflow's output.
    fn exports(&self, set: &[usize]) -> Vec<usize> {
        set.iter()
            .copied()
            .filter(|&i| {
                self.nodes[i].sig.output.is_some()
                    && (self.graph.output == Some(i)
                        || self.graph.consumers[i].iter().any(|c| !set.contains(c)))
            })
            .collect()
    }

    /// Whether node `i` provides a value that something uses, so it must be bound.
    fn binds(&self, i: usize) -> bool {
        self.nodes[i].sig.output.is_some()
            && (self.graph.output == Some(i) || !self.graph.consumers[i].is_empty())
    }

    /// The call of node `i` with its arguments, awaited, its error mapped; `local` gives, per
    /// producer, a variable already holding a reference (inside a dataflow join).
    fn call(&self, i: usize, local: &dyn Fn(usize) -> Option<Ident>) -> TokenStream {
        let node = &self.nodes[i];
        let path = node.path;
        let args = self.args(i, local);
        let call = quote!(#path(#(#args),*).await);
        if node.sig.fallible {
            quote! {
                ::flow_runtime::__private::fallible(#call, __FLOW_WORKFLOW, #path::INFO)?
            }
        } else {
            call
        }
    }

    /// The arguments of node `i`, each spanned at its parameter so that a type mismatch
    /// points there.
    fn args(&self, i: usize, local: &dyn Fn(usize) -> Option<Ident>) -> Vec<TokenStream> {
        let node = &self.nodes[i];
        node.sig
            .params
            .iter()
            .zip(&self.graph.deps[i])
            .map(|(param, src)| {
                let span = param.ty.span();
                match *src {
                    Src::Input(k) => {
                        let var = input_var(k);
                        quote_spanned!(span=> #var)
                    }
                    Src::Node(p) => match local(p) {
                        Some(var) => quote_spanned!(span=> #var),
                        None => {
                            let var = out_var(p);
                            quote_spanned!(span=> &#var)
                        }
                    },
                }
            })
            .collect()
    }

    /// Statements that run `plan` and bind the outputs of its nodes.
    fn stmts(&self, plan: &Plan) -> TokenStream {
        match plan {
            Plan::Node(i) => {
                let call = self.call(*i, &|_| None);
                if self.binds(*i) {
                    let var = out_var(*i);
                    quote!(let #var = #call;)
                } else {
                    quote!(let _ = #call;)
                }
            }
            Plan::Seq(parts) => parts.iter().map(|p| self.stmts(p)).collect(),
            Plan::Par(branches) => {
                let mut joined = Vec::new();
                let mut patterns = Vec::new();
                for branch in branches {
                    let set = nodes_of(branch);
                    let fallible = set.iter().any(|&i| self.nodes[i].sig.fallible);
                    match branch {
                        // A lone node joins as its own future, as in hand-written code.
                        Plan::Node(i) if !fallible => {
                            let path = self.nodes[*i].path;
                            let args = self.args(*i, &|_| None);
                            joined.push((quote!(#path(#(#args),*)), false));
                            patterns.push(if self.binds(*i) {
                                out_var(*i).into_token_stream()
                            } else {
                                quote!(_)
                            });
                        }
                        _ => {
                            let exports: Vec<Ident> =
                                self.exports(&set).into_iter().map(out_var).collect();
                            let stmts = self.stmts(branch);
                            let future = if fallible {
                                quote! {
                                    async {
                                        #stmts
                                        ::core::result::Result::Ok::<_, ::flow_runtime::Error>((#(#exports,)*))
                                    }
                                }
                            } else {
                                quote!(async { #stmts (#(#exports,)*) })
                            };
                            joined.push((future, fallible));
                            patterns.push(quote!((#(#exports,)*)));
                        }
                    }
                }
                let join = join(&joined, false);
                let takes = joined.iter().enumerate().map(|(k, (_, fallible))| {
                    let b = branch_var(k);
                    if *fallible {
                        quote!(#b.as_mut().take_ok())
                    } else {
                        quote!(#b.as_mut().take())
                    }
                });
                quote! {
                    let (#(#patterns,)*) = {
                        #join
                        (#(#takes,)*)
                    };
                }
            }
            Plan::Dataflow(set) => {
                let exports: Vec<usize> = self.exports(set);
                let slotted: Vec<usize> = set
                    .iter()
                    .copied()
                    .filter(|&i| {
                        self.nodes[i].sig.output.is_some()
                            && (exports.contains(&i)
                                || self.graph.consumers[i].iter().any(|c| set.contains(c)))
                    })
                    .collect();
                let slots = slotted.iter().map(|&i| {
                    let s = slot_var(i);
                    quote!(let #s = ::flow_runtime::__private::Slot::new();)
                });
                let futures: Vec<(TokenStream, bool)> = set
                    .iter()
                    .map(|&i| {
                        let mut waits = Vec::new();
                        let mut local_deps = Vec::new();
                        for src in &self.graph.deps[i] {
                            if let Src::Node(p) = *src
                                && set.contains(&p)
                                && !local_deps.contains(&p)
                            {
                                local_deps.push(p);
                                let (r, s) = (ref_var(p), slot_var(p));
                                waits.push(quote!(let #r = #s.wait().await;));
                            }
                        }
                        let call = self.call(i, &|p| local_deps.contains(&p).then(|| ref_var(p)));
                        let store = if slotted.contains(&i) {
                            let s = slot_var(i);
                            quote!(#s.set(#call);)
                        } else {
                            quote!(let _ = #call;)
                        };
                        if self.nodes[i].sig.fallible {
                            let future = quote! {
                                async {
                                    #(#waits)*
                                    #store
                                    ::core::result::Result::Ok::<(), ::flow_runtime::Error>(())
                                }
                            };
                            (future, true)
                        } else {
                            (quote!(async { #(#waits)* #store }), false)
                        }
                    })
                    .collect();
                let join = join(&futures, true);
                let vars = exports.iter().map(|&i| out_var(i));
                let values = exports.iter().map(|&i| {
                    let s = slot_var(i);
                    quote!(#s.into_value())
                });
                quote! {
                    let (#(#vars,)*) = {
                        #(#slots)*
                        {
                            #join
                        }
                        (#(#values,)*)
                    };
                }
            }
        }
    }
}

/// A join of `futures` in the current task: pins each as `__flow_b{k}` and awaits them all.
/// A future marked fallible returns `Result<_, flow_runtime::Error>`, and its first error
/// returns from the enclosing function (fail-fast). A `dataflow` join polls again while a
/// pass finishes a future, since its futures wait on each other's slots without wakers.
fn join(futures: &[(TokenStream, bool)], dataflow: bool) -> TokenStream {
    let branches: Vec<Ident> = (0..futures.len()).map(branch_var).collect();
    let pins = futures.iter().zip(&branches).map(|((f, _), b)| {
        quote! {
            let mut #b = ::core::pin::pin!(::flow_runtime::__private::Maybe::new(#f));
        }
    });
    let any_fallible = futures.iter().any(|(_, fallible)| *fallible);
    let polls = futures.iter().zip(&branches).map(|((_, fallible), b)| {
        let poll = if *fallible {
            quote!(#b.as_mut().poll_branch(__flow_cx, &mut __flow_pending)?)
        } else {
            quote!(#b.as_mut().poll_done(__flow_cx, &mut __flow_pending))
        };
        if dataflow {
            quote!(__flow_progress |= #poll;)
        } else {
            quote!(#poll;)
        }
    });
    let ready = if any_fallible {
        quote!(::core::task::Poll::Ready(::core::result::Result::Ok(())))
    } else {
        quote!(::core::task::Poll::Ready(()))
    };
    let poll_body = if dataflow {
        quote! {
            loop {
                let mut __flow_pending = false;
                let mut __flow_progress = false;
                #(#polls)*
                if !__flow_pending {
                    return #ready;
                }
                if !__flow_progress {
                    return ::core::task::Poll::Pending;
                }
            }
        }
    } else {
        quote! {
            let mut __flow_pending = false;
            #(#polls)*
            if __flow_pending {
                ::core::task::Poll::Pending
            } else {
                #ready
            }
        }
    };
    let (output, question) = if any_fallible {
        (
            quote!(::core::result::Result<(), ::flow_runtime::Error>),
            quote!(?),
        )
    } else {
        (quote!(()), quote!())
    };
    quote! {
        #(#pins)*
        ::core::future::poll_fn(
            |__flow_cx: &mut ::core::task::Context<'_>| -> ::core::task::Poll<#output> {
                #poll_body
            },
        )
        .await #question;
    }
}

/// Every node a plan runs.
fn nodes_of(plan: &Plan) -> Vec<usize> {
    match plan {
        Plan::Node(i) => vec![*i],
        Plan::Seq(parts) | Plan::Par(parts) => parts.iter().flat_map(nodes_of).collect(),
        Plan::Dataflow(set) => set.clone(),
    }
}
