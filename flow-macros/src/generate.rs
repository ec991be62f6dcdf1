//! Generation: what `#[node]` and `#[workflow]` expand to, and the workflow body that runs
//! a [`Plan`] with nested joins.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Ident, ReturnType, Signature};

use crate::analyse::{self, Graph, NodeEntry, Plan, Src};
use crate::errors::Errors;
use crate::parse::{self, NodeOptions, NodeSig, ParamKind, WorkflowDecl, WorkflowSig};
use crate::types;

/// `#[node]`: the function unchanged, plus the signature callback macro, the type-namespace
/// twin that carries `INFO`, and the registry entry.
pub fn node(args: TokenStream, item: TokenStream) -> TokenStream {
    let krate = parse::crate_path(&args);
    crate::paths::reach(node_items(args, item), krate.as_ref())
}

fn node_items(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let options = parse::node_options(args.clone(), &mut errors);
    // The function is emitted as written; only its signature is parsed (its body is kept
    // as tokens).
    let func: NodeFn = match syn::parse2(item.clone()) {
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
    let sig = NodeSig::analyse(&func.sig, options.blocking.is_some(), &mut errors);
    if let Some(sig) = &sig {
        check_node_options(&options, sig, &mut errors);
    }
    if func.sig.receiver().is_some() {
        // A method: the items emitted beside a node cannot live in an `impl`.
        let errors = errors.to_compile_errors();
        return quote!(#item #errors);
    }
    let ident = &func.sig.ident;
    let vis = &func.vis;
    let (line, column) = site(ident);

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
            let policy = policy_fns(&func.sig, sig, &options);
            let params = sig
                .params
                .iter()
                .filter(|p| p.kind != ParamKind::Context)
                .map(|p| {
                    let (n, t) = (&p.name, types::display(&p.inner));
                    quote!(::flow_runtime::graph::Param::__new(#n, #t))
                });
            let output = option_tokens(sig.output.as_ref().map(|t| {
                let t = types::display(t);
                quote!(#t)
            }));
            let info = info_const(&NodeInfoTokens {
                name: &name,
                fn_name: &fn_name,
                line,
                column,
                params: quote!(#(#params),*),
                output,
                returns: &sig.returns,
                fallible: sig.fallible,
                traits: traits_tokens(&options, sig.optional),
            });
            let takes_context = sig.params.iter().any(|p| p.kind == ParamKind::Context);
            let check = match (&func.sig.output, sig.fallible) {
                (ReturnType::Type(_, ty), true) => quote_spanned! {ty.span()=>
                    const _: () = ::flow_runtime::__private::assert_fallible::<#ty>();
                },
                _ => quote!(),
            };
            quote! {
                impl #ident {
                    /// What `#[node]` recorded about this node.
                    #info

                    #policy
                }

                #[doc(hidden)]
                impl ::flow_runtime::__private::Listed for #ident {
                    const INFO: &'static ::flow_runtime::NodeInfo = #ident::INFO;
                    const CONTEXT: bool = #takes_context;
                }

                ::flow_runtime::__private::register! {
                    ::flow_runtime::__private::NodeRegistration(#ident::INFO)
                }

                #check
            }
        }
        _ => quote!(),
    };

    let errors = errors.to_compile_errors();
    let callback = callback_macro(
        ident,
        vis,
        &packet,
        quote! {
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            #vis enum #ident {}
        },
    );
    quote! {
        #item
        #errors

        #callback

        #twin
    }
}

/// A function item with its body left unparsed: what `#[node]` needs of it.
struct NodeFn {
    vis: syn::Visibility,
    sig: Signature,
}

impl Parse for NodeFn {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        input.call(syn::Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body: proc_macro2::Group = input.parse()?;
        if body.delimiter() != proc_macro2::Delimiter::Brace {
            return Err(syn::Error::new(body.span(), "expected the function's body"));
        }
        Ok(NodeFn { vis, sig })
    }
}

/// What goes into a node's `INFO`.
struct NodeInfoTokens<'a> {
    name: &'a str,
    fn_name: &'a str,
    line: u32,
    column: u32,
    params: TokenStream,
    output: TokenStream,
    returns: &'a str,
    fallible: bool,
    traits: TokenStream,
}

/// `pub const INFO: &NodeInfo`, for a node or a workflow listed as one.
fn info_const(info: &NodeInfoTokens<'_>) -> TokenStream {
    let NodeInfoTokens {
        name,
        fn_name,
        line,
        column,
        params,
        output,
        returns,
        fallible,
        traits,
    } = info;
    quote! {
        #[doc(hidden)]
        pub const INFO: &'static ::flow_runtime::NodeInfo = {
            static INFO: ::flow_runtime::NodeInfo = ::flow_runtime::NodeInfo::__new(
                #name,
                #fn_name,
                ::flow_runtime::graph::Location::__new(
                    ::core::module_path!(),
                    ::core::file!(),
                    #line,
                    #column,
                ),
                &[#params],
                #output,
                #returns,
                #fallible,
                #traits,
            );
            &INFO
        };
    }
}

/// The `NodeTraits` of a node with `options`, returning `Option<T>` when `optional`.
fn traits_tokens(options: &NodeOptions, optional: bool) -> TokenStream {
    let timeout = option_tokens(options.timeout.map(duration_tokens));
    let attempts = options.retry.as_ref().map_or(1, |r| r.max_attempts);
    let flags = [
        options.spawn.is_some(),
        options.blocking.is_some(),
        options.continue_on_error.is_some(),
        options.compensate.is_some(),
        options.rate_limit.is_some() || options.rate_limit_name.is_some(),
        options.limit.is_some() || options.limit_name.is_some(),
    ];
    quote!(::flow_runtime::graph::NodeTraits::__new(#optional, false, #timeout, #attempts, #(#flags),*))
}

/// Where `ident` is written: its line and 1-based column.
fn site(ident: &Ident) -> (u32, u32) {
    if !proc_macro::is_available() {
        return (0, 0);
    }
    let span = ident.span().unwrap();
    (span.line() as u32, span.column() as u32)
}

/// The name of the file `span` is in, as the compiler gives it.
fn file_of(span: Span) -> String {
    if !proc_macro::is_available() {
        return String::new();
    }
    span.unwrap().file()
}

/// A workflow's inputs as `Param`s, comma-separated.
fn input_params(wf: &WorkflowSig) -> TokenStream {
    let params = wf.inputs.iter().map(|i| {
        let (n, t) = (i.ident.to_string(), types::display(&i.inner));
        quote!(::flow_runtime::graph::Param::__new(#n, #t))
    });
    quote!(#(#params),*)
}

/// The hidden name of the callback macro of the node `name` written at `line` of `file`
/// (unique in its crate, and the same wherever the crate is checked out: of the file's path,
/// only its last two parts count).
fn callback_name(name: &str, file: String, line: u32) -> Ident {
    let mut parts: Vec<&str> = file.rsplit(['/', '\\']).take(2).collect();
    parts.reverse();
    // FNV-1a: the same on every toolchain.
    let key = format!("{name}\n{line}\n{}", parts.join("/"));
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format_ident!("__flow_node_{}_{:016x}", name, hash)
}

/// The `macro_rules!` through which a workflow reads the signature (its `packet`) of a
/// `kind` (a node, or a workflow listed as one), and the `use` that names it like the item.
/// Its hidden name is unique per item: the name, its kind and where it is written.
fn callback_macro(
    ident: &Ident,
    vis: &syn::Visibility,
    packet: &TokenStream,
    items: TokenStream,
) -> TokenStream {
    let macro_name = callback_name(&ident.to_string(), file_of(ident.span()), site(ident).0);
    quote! {
        #[doc(hidden)]
        #[macro_export]
        #[allow(non_local_definitions, clippy::crate_in_macro_def)]
        macro_rules! #macro_name {
            ( [ ( $($next:tt)* ) $($rest:tt)* ] ( $($final:tt)* ) $($acc:tt)* ) => {
                $($next)* ! { [ $($rest)* ] ( $($final)* ) $($acc)* #packet }
            };
            ( [ ] ( $($final:tt)* ) $($acc:tt)* ) => {
                $($final)* ! { $($acc)* #packet }
            };
        }

        // The twin: the callback macro under the item's own name in the macro namespace,
        // and an uninhabited type of the same name in the type namespace, which carries
        // what the macros generate (`INFO`, `run`, `graph`, ...). An item of the module
        // shadows a glob-imported one (`use super::*`) as any item does.
        #[doc(hidden)]
        #[allow(unused_imports)]
        #vis use #macro_name as #ident;

        #items
    }
}

/// Checks the options that depend on the node's signature.
fn check_node_options(options: &NodeOptions, sig: &NodeSig, errors: &mut Errors) {
    let name = &sig.ident;
    if options.blocking.is_some() || options.spawn.is_some() {
        let option = if options.blocking.is_some() {
            "blocking"
        } else {
            "spawn"
        };
        for p in &sig.params {
            if matches!(p.kind, ParamKind::Result | ParamKind::OptionResult) {
                errors.spanned(
                    &p.ty,
                    format!("a `{option}` node runs on another thread with its own copies of its inputs, and a node's error cannot be copied: take `Option<&{}>` instead", types::display(&p.inner)),
                );
            }
        }
    }
    if options.retry.as_ref().is_some_and(|r| r.retry_if.is_some()) && !sig.fallible {
        errors.spanned(
            options.retry.as_ref().and_then(|r| r.retry_if.as_ref()),
            format!("`retry_if` decides which errors of node `{name}` to retry, but `{name}` does not return a `Result`"),
        );
    }
}

/// A `retry(...)` as the runtime's `Retry`.
fn retry_tokens(r: &parse::RetrySpec) -> TokenStream {
    let (n, initial, factor, max, jitter) = (
        r.max_attempts,
        duration_tokens(r.initial),
        r.factor,
        duration_tokens(r.max_delay),
        r.jitter,
    );
    quote! {
        ::flow_runtime::__private::Retry {
            max_attempts: #n,
            initial: #initial,
            factor: #factor,
            max_delay: #max,
            jitter: #jitter,
        }
    }
}

fn duration_tokens(d: std::time::Duration) -> TokenStream {
    let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    quote!(::core::time::Duration::from_nanos(#nanos))
}

fn option_tokens(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    }
}

/// The functions a node with policies (or a compensation, or the run context) carries
/// beside its `INFO`: `__flow_call`, which runs it under its policy for a workflow, and
/// `__flow_compensate`. They are written here, in the node's module, so the paths given
/// in its options resolve where the user wrote them.
fn policy_fns(fn_sig: &Signature, sig: &NodeSig, options: &NodeOptions) -> TokenStream {
    let ident = &sig.ident;
    let raw = match &sig.value {
        Some(t) => t.to_token_stream(),
        None => quote!(()),
    };
    let out = match &sig.output {
        Some(t) => t.to_token_stream(),
        None => quote!(()),
    };
    let mut fns = TokenStream::new();
    let takes_context = sig.params.iter().any(|p| p.kind == ParamKind::Context);
    if options.runs_under_policy(sig) {
        let timeout = option_tokens(options.timeout.map(duration_tokens));
        let retry = option_tokens(options.retry.as_ref().map(retry_tokens));
        // Typed where they are written, so that a path of the wrong type is an error at the
        // path that quotes nothing outside the user's crate.
        let rate = option_tokens(options.rate_limit.as_ref().map(|p| {
            quote_spanned! {p.span()=> {
                let __flow_limiter: &'static ::flow_runtime::RateLimiter = &#p;
                __flow_limiter
            }}
        }));
        let limit = option_tokens(options.limit.as_ref().map(|p| {
            quote_spanned! {p.span()=> {
                let __flow_limit: &'static ::flow_runtime::ConcurrencyLimit = &#p;
                __flow_limit
            }}
        }));
        let rate_name = option_tokens(options.rate_limit_name.as_ref().map(|s| quote!(#s)));
        let limit_name = option_tokens(options.limit_name.as_ref().map(|s| quote!(#s)));
        let (check, retry_if) = match (
            options.retry.as_ref().and_then(|r| r.retry_if.as_ref()),
            &fn_sig.output,
        ) {
            (Some(p), ReturnType::Type(_, ret)) => (
                quote_spanned! {p.span()=>
                    let __flow_retry_if: fn(&<#ret as ::flow_runtime::__private::Fallible>::Error) -> bool = #p;
                },
                quote!(__flow_retry_if),
            ),
            _ => (quote!(), quote!(|_: &_| true)),
        };
        let graph_params: Vec<_> = sig
            .params
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind != ParamKind::Context)
            .collect();
        let decls = graph_params.iter().map(|(k, p)| {
            let var = format_ident!("__flow_p{}", k);
            let ty = &p.ty;
            quote!(#var: #ty)
        });
        let moved = options.blocking.is_some() || options.spawn.is_some();
        let mut prep = Vec::new();
        if takes_context {
            prep.push(quote! {
                let __flow_ctx = __flow_run.context(__flow_workflow, Self::INFO, __flow_element, __flow_attempt);
            });
        }
        let args: Vec<TokenStream> = sig
            .params
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let var = format_ident!("__flow_p{}", k);
                let span = p.ty.span();
                match (p.kind, moved) {
                    (ParamKind::Context, _) => quote!(&__flow_ctx),
                    (_, false) => quote!(#var),
                    (ParamKind::Option, true) => {
                        let inner = &p.inner;
                        prep.push(quote_spanned! {span=>
                            let #var = ::core::option::Option::map(#var, <#inner as ::core::clone::Clone>::clone);
                        });
                        quote!(::core::option::Option::as_ref(&#var))
                    }
                    // Its own copy: a clone, or for `&[T]` (`&str`) the owned form (a
                    // `Vec<T>`, a `String`), lent back to the function as the slice.
                    (_, true) => {
                        let inner = &p.inner;
                        prep.push(quote_spanned! {span=>
                            let #var = <#inner as ::std::borrow::ToOwned>::to_owned(#var);
                        });
                        quote!(&#var)
                    }
                }
            })
            .collect();
        let is_async = fn_sig.asyncness.is_some();
        let await_ = is_async.then(|| quote!(.await));
        let body = if sig.fallible {
            quote!(#ident(#(#args),*) #await_)
        } else {
            quote!(::core::result::Result::Ok::<_, ::core::convert::Infallible>(#ident(#(#args),*) #await_))
        };
        let attempt = if options.spawn.is_some() {
            quote!(::flow_runtime::__private::spawn(async move { #body }))
        } else if options.blocking.is_some() && is_async {
            quote!(::flow_runtime::__private::block_on_blocking(async move { #body }))
        } else if options.blocking.is_some() {
            quote!(::flow_runtime::__private::spawn_blocking(move || #body))
        } else {
            quote!(async move { #body })
        };
        fns.extend(quote! {
            /// Runs the node under its policy for a workflow, with the workflow's
            /// `defaults(...)` where the node sets nothing of its own.
            #[doc(hidden)]
            #[allow(clippy::too_many_arguments)]
            pub async fn __flow_call<__FlowGate: ::flow_runtime::__private::Gate>(
                __flow_run: &::flow_runtime::__private::Run<'_, __FlowGate>,
                __flow_workflow: &'static str,
                __flow_element: ::core::option::Option<usize>,
                __flow_defaults: ::core::option::Option<&'static ::flow_runtime::__private::Policy>,
                #(#decls),*
            ) -> ::core::result::Result<#raw, ::flow_runtime::Error> {
                static __FLOW_POLICY: ::flow_runtime::__private::Policy = ::flow_runtime::__private::Policy {
                    timeout: #timeout,
                    retry: #retry,
                    rate_limit: #rate,
                    limit: #limit,
                    rate_limit_name: #rate_name,
                    limit_name: #limit_name,
                };
                #check
                let __flow_merged;
                let __flow_policy = match __flow_defaults {
                    ::core::option::Option::None => &__FLOW_POLICY,
                    ::core::option::Option::Some(__flow_d) => {
                        __flow_merged = __FLOW_POLICY.with_defaults(__flow_d);
                        &__flow_merged
                    }
                };
                ::flow_runtime::__private::call(
                    __flow_run,
                    __flow_workflow,
                    Self::INFO,
                    __flow_element,
                    __flow_policy,
                    |__flow_attempt: u32| {
                        #(#prep)*
                        #attempt
                    },
                    #retry_if,
                )
                .await
            }
        });
    }
    if let Some(path) = &options.compensate {
        let call = quote_spanned!(path.span()=> #path(__flow_out));
        fns.extend(quote! {
            /// Runs the node's compensation on its output.
            #[doc(hidden)]
            pub fn __flow_compensate(
                __flow_out: &#out,
            ) -> impl ::core::future::Future<Output = ::core::result::Result<(), ::flow_runtime::BoxError>> + '_ {
                async move {
                    match #call.await {
                        ::core::result::Result::Ok(()) => ::core::result::Result::Ok(()),
                        ::core::result::Result::Err(e) => ::core::result::Result::Err(
                            ::flow_runtime::__private::IntoNodeError::into_node_error(e),
                        ),
                    }
                }
            }
        });
    }
    fns
}

/// `#[workflow]`: the function with the same name and inputs returning
/// `Result<Output, flow_runtime::Error>`, whose body is the chain of node callbacks that
/// ends in [`expand`]; the type-namespace twin with `graph()`; the registry entry.
pub fn workflow(args: TokenStream, item: TokenStream) -> TokenStream {
    let krate = parse::crate_path(&args);
    crate::paths::reach(workflow_items(args, item), krate.as_ref())
}

fn workflow_items(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let wf_args = parse::workflow_args(args.clone(), &mut errors);
    let mut decl: WorkflowDecl = match syn::parse2(item.clone()) {
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
    // `-> ()` is no return type: the code written for it must not repeat the `()`.
    if let ReturnType::Type(_, ty) = &decl.sig.output
        && types::is_unit(ty)
    {
        decl.sig.output = ReturnType::Default;
    }
    if let Some(body) = &decl.body {
        errors.spanned(
            body,
            "a workflow is declared without a body: end the declaration with `;` and the macro writes the body that runs the nodes",
        );
    }
    let wf_sig = WorkflowSig::analyse(&decl.sig, &mut errors);
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
    fn_sig.output = result_type(&decl.sig);

    let ok = errors.is_empty();
    let durable = wf_args.durable.is_some();
    // The one expansion that sees every node's signature: it writes `graph()`, the one
    // body every entry point runs (generic over how its nodes are admitted) and the
    // registry entry, so each mistake is reported once. If it cannot expand (a listed name
    // is not a node), `Unexpanded` stands in for its items and nothing follows on.
    let items = if ok {
        // A node listed by one name that its module defines is reached by its callback
        // macro's unique name: there it shadows a glob-imported node of the same name
        // (see `scope`).
        let own = crate::scope::own_nodes(Span::call_site());
        let file = file_of(Span::call_site());
        // `name`, or `self::name`.
        let single = |p: &syn::Path| match p.segments.len() {
            1 => p.get_ident().cloned(),
            2 if p.leading_colon.is_none()
                && p.segments[0].ident == "self"
                && p.segments.iter().all(|s| s.arguments.is_empty()) =>
            {
                Some(p.segments[1].ident.clone())
            }
            _ => None,
        };
        let twin = |p: &syn::Path| match single(p) {
            Some(name) => match own.iter().find(|(n, _)| name == n) {
                Some((n, line)) => {
                    let unique = callback_name(n, file.clone(), u32::try_from(*line).unwrap_or(0));
                    quote!(#unique)
                }
                None => quote!(#p),
            },
            None => quote!(#p),
        };
        let first = twin(&wf_args.nodes[0]);
        let rest = wf_args.nodes[1..].iter().map(|p| {
            let p = twin(p);
            quote!((#p))
        });
        let sig = &decl.sig;
        quote! {
            #first ! { [ #(#rest)* ] (::flow_runtime::__private::workflow) { #args } { #sig } }
        }
    } else {
        quote!()
    };
    let allow = (!ok).then(|| quote!(#[allow(unused_variables)]));
    let errors = errors.to_compile_errors();

    let wf_name = parse::name_or(&wf_args.name, ident);
    let max_concurrency = option_tokens(wf_args.max_concurrency.map(|n| quote!(#n)));
    let timeout = option_tokens(wf_args.timeout.map(duration_tokens));
    // The plain calls of a workflow without options whose nodes take no run context run
    // under `Open` when nobody listens; `__FLOW_OPEN` (from the expansion) says which.
    let gate = if wf_args.max_concurrency.is_some() {
        quote!(::flow_runtime::__private::Limits)
    } else {
        quote!(<::flow_runtime::__private::Pick<{ #ident::__FLOW_OPEN }> as ::flow_runtime::__private::PlainGate>::Gate)
    };
    // Without run-wide limits, the plain function picks once per run between a body whose
    // nodes report nothing (`Open`, as fast as hand-written joins) and, when a subscriber
    // may listen, `__flow_nested` under `Watched`, whose nodes report spans.
    let nested_gate = if wf_args.max_concurrency.is_some() {
        quote!(::flow_runtime::__private::Limits)
    } else {
        quote!(::flow_runtime::__private::Watched)
    };
    let input_names: Vec<TokenStream> = decl
        .sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            syn::FnArg::Typed(t) => Some(t.pat.to_token_stream()),
            syn::FnArg::Receiver(_) => None,
        })
        .collect();
    let options = if input_names.iter().any(|n| n.to_string() == "options") {
        format_ident!("run_options")
    } else {
        format_ident!("options")
    };
    let output = &fn_sig.output;
    let settings = quote! {
        ::flow_runtime::__private::Settings {
            max_concurrency: #max_concurrency,
            timeout: #timeout,
        }
    };
    // As a node of another workflow, and in the plain function: the inputs by reference.
    // (The plain function awaits the body's guard itself rather than `__flow_nested`: one
    // future less to move costs a third of a small workflow's overhead.)
    let ref_inputs: Vec<TokenStream> = decl
        .sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            syn::FnArg::Typed(t) => {
                let (pat, ty) = (&t.pat, &t.ty);
                Some(match &**ty {
                    syn::Type::Reference(_) => quote!(#pat: #ty),
                    _ => quote!(#pat: &#ty),
                })
            }
            syn::FnArg::Receiver(_) => None,
        })
        .collect();
    let borrowed_inputs: Vec<TokenStream> = wf_sig
        .inputs
        .iter()
        .map(|i| {
            let ident = &i.ident;
            if i.by_ref {
                quote!(#ident)
            } else {
                quote!(&#ident)
            }
        })
        .collect();
    let nested_body = if ok {
        quote! {
            use ::flow_runtime::__private::Unexpanded as _;
            // A sub-workflow of a durable run records its nodes in its parent's journal.
            let __flow_run = ::flow_runtime::__private::Run::<#nested_gate>::within(#wf_name, &#settings, __flow_journal);
            let __flow_result = Self::__flow_body(&__flow_run, (#(#input_names,)*)).await;
            __flow_run.finish(&__flow_result);
            __flow_result
        }
    } else {
        quote!(::core::unreachable!())
    };
    let (plain_body, run_body) = if ok {
        (
            quote! {
                use ::flow_runtime::__private::Unexpanded as _;
                type __FlowPlain = #gate;
                if <__FlowPlain as ::flow_runtime::__private::Gate>::QUIET
                    && ::flow_runtime::__private::listening()
                {
                    // Boxed, run and all: the plain function's future stays as small, and
                    // as cheap to drop, as when nobody listens.
                    return ::flow_runtime::__private::Cold::new(#ident::__flow_nested(::core::option::Option::None, #(#borrowed_inputs),*)).await;
                }
                let __flow_run = ::flow_runtime::__private::Run::<__FlowPlain>::plain(#wf_name, &#settings);
                let __flow_result = #ident::__flow_body(&__flow_run, (#(#borrowed_inputs,)*)).await;
                __flow_run.finish(&__flow_result);
                __flow_result
            },
            if durable {
                quote! {
                    use ::flow_runtime::__private::Unexpanded as _;
                    let __flow_run = ::flow_runtime::__private::Run::<::flow_runtime::__private::Limits>::new(
                        #wf_name,
                        &#settings,
                        #options,
                    );
                    Self::__flow_durable(&__flow_run, (#(#borrowed_inputs,)*)).await
                }
            } else {
                quote! {
                    use ::flow_runtime::__private::Unexpanded as _;
                    let __flow_run = ::flow_runtime::__private::Run::<::flow_runtime::__private::Limits>::new(
                        #wf_name,
                        &#settings,
                        #options,
                    );
                    // A store is never ignored: only a durable workflow journals its runs.
                    let __flow_result = match ::flow_runtime::__private::not_durable(&__flow_run, #wf_name)
                        .or_else(|| __flow_run.check_options(Self::graph()))
                    {
                        ::core::option::Option::Some(__flow_e) => ::core::result::Result::Err(__flow_e),
                        ::core::option::Option::None => {
                            Self::__flow_body(&__flow_run, (#(#borrowed_inputs,)*)).await
                        }
                    };
                    __flow_run.finish(&__flow_result);
                    __flow_result
                }
            },
        )
    } else {
        (
            quote!(::core::unreachable!()),
            quote!(::core::unreachable!()),
        )
    };
    // What lets another workflow list this one as a node: the callback macro with a node's
    // packet (inputs by reference, output as a fallible node's), `INFO`, `__flow_call`.
    let (line, column) = site(ident);
    let out_ty = match &decl.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    let packet = if ok {
        let durable_flag = durable.then(|| quote!(, __flow_durable));
        quote!([ { __flow_workflow #durable_flag } async fn #ident(#(#ref_inputs),*) -> ::core::result::Result<#out_ty, ::flow_runtime::Error> ])
    } else {
        quote!([poisoned])
    };
    // The twin type's `graph()` and `run(options, inputs...)`: `run` forwards to the
    // `RunWith` impl written beside the workflow (generic over its inputs, so a call with
    // the wrong inputs says so).
    let generics: Vec<Ident> = (0..input_names.len())
        .map(|k| format_ident!("I{}", k))
        .collect();
    let resume_doc = format!(
        " Continues a run of durable workflow `{ident}` from its store, on the inputs the store recorded: `options` name the run (`run_id`) and the store. What completed is read back, not run again; a finished run returns what it recorded. An unknown run id is an `ErrorKind::UnknownRun` error."
    );
    let resume_item = if durable {
        quote! {
            #[doc = #resume_doc]
            pub fn resume<'o>(
                #options: ::flow_runtime::RunOptions<'o>,
            ) -> impl ::core::future::Future<
                Output = <Self as ::flow_runtime::__private::ResumeWith<'o>>::Output,
            > + use<'o>
            where
                Self: ::flow_runtime::__private::ResumeWith<'o>,
            {
                <Self as ::flow_runtime::__private::ResumeWith<'o>>::resume(#options)
            }
        }
    } else {
        quote!()
    };
    let graph_doc =
        format!(" The static graph of workflow `{ident}`: its inputs, nodes, edges and output.");
    let out_text = match &decl.sig.output {
        ReturnType::Default => "()".to_string(),
        ReturnType::Type(_, ty) => types::display(ty),
    };
    let run_doc = format!(
        " Runs workflow `{ident}` with per-call `flow_runtime::RunOptions` (a run id, a cancellation token, a timeout or deadline, concurrency limits, an observer, a store) on its inputs, in the order `{ident}` takes them. Resolves to `Result<{out_text}, flow_runtime::Error>`."
    );
    let module_items = if ok {
        quote! {
            #[doc = #graph_doc]
            pub fn graph() -> &'static ::flow_runtime::WorkflowGraph {
                use ::flow_runtime::__private::Unexpanded as _;
                Self::__flow_graph()
            }

            #[doc = #run_doc]
            #[allow(clippy::too_many_arguments)]
            pub fn run<'o, #(#generics),*>(
                #options: ::flow_runtime::RunOptions<'o>,
                #(#input_names: #generics),*
            ) -> impl ::core::future::Future<
                Output = <Self as ::flow_runtime::__private::RunWith<'o, (#(#generics,)*)>>::Output,
            > + use<'o, #(#generics),*>
            where
                Self: ::flow_runtime::__private::RunWith<'o, (#(#generics,)*)>,
            {
                <Self as ::flow_runtime::__private::RunWith<'o, (#(#generics,)*)>>::run(
                    #options,
                    (#(#input_names,)*),
                )
            }

            #resume_item
        }
    } else {
        quote! {
            #[allow(clippy::too_many_arguments, unused_variables)]
            pub fn run<'o, __FlowOut, #(#generics),*>(
                options: ::flow_runtime::RunOptions<'o>,
                #(#generics: #generics),*
            ) -> ::core::future::Pending<__FlowOut> {
                ::core::unreachable!()
            }
        }
    };
    let twin_doc = format!(
        " Workflow `{ident}`: [`run`]({ident}::run) runs it with per-call options, [`graph`]({ident}::graph) describes it. (`{ident}(...)` itself runs it on its inputs.)"
    );
    // The workflow's own docs on the twin too, where `run` and `graph` are listed.
    let user_docs: Vec<&syn::Attribute> = decl
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .collect();
    let twin_docs = if user_docs.is_empty() {
        quote!(#[doc = #twin_doc])
    } else {
        quote!(#(#user_docs)* #[doc = ""] #[doc = #twin_doc])
    };
    let callback = callback_macro(
        ident,
        vis,
        &packet,
        quote! {
            #twin_docs
            #[allow(non_camel_case_types)]
            #vis enum #ident {}

            #[allow(clippy::too_many_arguments)]
            impl #ident {
                #module_items
            }
        },
    );
    // `run`'s body, for the inputs as `run` receives them.
    let run_with = if ok {
        let (pats, tys): (Vec<_>, Vec<_>) = decl
            .sig
            .inputs
            .iter()
            .filter_map(|arg| match arg {
                syn::FnArg::Typed(t) => {
                    let mut ty = (*t.ty).clone();
                    types::name_elided_lifetimes(&mut ty, "'__flow_x");
                    Some((t.pat.to_token_stream(), ty.to_token_stream()))
                }
                syn::FnArg::Receiver(_) => None,
            })
            .unzip();
        let named = tys.iter().any(|t| t.to_string().contains("'__flow_x"));
        let x = named.then(|| quote!('__flow_x,));
        quote! {
            #[doc(hidden)]
            impl<'o, #x> ::flow_runtime::__private::RunWith<'o, (#(#tys,)*)> for #ident {
                type Output = ::core::result::Result<#out_ty, ::flow_runtime::Error>;

                #[allow(unused_variables, unreachable_code)]
                fn run(
                    #options: ::flow_runtime::RunOptions<'o>,
                    (#(#pats,)*): (#(#tys,)*),
                ) -> impl ::core::future::Future<Output = Self::Output> {
                    async move {
                        #run_body
                    }
                }
            }
        }
    } else {
        quote!()
    };
    // How a durable run records each input: written once, at the input's type, so that a
    // type that cannot be recorded is one error there.
    let codecs = if ok && durable {
        let (tys, codecs): (Vec<_>, Vec<_>) = wf_sig
            .inputs
            .iter()
            .map(|input| {
                let inner = &input.inner;
                let codec = quote_spanned!(input.inner.span()=> ::flow_runtime::__private::codec::<#inner>());
                (quote!(::flow_runtime::__private::Codec<#inner>), codec)
            })
            .unzip();
        quote! {
            #[doc(hidden)]
            fn __flow_codecs() -> (#(#tys,)*) {
                (#(#codecs,)*)
            }
        }
    } else {
        quote!()
    };
    // `resume`'s body: the inputs decoded from the store, each at its type's token.
    let resume_with = if ok && durable {
        let decoded = wf_sig.inputs.iter().enumerate().map(|(k, _)| {
            let var = format_ident!("__flow_in{}", k);
            let field = syn::Index::from(k);
            quote! {
                let #var = match ::flow_runtime::__private::recorded_input(__flow_codecs.#field, &__flow_inputs, #k, #wf_name) {
                    ::core::result::Result::Ok(__flow_v) => __flow_v,
                    ::core::result::Result::Err(__flow_e) => return ::core::result::Result::Err(__flow_e),
                };
            }
        });
        let passed = (0..wf_sig.inputs.len()).map(|k| {
            let var = format_ident!("__flow_in{}", k);
            quote!(&#var)
        });
        quote! {
            #[doc(hidden)]
            impl<'o> ::flow_runtime::__private::ResumeWith<'o> for #ident {
                type Output = ::core::result::Result<#out_ty, ::flow_runtime::Error>;

                #[allow(unused_variables, unreachable_code)]
                fn resume(
                    #options: ::flow_runtime::RunOptions<'o>,
                ) -> impl ::core::future::Future<Output = Self::Output> {
                    async move {
                        use ::flow_runtime::__private::Unexpanded as _;
                        let __flow_run = ::flow_runtime::__private::Run::<::flow_runtime::__private::Limits>::new(
                            #wf_name,
                            &#settings,
                            #options,
                        );
                        let __flow_inputs = match ::flow_runtime::__private::recorded_inputs(&__flow_run, Self::graph()) {
                            ::core::result::Result::Ok(__flow_v) => __flow_v,
                            ::core::result::Result::Err(__flow_e) => return ::core::result::Result::Err(__flow_e),
                        };
                        let __flow_codecs = Self::__flow_codecs();
                        #(#decoded)*
                        Self::__flow_durable(&__flow_run, (#(#passed,)*)).await
                    }
                }
            }
        }
    } else {
        quote!()
    };
    // What a backend drives it by (`flow_runtime::store::backend`): written here, so that
    // a workflow whose graph has a mistake still names one.
    let backend = if ok && durable {
        backend_impl(
            &decl.sig,
            &wf_sig,
            &[],
            &wf_name,
            max_concurrency.clone(),
            timeout.clone(),
        )
    } else {
        quote!()
    };
    let as_node = if ok {
        let fn_name = ident.to_string();
        let params = input_params(&wf_sig);
        let provided = option_tokens(wf_sig.output.as_ref().filter(|t| !types::is_unit(t)).map(
            |t| {
                let t = types::display(t);
                quote!(#t)
            },
        ));
        let returns = format!(
            "Result<{}, flow_runtime::Error>",
            wf_sig
                .output
                .as_ref()
                .map_or("()".to_string(), types::display)
        );
        let info = info_const(&NodeInfoTokens {
            name: &wf_name,
            fn_name: &fn_name,
            line,
            column,
            params,
            output: provided,
            returns: &returns,
            fallible: true,
            traits: quote!(::flow_runtime::graph::NodeTraits::__new(
                false,
                true,
                ::core::option::Option::None,
                1,
                false,
                false,
                false,
                false,
                false,
                false,
            )),
        });
        quote! {
            /// What `#[workflow]` recorded about this workflow as a node of another one.
            #info

            /// Runs the workflow as a node of another workflow.
            #[doc(hidden)]
            pub async fn __flow_call<__FlowGate: ::flow_runtime::__private::Gate>(
                __flow_parent: &::flow_runtime::__private::Run<'_, __FlowGate>,
                __flow_workflow: &'static str,
                __flow_element: ::core::option::Option<usize>,
                // A sub-workflow keeps its own options: the parent's defaults are not its.
                _: ::core::option::Option<&'static ::flow_runtime::__private::Policy>,
                #(#ref_inputs),*
            ) #output {
                __flow_parent
                    .watched(
                        Self::INFO,
                        __flow_element,
                        ::flow_runtime::__private::Passed,
                        Self::__flow_nested(__flow_parent.scope(Self::INFO, __flow_element), #(#input_names),*),
                    )
                    .await
            }
        }
    } else {
        quote!()
    };
    let listed = if ok {
        quote! {
            #[doc(hidden)]
            impl ::flow_runtime::__private::Listed for #ident {
                const INFO: &'static ::flow_runtime::NodeInfo = #ident::INFO;
                const CONTEXT: bool = false;
            }
        }
    } else {
        quote!()
    };
    let fn_more = format!(
        " The workflow's per-call form is [`{ident}::run`](enum@{ident}) (a run id, a cancellation token, a deadline, an observer, a store); [`{ident}::graph`](enum@{ident}) describes its graph."
    );
    quote! {
        #errors

        #(#attrs)*
        #[doc = ""]
        #[doc = #fn_more]
        #allow
        #[allow(unreachable_code)]
        #vis #fn_sig {
            #plain_body
        }

        #callback

        #[allow(unreachable_code, dead_code, clippy::too_many_arguments)]
        impl #ident {
            #[allow(unused_variables, clippy::too_many_arguments)]
            /// Runs the workflow on borrowed inputs in a run that may report (as a
            /// sub-workflow, or when a subscriber may listen).
            async fn __flow_nested(
                __flow_journal: ::core::option::Option<::flow_runtime::__private::Journal<'_>>,
                #(#ref_inputs),*
            ) #output {
                #nested_body
            }

            #as_node

            #codecs
        }

        #run_with

        #resume_with

        #backend

        #[doc(hidden)]
        impl ::flow_runtime::__private::Unexpanded for #ident {}

        #listed

        #items
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

/// The end of the callback chain: `{ workflow args } { workflow signature }`
/// followed by one packet per node, in list order.
struct ExpandInput {
    args: TokenStream,
    sig: Signature,
    packets: Vec<Packet>,
}

impl Parse for ExpandInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let (args, sig);
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
        Ok(ExpandInput { args, sig, packets })
    }
}

/// The proc macro at the end of the chain: sees every node's signature, checks the graph,
/// and writes either the workflow's body or its static graph.
pub fn expand(input: TokenStream) -> TokenStream {
    let input: ExpandInput = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let krate = parse::crate_path(&input.args);
    crate::paths::reach(expand_items(input), krate.as_ref())
}

fn expand_items(input: ExpandInput) -> TokenStream {
    // Nothing to write when a node already reported its errors: `Unexpanded` stands in.
    let unreachable = quote!();
    // The body takes the inputs by reference.
    let nested = true;
    // The attribute already reported these; here they are known to be valid.
    let mut reported = Errors::default();
    let wf_args = parse::workflow_args(input.args.clone(), &mut reported);
    let wf_sig = WorkflowSig::analyse(&input.sig, &mut reported);
    let mut node_sigs = Vec::new();
    let mut node_options = Vec::new();
    for packet in &input.packets {
        match packet {
            Packet::Poisoned => return unreachable,
            Packet::Node { args, sig } => {
                let options = parse::node_options(args.clone(), &mut reported);
                let Some(node_sig) =
                    NodeSig::analyse(sig, options.blocking.is_some(), &mut reported)
                else {
                    return unreachable;
                };
                node_sigs.push(node_sig);
                node_options.push(options);
            }
        }
    }
    if !reported.is_empty() || node_sigs.len() != wf_args.nodes.len() {
        return unreachable;
    }
    apply_defaults(&wf_args, &wf_sig, &node_sigs, &mut node_options);
    let wf_name = parse::name_or(&wf_args.name, &wf_sig.ident);
    let entries: Vec<NodeEntry<'_>> = wf_args
        .nodes
        .iter()
        .zip(&wf_args.shapes)
        .zip(&node_sigs)
        .zip(&node_options)
        .map(|(((path, shape), sig), options)| {
            let provides = match shape {
                parse::Shape::Map(spec) => analyse::mapped_type(
                    sig.value.as_ref(),
                    spec.continue_on_error || options.continue_on_error.is_some(),
                ),
                _ => sig.output.clone(),
            };
            NodeEntry {
                path,
                sig,
                options,
                name: parse::name_or(&options.name, &sig.ident),
                shape,
                provides,
            }
        })
        .collect();
    let mut errors = Errors::default();
    // A durable workflow records its sub-workflows' nodes too: they must be durable.
    if wf_args.durable.is_some() {
        for entry in &entries {
            if entry.options.workflow && !entry.options.durable_workflow {
                errors.spanned(
                    entry.path,
                    format!(
                        "`{}` is a workflow that is not durable, listed in durable workflow `{wf_name}`: a durable workflow records its sub-workflows' nodes too; add `durable` to `{}`'s `#[workflow(...)]`",
                        entry.name, entry.name
                    ),
                );
            }
        }
    }
    let Some(graph) = analyse::build(
        &wf_name,
        &wf_sig,
        &entries,
        &wf_args.races,
        &wf_args.after,
        &mut errors,
    ) else {
        return errors.to_compile_errors();
    };
    if !errors.is_empty() {
        return errors.to_compile_errors();
    }
    let ident = &wf_sig.ident;
    let graph_static = graph_static(&wf_name, &input.sig, &wf_sig, &entries, &graph);
    let body = body_fn(
        &input.sig,
        Body {
            wf_name: &wf_name,
            wf: &wf_sig,
            nodes: &entries,
            graph: &graph,
            nested,
            durable: wf_args.durable.is_some(),
            defaults: wf_args.defaults.as_ref(),
        }
        .generate(),
    );
    let (durable, backend) = if wf_args.durable.is_some() {
        let body = Body {
            wf_name: &wf_name,
            wf: &wf_sig,
            nodes: &entries,
            graph: &graph,
            nested,
            durable: true,
            defaults: wf_args.defaults.as_ref(),
        };
        let max_concurrency = option_tokens(wf_args.max_concurrency.map(|n| quote!(#n)));
        let durable = durable_fn(&input.sig, &wf_sig, &entries, &graph);
        let invoke = body.invoke_fn();
        let visits = entries.iter().map(|n| {
            let path = n.path;
            if n.options.workflow {
                quote!(__flow_visitor.workflow::<#path>();)
            } else {
                quote!(__flow_visitor.node::<#path>(#wf_name, Self::__flow_invoke);)
            }
        });
        let _ = max_concurrency;
        (
            quote! {
                #durable
                #invoke

                /// Shows a backend every node and sub-workflow of this workflow.
                #[doc(hidden)]
                pub fn __flow_visit<__FlowV: ::flow_runtime::__private::backend::Visitor>(
                    __flow_visitor: &mut __FlowV,
                ) {
                    #(#visits)*
                }
            },
            quote!(),
        )
    } else {
        (quote!(), quote!())
    };
    // `Open` runs for a workflow without options whose nodes take no run context.
    let open = wf_args.max_concurrency.is_none()
        && wf_args.timeout.is_none()
        && !node_sigs
            .iter()
            .any(|sig| sig.params.iter().any(|p| p.kind == ParamKind::Context));
    quote! {
        #[allow(unreachable_code, dead_code, clippy::too_many_arguments)]
        impl #ident {
            /// The static graph of this workflow: its inputs, nodes, edges and output.
            #[doc(hidden)]
            pub fn __flow_graph() -> &'static ::flow_runtime::WorkflowGraph {
                #graph_static
            }

            /// Whether the plain function runs under `Open` when nobody listens.
            #[doc(hidden)]
            pub const __FLOW_OPEN: bool = #open;

            #body

            #durable
        }

        #backend

        ::flow_runtime::__private::register! {
            ::flow_runtime::__private::WorkflowRegistration(#ident::__flow_graph)
        }
    }
}

/// The workflow's `defaults(...)`, on every node that does not set its own: a timeout and a
/// retry policy for each node (not a sub-workflow, which keeps its own options), and
/// `continue_on_error` for each node that can hand its failure to its consumers (every
/// consumer takes `Option<&T>`, `Result<&T, _>` or a `&[Result<T, _>]` list; it is not the
/// workflow's output, a map or a race member). A node whose consumers take `&T` keeps
/// failing the run: a default never swallows an error.
fn apply_defaults(
    wf_args: &parse::WorkflowArgs,
    wf: &WorkflowSig,
    sigs: &[NodeSig],
    options: &mut [NodeOptions],
) {
    for (o, sig) in options.iter_mut().zip(sigs) {
        o.own_call = o.runs_under_policy(sig);
    }
    let Some(d) = &wf_args.defaults else {
        return;
    };
    let racing: Vec<usize> = wf_args
        .races
        .iter()
        .flat_map(|r| r.members.clone())
        .collect();
    for (i, (o, sig)) in options.iter_mut().zip(sigs).enumerate() {
        if o.workflow {
            continue;
        }
        if o.timeout.is_none() && d.timeout.is_some() {
            o.timeout = d.timeout;
            o.defaulted = true;
        }
        if o.retry.is_none() && d.retry.is_some() {
            o.retry = d.retry.clone();
            o.defaulted = true;
        }
        let Some(span) = d.continue_on_error else {
            continue;
        };
        let Some(out) = &sig.output else { continue };
        if o.continue_on_error.is_some()
            || o.compensate.is_some()
            || racing.contains(&i)
            || !matches!(wf_args.shapes[i], parse::Shape::Once)
        {
            continue;
        }
        let mut keys = vec![types::key(out)];
        keys.extend(sig.parts.iter().map(|p| types::key(&p.inner)));
        let output = wf
            .output
            .as_ref()
            .is_some_and(|t| keys.contains(&types::key(t)));
        let mut consumed = false;
        let mut blocked = output;
        for (c, other) in sigs.iter().enumerate() {
            if c == i {
                continue;
            }
            for p in &other.params {
                let inner = &p.inner;
                let over_key = types::key(&syn::parse_quote!(Vec<#inner>));
                if keys.contains(&p.key) {
                    consumed = true;
                    blocked |= p.kind == ParamKind::Ref;
                } else if let Some((elem, tolerant)) =
                    types::element_type(&p.inner).map(types::tolerated)
                    && keys.contains(&types::key(elem))
                {
                    consumed = true;
                    blocked |= !tolerant;
                } else if keys.contains(&over_key) {
                    // A map over the node's `Vec`: it needs the whole value.
                    consumed = true;
                    blocked = true;
                }
            }
        }
        if consumed && !blocked {
            o.continue_on_error = Some(span);
            o.defaulted = true;
        }
    }
}

/// `Result<Output, flow_runtime::Error>` for a workflow declared with `sig`.
fn result_type(sig: &Signature) -> syn::ReturnType {
    let (out_ty, out_span) = match &sig.output {
        ReturnType::Default => (quote!(()), sig.ident.span()),
        ReturnType::Type(_, ty) => (ty.to_token_stream(), ty.span()),
    };
    syn::parse_quote_spanned! {out_span=>
        -> ::core::result::Result<#out_ty, ::flow_runtime::Error>
    }
}

/// Whether a value made of tuple elements `parts` is journaled by a codec of its own (see
/// [`codec_tokens`]).
fn own_codec(parts: &[parse::Part]) -> bool {
    parts.iter().any(|p| p.optional) && parts.len() <= 12
}

/// The codec that journals a value, written at `span` (a type that cannot be recorded is
/// an error there): an `Option` (`optional`) of it, or not; a tuple with `Option` elements
/// (`parts`) writes each as a branch's `Option` is, so that `Some` of a value written as
/// `null` reads back as `Some`. A node's output and a workflow's (which a parent listing
/// the workflow as a node reads) are written alike.
fn codec_tokens(parts: &[parse::Part], optional: bool, span: Span) -> TokenStream {
    if own_codec(parts) {
        let f = if optional {
            format_ident!("codec_option_parts{}", parts.len())
        } else {
            format_ident!("codec_parts{}", parts.len())
        };
        let parts = parts.iter().map(|p| {
            if p.optional {
                quote!(::flow_runtime::__private::parts::Opt<_>)
            } else {
                quote!(::flow_runtime::__private::parts::Plain<_>)
            }
        });
        return quote_spanned!(span=> ::flow_runtime::__private::parts::#f::<#(#parts),*>());
    }
    if optional {
        quote_spanned!(span=> ::flow_runtime::__private::codec_option())
    } else {
        quote_spanned!(span=> ::flow_runtime::__private::codec())
    }
}

/// The codec of a durable workflow's output, at `span` (see [`codec_tokens`]).
fn output_codec(output: Option<&syn::Type>, span: Span) -> TokenStream {
    codec_tokens(&parse::tuple_parts(output), false, span)
}

/// A durable workflow's journaled run (for `run` and `resume`): begins the run in its store
/// (or returns what a finished run recorded), runs the body, and records the end. Each
/// input is encoded at its type's token, and the output decoded and encoded at the token
/// of the type its node returns, so that a type that cannot be recorded is an error there.
fn durable_fn(
    sig: &Signature,
    wf: &WorkflowSig,
    nodes: &[NodeEntry<'_>],
    graph: &Graph,
) -> TokenStream {
    let (pats, tys) = borrowed_inputs(sig);
    let encoded = wf.inputs.iter().enumerate().map(|(k, input)| {
        let ident = &input.ident;
        let k = syn::Index::from(k);
        quote!(::flow_runtime::__private::durable_input(__flow_codecs.#k, #ident))
    });
    let out_ty = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    let out_span = graph
        .output
        .and_then(|i| nodes[i].sig.output.as_ref().map(|t| t.span()))
        .or_else(|| wf.output.as_ref().map(|t| t.span()))
        .unwrap_or_else(Span::call_site);
    let codec = output_codec(wf.output.as_ref(), out_span);
    quote! {
        #[allow(unused_variables, clippy::too_many_arguments)]
        async fn __flow_durable<'__flow_r>(
            __flow_run: &'__flow_r ::flow_runtime::__private::Run<'_, ::flow_runtime::__private::Limits>,
            (#(#pats,)*): (#(#tys,)*),
        ) -> ::core::result::Result<#out_ty, ::flow_runtime::Error> {
            let __flow_codecs = Self::__flow_codecs();
            if let ::core::option::Option::Some(__flow_e) = __flow_run.check_options(Self::graph()) {
                let __flow_result = ::core::result::Result::Err(__flow_e);
                __flow_run.finish(&__flow_result);
                return __flow_result;
            }
            let __flow_result = if __flow_run.journal().is_none() {
                Self::__flow_body(__flow_run, (#(#pats,)*)).await
            } else {
                match ::flow_runtime::__private::begin(__flow_run, Self::graph(), ::std::vec![#(#encoded),*], #codec) {
                    ::core::result::Result::Err(__flow_e) => ::core::result::Result::Err(__flow_e),
                    ::core::result::Result::Ok(::flow_runtime::__private::Begin::Done(__flow_r)) => __flow_r,
                    ::core::result::Result::Ok(::flow_runtime::__private::Begin::Run) => {
                        ::flow_runtime::__private::end(__flow_run, Self::__flow_body(__flow_run, (#(#pats,)*)).await, #codec)
                    }
                }
            };
            __flow_run.finish(&__flow_result);
            __flow_result
        }
    }
}

/// What a backend drives a durable workflow by (`flow_runtime::store::backend`): its inputs
/// and output as JSON, its body under a driver, its nodes one by one on a worker.
fn backend_impl(
    sig: &Signature,
    wf: &WorkflowSig,
    nodes: &[NodeEntry<'_>],
    wf_name: &str,
    max_concurrency: TokenStream,
    timeout: TokenStream,
) -> TokenStream {
    let ident = &wf.ident;
    let backend = quote!(::flow_runtime::__private::backend);
    let in_tys: Vec<&syn::Type> = wf.inputs.iter().map(|i| &i.inner).collect();
    // A tuple output with `Option` elements travels as its codec writes it.
    let own_codec = own_codec(&parse::tuple_parts(wf.output.as_ref()));
    let out_span = wf
        .output
        .as_ref()
        .map_or_else(Span::call_site, |t| t.span());
    let (decode_output, encode_output) = if own_codec {
        let codec = output_codec(wf.output.as_ref(), out_span);
        (
            quote! {
                (#codec)
                    .decode(__flow_json)
                    .map_err(|__flow_e| ::flow_runtime::__private::output_error(#wf_name, __flow_e.to_string()))
            },
            quote! {
                (#codec)
                    .encode(&__flow_output)
                    .map_err(|__flow_e| ::flow_runtime::__private::output_error(#wf_name, __flow_e.to_string()))
            },
        )
    } else {
        (
            quote! {
                #[allow(unused_imports)]
                use ::flow_runtime::__private::{DecodeRef as _, DecodeRefNot as _};
                let __flow_tag = ::flow_runtime::__private::Tag::<&Self::Output>::new();
                (&&__flow_tag)
                    .flow_decode_ref(__flow_json, <Self as #backend::DurableWorkflow>::graph())
                    .map_err(|__flow_e| ::flow_runtime::__private::output_error(#wf_name, __flow_e))
            },
            quote! {
                (&&::flow_runtime::__private::Enc(&__flow_output))
                    .flow_json()
                    .map_err(|__flow_e| ::flow_runtime::__private::output_error(#wf_name, __flow_e.to_string()))
            },
        )
    };
    let out_ty = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    let encoded = (0..wf.inputs.len()).map(|k| {
        let k = syn::Index::from(k);
        quote!(::flow_runtime::__private::input_json(__flow_codecs.#k, &__flow_inputs.#k, #k, #wf_name)?)
    });
    let decoded: Vec<Ident> = (0..wf.inputs.len())
        .map(|k| format_ident!("__flow_in{}", k))
        .collect();
    let decode: Vec<TokenStream> = decoded.iter().enumerate().map(|(k, var)| {
        let field = syn::Index::from(k);
        quote!(let #var = ::flow_runtime::__private::driven_input(__flow_codecs.#field, &__flow_inputs, #k, #wf_name)?;)
    }).collect();
    // `run`'s arguments: an input declared `&T` lent, any other moved.
    let passed: Vec<TokenStream> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            syn::FnArg::Typed(t) => Some(matches!(*t.ty, syn::Type::Reference(_))),
            syn::FnArg::Receiver(_) => None,
        })
        .zip(&decoded)
        .map(|(by_ref, var)| if by_ref { quote!(&#var) } else { quote!(#var) })
        .collect();
    let _ = nodes;
    quote! {
        ::flow_runtime::__private::register! {
            ::flow_runtime::__private::DurableRegistration {
                name: #wf_name,
                graph: <#ident as #backend::DurableWorkflow>::graph,
                run: <#ident as #backend::DurableWorkflow>::run_json,
                resume: <#ident as #backend::DurableWorkflow>::resume_json,
            }
        }

        #[doc(hidden)]
        impl #backend::DurableWorkflow for #ident {
            type Inputs = (#(#in_tys,)*);
            type Output = #out_ty;
            const NAME: &'static str = #wf_name;
            const TIMEOUT: ::core::option::Option<::core::time::Duration> = #timeout;

            fn graph() -> &'static ::flow_runtime::WorkflowGraph {
                use ::flow_runtime::__private::Unexpanded as _;
                <#ident>::__flow_graph()
            }

            #[allow(unused_variables)]
            fn encode_inputs(
                __flow_inputs: &Self::Inputs,
            ) -> ::core::result::Result<::std::vec::Vec<::std::string::String>, ::flow_runtime::Error> {
                let __flow_codecs = <#ident>::__flow_codecs();
                ::core::result::Result::Ok(::std::vec![#(#encoded),*])
            }

            fn decode_output(
                __flow_json: &str,
            ) -> ::core::result::Result<Self::Output, ::flow_runtime::Error> {
                #decode_output
            }

            #[allow(unused_variables)]
            fn run_driven(
                __flow_inputs: ::std::vec::Vec<::std::string::String>,
                __flow_options: ::flow_runtime::RunOptions<'static>,
            ) -> #backend::Driven {
                ::std::boxed::Box::pin(async move {
                    use ::flow_runtime::__private::Unexpanded as _;
                    let __flow_codecs = <#ident>::__flow_codecs();
                    #(#decode)*
                    let __flow_run = ::flow_runtime::__private::Run::driven(
                        #wf_name,
                        &::flow_runtime::__private::Settings {
                            max_concurrency: #max_concurrency,
                            timeout: ::core::option::Option::None,
                        },
                        __flow_options,
                        <#ident>::__flow_graph(),
                    );
                    let __flow_result = <#ident>::__flow_body(&__flow_run, (#(&#decoded,)*)).await;
                    __flow_run.finish(&__flow_result);
                    #[allow(unused_imports)]
                    use ::flow_runtime::__private::{EncodeBySerde as _, EncodeNot as _};
                    let __flow_output: #out_ty = __flow_result?;
                    #encode_output
                })
            }

            #[allow(unused_variables)]
            fn run_json<'__flow_o>(
                __flow_inputs: ::std::vec::Vec<::std::string::String>,
                __flow_options: ::flow_runtime::RunOptions<'__flow_o>,
            ) -> #backend::Stored<'__flow_o> {
                ::std::boxed::Box::pin(async move {
                    use ::flow_runtime::__private::Unexpanded as _;
                    let __flow_codecs = <#ident>::__flow_codecs();
                    #(#decode)*
                    #[allow(unused_imports)]
                    use ::flow_runtime::__private::{EncodeBySerde as _, EncodeNot as _};
                    let __flow_output: #out_ty = <#ident>::run(__flow_options, #(#passed),*).await?;
                    #encode_output
                })
            }

            fn resume_json<'__flow_o>(
                __flow_options: ::flow_runtime::RunOptions<'__flow_o>,
            ) -> #backend::Stored<'__flow_o> {
                ::std::boxed::Box::pin(async move {
                    use ::flow_runtime::__private::Unexpanded as _;
                    #[allow(unused_imports)]
                    use ::flow_runtime::__private::{EncodeBySerde as _, EncodeNot as _};
                    let __flow_output: #out_ty = <#ident>::resume(__flow_options).await?;
                    #encode_output
                })
            }

            fn invoke(
                __flow_node: &str,
                __flow_invocation: #backend::Invocation,
            ) -> ::core::option::Option<#backend::Invoked> {
                use ::flow_runtime::__private::Unexpanded as _;
                <#ident>::__flow_invoke(__flow_node, __flow_invocation)
            }

            fn visit<__FlowV: #backend::Visitor>(__flow_visitor: &mut __FlowV) {
                use ::flow_runtime::__private::Unexpanded as _;
                <#ident>::__flow_visit(__flow_visitor)
            }
        }
    }
}

/// The workflow's inputs as the body takes them: patterns, and types borrowed for
/// `'__flow_r` (an input declared `&T` as it is).
fn borrowed_inputs(sig: &Signature) -> (Vec<TokenStream>, Vec<TokenStream>) {
    sig.inputs
        .iter()
        .filter_map(|arg| match arg {
            syn::FnArg::Typed(t) => {
                let pat = &t.pat;
                let mut ty = (*t.ty).clone();
                types::name_elided_lifetimes(&mut ty, "'__flow_r");
                Some(match ty {
                    syn::Type::Reference(_) => (quote!(#pat), quote!(#ty)),
                    _ => (quote!(#pat), quote!(&'__flow_r #ty)),
                })
            }
            syn::FnArg::Receiver(_) => None,
        })
        .unzip()
}

/// The workflow's one body, generic over the gate that admits its nodes: every entry point
/// (the plain function, `run`, as a node of another workflow) runs it under its own gate.
fn body_fn(sig: &Signature, block: TokenStream) -> TokenStream {
    let (pats, tys) = borrowed_inputs(sig);
    // The inputs under names of the body's own: an input named like a node does not
    // shadow the node's function.
    let pats: Vec<Ident> = (0..pats.len()).map(body_input).collect();
    let out_ty = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    quote! {
        #[allow(unused_variables, clippy::too_many_arguments)]
        #[inline]
        fn __flow_body<'__flow_r, '__flow_a, __FlowGate: ::flow_runtime::__private::Gate>(
            __flow_run: &'__flow_r ::flow_runtime::__private::Run<'__flow_a, __FlowGate>,
            (#(#pats,)*): (#(#tys,)*),
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<#out_ty, ::flow_runtime::Error>,
        > + use<'__flow_r, '__flow_a, __FlowGate> {
            #block
        }
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
    let (line, column) = site(&decl.ident);
    let inputs = input_params(wf);
    let output = option_tokens(wf.output.as_ref().map(|t| {
        let t = types::display(t);
        quote!(#t)
    }));
    let output_node = option_tokens(graph.output.map(|n| quote!(#n)));
    let infos = nodes.iter().map(|n| {
        let path = n.path;
        quote!(#path::INFO)
    });
    let steps = nodes.iter().enumerate().map(|(i, n)| {
        let shape = match (n.shape, graph.race_of[i]) {
            (parse::Shape::Map(spec), _) => {
                let concurrency = option_tokens(spec.concurrency.map(|c| quote!(#c)));
                let tolerant = n.continues_on_error();
                quote!(::flow_runtime::graph::Shape::Map { concurrency: #concurrency, continue_on_error: #tolerant })
            }
            (_, Some(group)) => quote!(::flow_runtime::graph::Shape::Race { group: #group }),
            _ => quote!(::flow_runtime::graph::Shape::Once),
        };
        let may_skip = graph.skippable[i];
        if n.options.defaulted {
            // With what it takes from the workflow's `defaults(...)`.
            let traits = traits_tokens(n.options, n.sig.optional);
            return quote!(::flow_runtime::graph::Step::__with_traits(#shape, #may_skip, #traits));
        }
        quote!(::flow_runtime::graph::Step::__new(#shape, #may_skip))
    });
    let mut edges = Vec::new();
    for (to, deps) in graph.deps.iter().enumerate() {
        let graph_deps = deps.iter().filter(|s| **s != Src::Context);
        for (param, src) in graph_deps.enumerate() {
            // A value from a race comes from any member; a collected one from every producer.
            let from: Vec<TokenStream> = match *src {
                Src::Input(i) => vec![quote!(::flow_runtime::graph::Source::Input(#i))],
                Src::Node(i) => match graph.race_led_by(i) {
                    Some(race) => race
                        .members
                        .iter()
                        .map(|m| quote!(::flow_runtime::graph::Source::Node(#m)))
                        .collect(),
                    None => vec![quote!(::flow_runtime::graph::Source::Node(#i))],
                },
                Src::Collect(c) => graph.collects[c]
                    .producers
                    .iter()
                    .map(|p| quote!(::flow_runtime::graph::Source::Node(#p)))
                    .collect(),
                Src::Context => continue,
            };
            for from in from {
                edges.push(quote!(::flow_runtime::graph::Edge::__new(#from, #to, #param)));
            }
        }
    }
    let order = graph
        .order
        .iter()
        .map(|(first, then)| quote!(::flow_runtime::graph::OrderEdge::__new(#first, #then)));
    quote! {{
        static GRAPH: ::flow_runtime::WorkflowGraph = ::flow_runtime::WorkflowGraph::__new(
            #wf_name,
            #fn_name,
            ::flow_runtime::graph::Location::__new(::core::module_path!(), ::core::file!(), #line, #column),
            &[#inputs],
            #output,
            #output_node,
            &[#(#infos),*],
            &[#(#steps),*],
            &[#(#edges),*],
            &[#(#order),*],
        );
        &GRAPH
    }}
}

/// How a node's argument travels to a backend's worker, by its parameter: `&T` (or a
/// whole `Vec<T>`), `Option<&T>`, `Result<&T, &NodeError>`, `&[T]`, and a tolerant map's
/// `&[Result<T, NodeError>]`. Each is JSON, written by serde where the type allows it (a
/// type that does not is already a compile error at its producer).
#[derive(Clone, Copy)]
enum Wire {
    Ref,
    Option,
    Result,
    Slice,
    ResultSlice,
    OptionResult,
}

/// Writes the workflow's body.
struct Body<'a> {
    wf_name: &'a str,
    wf: &'a WorkflowSig,
    nodes: &'a [NodeEntry<'a>],
    graph: &'a Graph,
    /// The inputs arrive by reference (`__flow_nested`).
    nested: bool,
    /// `durable`: each node's output is journaled when the run has a store.
    durable: bool,
    /// The workflow's `defaults(...)`.
    defaults: Option<&'a parse::Defaults>,
}

/// Node `i`'s rank among failures at the same instant: its place in the list.
fn rank(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
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

fn kept_var(i: usize) -> Ident {
    format_ident!("__flow_k{}", i)
}

fn collect_var(i: usize) -> Ident {
    format_ident!("__flow_c{}", i)
}

fn input_var(i: usize) -> Ident {
    format_ident!("__flow_i{}", i)
}

/// Input `i` of the workflow's body.
fn body_input(i: usize) -> Ident {
    format_ident!("__flow_x{}", i)
}

fn done_var(i: usize) -> Ident {
    format_ident!("__flow_n{}", i)
}

fn branch_var(i: usize) -> Ident {
    format_ident!("__flow_b{}", i)
}

impl Body<'_> {
    fn generate(&self) -> TokenStream {
        let wf_name = self.wf_name;
        let inputs = self.wf.inputs.iter().enumerate().map(|(i, input)| {
            let var = input_var(i);
            let ident = body_input(i);
            let used = self.graph.deps.iter().any(|d| d.contains(&Src::Input(i)))
                || self.graph.map_limit.contains(&Some(i));
            match (used, input.by_ref || self.nested) {
                (false, _) => quote!(let _ = &#ident;),
                (true, true) => quote!(let #var = #ident;),
                (true, false) => quote!(let #var = &#ident;),
            }
        });
        let plan = analyse::plan(self.graph);
        let stmts = self.stmts(&plan);
        let n = self.nodes.len();
        let kept: Vec<usize> = (0..n).filter(|&i| self.kept(i)).collect();
        let output = self.graph.output.filter(|_| self.wf.output.is_some());
        let inner_result = match output {
            Some(i) if !self.kept(i) => {
                let var = out_var(i);
                let span = self
                    .wf
                    .output
                    .as_ref()
                    .map_or(Span::call_site(), |t| t.span());
                self.take_output(i, quote_spanned!(span=> #var))
            }
            _ => quote!(()),
        };
        let ok = quote!(::core::result::Result::Ok::<_, ::flow_runtime::Error>(#inner_result));
        let guard = |result: TokenStream, capture: TokenStream| {
            quote! {
                __flow_run.guard::<__FlowW, _, _>(async #capture {
                    #stmts
                    #result
                })
            }
        };
        let collectors = self.graph.collects.iter().enumerate().map(|(c, collect)| {
            let var = collect_var(c);
            let k = collect.producers.len();
            quote!(let #var = ::flow_runtime::__private::Collect::<_, #k>::new();)
        });
        // The workflow's name, as a type (for its guard and its fallible nodes, which then
        // hold nothing to name it) and as a constant.
        let defaults = self.defaults_static();
        let inputs = quote! {
            struct __FlowW;
            impl ::flow_runtime::__private::WorkflowName for __FlowW {
                const NAME: &'static str = #wf_name;
            }
            const __FLOW_WORKFLOW: &str = <__FlowW as ::flow_runtime::__private::WorkflowName>::NAME;
            #defaults
            #(#inputs)*
            #(#collectors)*
        };
        // A missing output has already ended the run (`require`): what is left is the value.
        let produced = |outcome: TokenStream| match output {
            Some(i) if self.graph.maybe_part(i, self.graph.output_part) => {
                quote!(::flow_runtime::__private::produced(#outcome))
            }
            _ => outcome,
        };
        if kept.is_empty() {
            // The body's future is the guard itself: no future around it.
            let guarded = guard(produced(ok), quote!(move));
            return quote! {{
                #inputs
                #guarded
            }};
        }
        let guarded = {
            let guarded = guard(ok, quote!());
            quote!(#guarded.await)
        };
        let tolerant: Vec<usize> = kept.iter().copied().filter(|&i| self.tolerant(i)).collect();
        let stamps = quote!(let __flow_stamps = ::flow_runtime::__private::Stamps::new(););
        let slots = kept.iter().map(|&i| {
            let k = kept_var(i);
            let taken = tolerant.contains(&i) || output == Some(i);
            let mutable = taken.then(|| quote!(mut));
            quote!(let #mutable #k = ::flow_runtime::__private::Kept::new();)
        });
        let extract = match output {
            Some(i) if self.kept(i) => {
                let k = kept_var(i);
                let taken = if self.tolerant(i) {
                    quote!(::flow_runtime::__private::kept_output(#k.take()))
                } else {
                    quote!(::core::result::Result::Ok(::flow_runtime::__private::kept_output(#k.take())))
                };
                if self.graph.output_part.is_some() {
                    let part = self.take_output(i, quote!(__flow_t));
                    quote!(::core::result::Result::map(#taken, |__flow_t| #part))
                } else {
                    taken
                }
            }
            _ => quote!(::core::result::Result::Ok(__flow_value)),
        };
        let others = tolerant.iter().map(|&i| {
            let k = kept_var(i);
            quote!(__flow_failure.other(#k.take_err());)
        });
        let compensated: Vec<usize> = kept
            .iter()
            .copied()
            .filter(|&i| self.nodes[i].options.compensate.is_some())
            .collect();
        let compensations = if compensated.is_empty() {
            quote!()
        } else {
            let stamps = compensated.iter().map(|&i| {
                let k = kept_var(i);
                quote!(#k.stamp())
            });
            // A durable run records each compensation, and does not repeat a recorded one.
            let journal = self.durable.then(|| quote!(__flow_run.journal(),));
            let compensate = if self.durable {
                quote!(compensate_journaled)
            } else {
                quote!(compensate)
            };
            let arms = compensated.iter().enumerate().map(|(c, &i)| {
                let k = kept_var(i);
                let path = self.nodes[i].path;
                // A backend runs it on the output, encoded as its codec writes it.
                let wrap = quote!(::flow_runtime::__private::Enc);
                let encoded = self.durable.then(|| {
                    quote! {
                        , move || {
                            #[allow(unused_imports)]
                            use ::flow_runtime::__private::{EncodeBySerde as _, EncodeNot as _};
                            (&&#wrap(__flow_out)).flow_json()
                        }
                    }
                });
                let get = if self.tolerant(i) {
                    quote!(#k.get_ok())
                } else {
                    quote!(#k.get())
                };
                let get = if self.graph.maybe(i) {
                    quote!(#get.and_then(::core::option::Option::as_ref))
                } else {
                    get
                };
                quote! {
                    #c => {
                        if let ::core::option::Option::Some(__flow_out) = #get {
                            __flow_failure
                                .#compensate(#journal #path::INFO, #path::__flow_compensate(__flow_out) #encoded)
                                .await;
                        }
                    }
                }
            });
            quote! {
                for __flow_c in ::flow_runtime::__private::compensation_order([#(#stamps),*]) {
                    match __flow_c {
                        #(#arms)*
                        _ => {}
                    }
                }
            }
        };
        let produced_outcome = produced(quote!(__flow_outcome));
        quote! {async move {
            #inputs
            #stamps
            #(#slots)*
            let __flow_outcome = #guarded;
            let __flow_outcome = match __flow_outcome {
                ::core::result::Result::Ok(__flow_value) => #extract,
                ::core::result::Result::Err(__flow_error) => ::core::result::Result::Err(__flow_error),
            };
            let __flow_outcome = #produced_outcome;
            match __flow_outcome {
                ::core::result::Result::Ok(__flow_value) => ::core::result::Result::Ok(__flow_value),
                ::core::result::Result::Err(__flow_error) => {
                    let mut __flow_failure = ::flow_runtime::__private::Failure::new(__flow_error);
                    #(#others)*
                    #compensations
                    ::core::result::Result::Err(__flow_failure.into_error())
                }
            }
        }}
    }

    /// The policy of the workflow's `defaults(...)`, as a static, when some node takes it.
    fn defaults_static(&self) -> TokenStream {
        let Some(d) = self.defaults else {
            return quote!();
        };
        if !self.nodes.iter().any(|n| n.options.defaulted) {
            return quote!();
        }
        let timeout = option_tokens(d.timeout.map(duration_tokens));
        let retry = option_tokens(d.retry.as_ref().map(retry_tokens));
        quote! {
            static __FLOW_DEFAULTS: ::flow_runtime::__private::Policy = ::flow_runtime::__private::Policy {
                timeout: #timeout,
                retry: #retry,
                rate_limit: ::core::option::Option::None,
                limit: ::core::option::Option::None,
                rate_limit_name: ::core::option::Option::None,
                limit_name: ::core::option::Option::None,
            };
        }
    }

    /// Whether node `i` runs through its `__flow_call` (options or the run context).
    fn policy(&self, i: usize) -> bool {
        let node = &self.nodes[i];
        node.options.runs_under_policy(node.sig)
    }

    /// Whether node `i`'s failure is handed to its consumers instead of ending the run.
    fn tolerant(&self, i: usize) -> bool {
        let declared = match self.graph.race_of[i] {
            Some(r) => self.graph.races[r].continue_on_error && self.graph.scheduled(i),
            None => {
                self.nodes[i].options.continue_on_error.is_some() && self.nodes[i].map().is_none()
            }
        };
        declared && !self.graph.consumers[i].is_empty()
    }

    /// Whether node `i`'s output is kept beyond the body (for a compensation, or as a
    /// tolerated failure).
    fn kept(&self, i: usize) -> bool {
        self.nodes[i].options.compensate.is_some()
            || (self.tolerant(i) && self.graph.collected[i].is_none())
    }

    /// Whether running node `i` can end the run with an error.
    fn fails(&self, i: usize) -> bool {
        // A journaled node can fail to read back or record its output.
        if self.durable || self.graph.race_led_by(i).is_some() || self.requires(i) {
            true
        } else if self.nodes[i].map().is_some() {
            // A map's result is a `Result` (checked with `?`) unless it keeps every error.
            !self.nodes[i].continues_on_error()
        } else if self.policy(i) {
            !self.tolerant(i)
        } else {
            self.nodes[i].sig.fallible
        }
    }

    /// The nodes in `set` whose outputs are used outside it: by a node not in it, or as the
    /// workflow's output. Kept outputs are reached through their slots instead.
    fn exports(&self, set: &[usize]) -> Vec<usize> {
        set.iter()
            .copied()
            .filter(|&i| {
                self.nodes[i].provides.is_some()
                    && !self.kept(i)
                    && self.graph.collected[i].is_none()
                    && (self.graph.output == Some(i)
                        || self.graph.consumers[i].iter().any(|c| !set.contains(c)))
            })
            .collect()
    }

    /// Whether node `i` provides a value that something uses, so it must be bound.
    fn binds(&self, i: usize) -> bool {
        self.nodes[i].provides.is_some()
            && !self.kept(i)
            && self.graph.collected[i].is_none()
            && (self.graph.output == Some(i) || !self.graph.consumers[i].is_empty())
    }

    /// The awaited call of node `i`, its error mapped (and returned, unless tolerated);
    /// `local` gives, per producer, a variable already holding a reference (inside a
    /// dataflow join). When a value node `i` needs may be missing, the call is skipped and
    /// the result is `None` (`Ok(None)` when tolerated).
    fn call(&self, i: usize, local: &dyn Fn(usize) -> Option<Ident>) -> TokenStream {
        let call = self.call_or_skip(i, local);
        if !self.requires(i) {
            return call;
        }
        // The workflow's output: the run ends as soon as it is known to be missing.
        let path = self.nodes[i].path;
        let because = self.graph.conditions[i]
            .iter()
            .map(|&c| self.nodes[c].name.as_str());
        let rank = rank(i);
        if self.graph.optional_part(i, self.graph.output_part) {
            // The output is an `Option` element of the node's tuple: missing when it is
            // `None` (or the node was skipped).
            let view = self.view(
                i,
                self.graph.output_part,
                quote!(__flow_v),
                Span::call_site(),
            );
            let missing = if self.tolerant(i) {
                quote!(
                    ::core::matches!(#view, ::core::result::Result::Ok(::core::option::Option::None))
                )
            } else {
                quote!(::core::option::Option::is_none(&#view))
            };
            return quote! {
                ::flow_runtime::__private::require_by(
                    #call,
                    |__flow_v| #missing,
                    __FLOW_WORKFLOW,
                    #path::INFO,
                    &[#(#because),*],
                    #rank,
                )?
            };
        }
        quote! {
            ::flow_runtime::__private::require(
                #call,
                __FLOW_WORKFLOW,
                #path::INFO,
                &[#(#because),*],
                #rank,
            )?
        }
    }

    /// Whether node `i` provides the workflow's output and may not produce it (it returns
    /// `Option<T>` or may be skipped): the run ends as soon as it is known to be missing.
    fn requires(&self, i: usize) -> bool {
        self.wf.output.is_some()
            && self.graph.output == Some(i)
            && self.graph.maybe_part(i, self.graph.output_part)
    }

    /// [`call`](Body::call), before the check of a missing workflow output.
    fn call_or_skip(&self, i: usize, local: &dyn Fn(usize) -> Option<Ident>) -> TokenStream {
        let (call, skips) = match self.graph.race_led_by(i) {
            Some(race) => self.invoke_race(race, local),
            None => {
                let (args, skips) = self.args(i, local);
                (self.invoke(i, &args), skips)
            }
        };
        if skips.is_empty() {
            return call;
        }
        let optional = self.nodes[i].sig.optional && self.nodes[i].map().is_none();
        let tolerant = self.tolerant(i);
        let (ran, skipped) = match (tolerant, optional) {
            (false, true) => (call, quote!(::core::option::Option::None)),
            (false, false) => (
                quote!(::core::option::Option::Some(#call)),
                quote!(::core::option::Option::None),
            ),
            (true, true) => (
                call,
                quote!(::core::result::Result::Ok(::core::option::Option::None)),
            ),
            (true, false) => (
                quote!(::core::result::Result::map(#call, ::core::option::Option::Some)),
                quote!(::core::result::Result::Ok(::core::option::Option::None)),
            ),
        };
        let members = match self.graph.race_led_by(i) {
            Some(race) => race.members.clone(),
            None => vec![i],
        };
        let paths = members.iter().map(|&m| self.nodes[m].path);
        let scrutinees = skips.iter().map(|(s, _)| s);
        let bindings = skips.iter().map(|(_, b)| b);
        quote! {
            match (#(#scrutinees,)*) {
                (#(::core::option::Option::Some(#bindings),)*) => #ran,
                _ => {
                    #(__flow_run.skipped(#paths::INFO);)*
                    #skipped
                }
            }
        }
    }

    /// The awaited call of node `i` with `args`.
    fn invoke(&self, i: usize, args: &[TokenStream]) -> TokenStream {
        let node = &self.nodes[i];
        let path = node.path;
        if let Some(spec) = node.map() {
            return self.invoke_map(i, spec, args);
        }
        let none = quote!(::core::option::Option::None);
        let rank = rank(i);
        if self.durable {
            let mode = if self.policy(i) {
                if self.tolerant(i) {
                    "RecordTolerated"
                } else {
                    "RecordResult"
                }
            } else if node.sig.fallible {
                "RecordResult"
            } else {
                "RecordValue"
            };
            let policy = self.policy(i);
            let fallible = node.sig.fallible;
            let journaled = self.journaled(i, mode, none.clone(), args, &|args| {
                if policy {
                    self.policy_call(i, none.clone(), args)
                } else if fallible {
                    quote!(__flow_run.gate::<#path, _, _>(#none, ::flow_runtime::__private::Checked::<__FlowW>::NEW, #path(#(#args),*)))
                } else {
                    quote!(__flow_run.gate::<#path, _, _>(#none, ::flow_runtime::__private::Plain, #path(#(#args),*)))
                }
            });
            return quote!(::flow_runtime::__private::rank(#journaled.await, #rank)?);
        }
        if self.policy(i) {
            let call = self.policy_call(i, none.clone(), args);
            let call = quote!(#call.await);
            if self.tolerant(i) {
                call
            } else {
                quote!(::flow_runtime::__private::rank(#call, #rank)?)
            }
        } else if node.sig.fallible {
            quote!(::flow_runtime::__private::rank(__flow_run.gate::<#path, _, _>(#none, ::flow_runtime::__private::Checked::<__FlowW>::NEW, #path(#(#args),*)).await, #rank)?)
        } else {
            quote!(__flow_run.gate::<#path, _, _>(#none, ::flow_runtime::__private::Plain, #path(#(#args),*)).await)
        }
    }

    /// An unawaited future running node `i` on `args` to a `Result<_, flow_runtime::Error>`
    /// (an element of a map, whose index `element` gives, a member of a race); `capture` is
    /// `move` or nothing.
    fn attempt_future(
        &self,
        i: usize,
        args: &[TokenStream],
        element: TokenStream,
        capture: TokenStream,
    ) -> TokenStream {
        if self.durable {
            let mode = if self.nodes[i].map().is_some() && self.nodes[i].continues_on_error() {
                "RecordElement"
            } else {
                "RecordResult"
            };
            return self.journaled(i, mode, element.clone(), args, &|args| {
                self.attempt_future_plain(i, args, element.clone(), quote!(move))
            });
        }
        self.attempt_future_plain(i, args, element, capture)
    }

    /// A node's output journaled in `mode` (see `flow_runtime::__private::Journaled`),
    /// written at the node's output type: a type that cannot be recorded is an error there.
    /// Its arguments `args` are bound first, so that the future `call` makes of them and
    /// their encoding for a backend (used only in a run a backend keeps) share them.
    fn journaled(
        &self,
        i: usize,
        mode: &str,
        element: TokenStream,
        args: &[TokenStream],
        call: &dyn Fn(&[TokenStream]) -> TokenStream,
    ) -> TokenStream {
        let path = self.nodes[i].path;
        let mode = format_ident!("{}", mode);
        let codec = self.codec(i);
        let vars: Vec<TokenStream> = (0..args.len())
            .map(|k| format_ident!("__flow_y{}", k).into_token_stream())
            .collect();
        let private = quote!(::flow_runtime::__private);
        let encoded = self.arg_wires(i).into_iter().zip(&vars).map(|(a, var)| {
            let wrapped = match a {
                Wire::Ref | Wire::Slice => quote!(#private::Enc(#var)),
                Wire::Option => quote!(#private::EncOpt(#var)),
                Wire::Result => quote!(#private::EncRes(#var)),
                Wire::ResultSlice => quote!(#private::EncResSlice(#var)),
                Wire::OptionResult => quote!(#private::EncOptRes(#var)),
            };
            quote!((&&#wrapped).flow_json())
        });
        let future = call(&vars);
        quote!({
            #[allow(unused_imports)]
            use ::flow_runtime::__private::{EncodeBySerde as _, EncodeNot as _};
            #(let #vars = #args;)*
            ::flow_runtime::__private::journaled::<::flow_runtime::__private::#mode, _, _, _>(
                __flow_run,
                __FLOW_WORKFLOW,
                #path::INFO,
                #element,
                #codec,
                move || ::std::vec![#(#encoded),*],
                #future,
            )
        })
    }

    /// The codec that journals node `i`'s output (its value, without the `Result`), written
    /// at the output type's token: a type that cannot be recorded is an error there.
    fn codec(&self, i: usize) -> TokenStream {
        let sig = self.nodes[i].sig;
        let span = sig
            .output
            .as_ref()
            .map_or_else(|| sig.ident.span(), |t| t.span());
        codec_tokens(&sig.parts, sig.optional, span)
    }

    /// `__flow_invoke(node, invocation)`: runs one node (by name) on a backend's worker as
    /// the body runs it, to the entry its journal would record.
    fn invoke_fn(&self) -> TokenStream {
        let wf_name = self.wf_name;
        let defaults = self.defaults_static();
        let backend = quote!(::flow_runtime::__private::backend);
        let arms = self.nodes.iter().enumerate().filter(|(_, n)| !n.options.workflow).map(|(i, n)| {
            let path = n.path;
            let name = &n.name;
            let wires = self.arg_wires(i);
            let n_args = wires.len();
            let vars: Vec<TokenStream> = (0..n_args)
                .map(|k| format_ident!("__flow_y{}", k).into_token_stream())
                .collect();
            let decoded: Vec<Ident> = (0..n_args).map(|k| format_ident!("__flow_d{}", k)).collect();
            let tags: Vec<Ident> = (0..n_args).map(|k| format_ident!("__flow_t{}", k)).collect();
            let graph = quote!(<Self as #backend::DurableWorkflow>::graph());
            // The decoders are picked by autoref on each argument's type, which the closure
            // that makes the node's future tells: no bound is written here, so a type that
            // cannot be recorded is one error, at its producer.
            let decode = wires.iter().zip(&decoded).zip(&tags).enumerate().map(|(k, ((a, d), t))| {
                let method = match a {
                    Wire::Ref => quote!(flow_decode_ref),
                    Wire::Option => quote!(flow_decode_opt),
                    Wire::Result => quote!(flow_decode_res),
                    Wire::Slice => quote!(flow_decode_slice),
                    Wire::ResultSlice => quote!(flow_decode_res_slice),
                    Wire::OptionResult => quote!(flow_decode_opt_res),
                };
                quote! {
                    let #d = match ::flow_runtime::__private::arg(&__flow_args, #k, __FLOW_WORKFLOW, #path::INFO)
                        .and_then(|__flow_text| (&&#t).#method(__flow_text, #graph)
                            .map_err(|__flow_e| ::flow_runtime::__private::arg_error(__FLOW_WORKFLOW, #path::INFO, #k, __flow_e)))
                    {
                        ::core::result::Result::Ok(__flow_v) => __flow_v,
                        ::core::result::Result::Err(__flow_e) => {
                            return #backend::Outcome::Failed(#backend::Failure::of(&__flow_e));
                        }
                    };
                }
            });
            let views = wires.iter().zip(&decoded).map(|(a, d)| match a {
                Wire::Ref => quote!(&#d),
                Wire::Slice | Wire::ResultSlice => quote!(::std::vec::Vec::as_slice(&#d)),
                Wire::Option => quote!(::core::option::Option::as_ref(&#d)),
                Wire::Result => quote!(::core::result::Result::as_ref(&#d)),
                Wire::OptionResult => quote!(::core::option::Option::map(
                    ::core::option::Option::as_ref(&#d),
                    ::core::result::Result::as_ref,
                )),
            });
            // A race member's failure is the race's to tolerate, not the member's.
            let tolerated = (self.tolerant(i) && self.graph.race_of[i].is_none())
                || (n.map().is_some() && n.continues_on_error());
            let encode_out = if own_codec(&n.sig.parts) {
                let codec = self.codec(i);
                quote!(|__flow_v| (#codec).encode(__flow_v))
            } else if n.sig.optional {
                quote!(|__flow_v| (&&::flow_runtime::__private::EncOpt(::core::option::Option::as_ref(__flow_v))).flow_json())
            } else {
                quote!(|__flow_v| (&&::flow_runtime::__private::Enc(__flow_v)).flow_json())
            };
            let future = self.attempt_future_plain(i, &vars, quote!(__flow_element), quote!(move));
            let compensate = if n.options.compensate.is_some() {
                quote! {
                    let __flow_make = move |__flow_o| #path::__flow_compensate(__flow_o);
                    let (__flow_t,) = ::flow_runtime::__private::tags(&__flow_make);
                    let __flow_o = match (&&__flow_t).flow_decode_ref(&__flow_out, #graph) {
                        ::core::result::Result::Ok(__flow_v) => __flow_v,
                        ::core::result::Result::Err(__flow_e) => {
                            let __flow_e = ::flow_runtime::__private::arg_error(__FLOW_WORKFLOW, #path::INFO, 0, __flow_e);
                            return #backend::Outcome::Failed(#backend::Failure::of(&__flow_e));
                        }
                    };
                    return ::flow_runtime::__private::compensation_outcome(__FLOW_WORKFLOW, #path::INFO, __flow_make(&__flow_o)).await;
                }
            } else {
                quote! {
                    return #backend::Outcome::Failed(#backend::Failure::of(
                        &::flow_runtime::__private::no_compensation(__FLOW_WORKFLOW, #path::INFO),
                    ));
                }
            };
            quote! {
                #name => ::core::option::Option::Some(::std::boxed::Box::pin(async move {
                    let __flow_args = match __flow_kind {
                        #backend::InvocationKind::Run(__flow_args) => __flow_args,
                        #backend::InvocationKind::Compensate(__flow_out) => {
                            #compensate
                        }
                    };
                    let __flow_options = ::flow_runtime::RunOptions::new()
                        .run_id(__flow_run_id)
                        .cancellation_token(__flow_token);
                    let __flow_options = match &__flow_limiters {
                        ::core::option::Option::Some(__flow_l) => __flow_options.limiters(__flow_l),
                        ::core::option::Option::None => __flow_options,
                    };
                    let __flow_owned = ::flow_runtime::__private::Run::<::flow_runtime::__private::Limits>::new(
                        __FLOW_WORKFLOW,
                        &::flow_runtime::__private::Settings {
                            max_concurrency: ::core::option::Option::None,
                            timeout: ::core::option::Option::None,
                        },
                        __flow_options,
                    )
                    .with_attempts(__flow_attempts);
                    let __flow_run = &__flow_owned;
                    let __flow_make = move |#(#vars),*| #future;
                    let (#(#tags,)*) = ::flow_runtime::__private::tags(&__flow_make);
                    #(#decode)*
                    ::flow_runtime::__private::capture(
                        __FLOW_WORKFLOW,
                        #path::INFO,
                        __flow_element,
                        #tolerated,
                        __flow_make(#(#views),*),
                        #encode_out,
                    )
                    .await
                })),
            }
        });
        quote! {
            #[doc(hidden)]
            #[allow(unused_variables, unreachable_code, clippy::too_many_lines)]
            fn __flow_invoke(
                __flow_node: &str,
                __flow_invocation: #backend::Invocation,
            ) -> ::core::option::Option<#backend::Invoked> {
                #[allow(unused_imports)]
                use ::flow_runtime::__private::{
                    DecodeOpt as _, DecodeOptNot as _, DecodeRef as _, DecodeRefNot as _,
                    DecodeOptRes as _, DecodeOptResNot as _, DecodeRes as _, DecodeResNot as _,
                    DecodeResSlice as _,
                    DecodeResSliceNot as _, DecodeSlice as _, DecodeSliceNot as _,
                    EncodeBySerde as _, EncodeNot as _,
                };
                struct __FlowW;
                impl ::flow_runtime::__private::WorkflowName for __FlowW {
                    const NAME: &'static str = #wf_name;
                }
                const __FLOW_WORKFLOW: &str = #wf_name;
                #defaults
                let #backend::Invocation {
                    run_id: __flow_run_id,
                    element: __flow_element,
                    kind: __flow_kind,
                    token: __flow_token,
                    attempts: __flow_attempts,
                    limiters: __flow_limiters,
                } = __flow_invocation;
                match __flow_node {
                    #(#arms)*
                    _ => ::core::option::Option::None,
                }
            }
        }
    }

    /// How each argument of node `i` (but its run context) travels to a backend's worker.
    fn arg_wires(&self, i: usize) -> Vec<Wire> {
        let over = self.graph.over[i];
        self.nodes[i]
            .sig
            .params
            .iter()
            .zip(&self.graph.deps[i])
            .enumerate()
            .filter(|(_, (_, src))| **src != Src::Context)
            .map(|(k, (param, src))| {
                if over == Some(k) {
                    // A mapped node's element: one value of its producer's `Vec`.
                    return Wire::Ref;
                }
                let (map, tolerant_map) = match *src {
                    Src::Node(p) => (
                        self.nodes[p].map().is_some(),
                        self.nodes[p].map().is_some() && self.nodes[p].continues_on_error(),
                    ),
                    Src::Collect(c) => (true, self.graph.collects[c].tolerant),
                    _ => (false, false),
                };
                match param.kind {
                    ParamKind::Option => Wire::Option,
                    ParamKind::Result => Wire::Result,
                    ParamKind::OptionResult => Wire::OptionResult,
                    _ if tolerant_map => Wire::ResultSlice,
                    _ if map || matches!(param.inner, syn::Type::Slice(_)) => Wire::Slice,
                    _ => Wire::Ref,
                }
            })
            .collect()
    }

    /// The unawaited call of node `i` under its policy (with the workflow's `defaults(...)`
    /// where it takes them): its own `__flow_call`, or, for a node whose only policy comes
    /// from the defaults, the same call written here.
    fn policy_call(&self, i: usize, element: TokenStream, args: &[TokenStream]) -> TokenStream {
        let node = &self.nodes[i];
        let path = node.path;
        let defaults = if node.options.defaulted {
            quote!(::core::option::Option::Some(&__FLOW_DEFAULTS))
        } else {
            quote!(::core::option::Option::None)
        };
        if node.options.own_call || !node.options.defaulted {
            return quote!(#path::__flow_call(__flow_run, __FLOW_WORKFLOW, #element, #defaults, #(#args),*));
        }
        let vars: Vec<Ident> = (0..args.len())
            .map(|k| format_ident!("__flow_a{}", k))
            .collect();
        let body = if node.sig.fallible {
            quote!(#path(#(#vars),*).await)
        } else {
            quote!(::core::result::Result::Ok::<_, ::core::convert::Infallible>(#path(#(#vars),*).await))
        };
        quote! {{
            #(let #vars = #args;)*
            ::flow_runtime::__private::call(
                __flow_run,
                __FLOW_WORKFLOW,
                #path::INFO,
                #element,
                &__FLOW_DEFAULTS,
                move |_: u32| async move { #body },
                |_: &_| true,
            )
        }}
    }

    /// [`attempt_future`](Body::attempt_future) without the journal.
    fn attempt_future_plain(
        &self,
        i: usize,
        args: &[TokenStream],
        element: TokenStream,
        capture: TokenStream,
    ) -> TokenStream {
        let path = self.nodes[i].path;
        if self.policy(i) {
            return self.policy_call(i, element, args);
        }
        if self.nodes[i].sig.fallible {
            quote!(__flow_run.gate::<#path, _, _>(#element, ::flow_runtime::__private::Checked::<__FlowW>::NEW, #path(#(#args),*)))
        } else {
            let call = quote!(__flow_run.gate::<#path, _, _>(#element, ::flow_runtime::__private::Plain, #path(#(#args),*)).await);
            quote! {
                async #capture { ::core::result::Result::Ok::<_, ::flow_runtime::Error>(#call) }
            }
        }
    }

    /// The awaited race of a group's members, and the values they need that may be missing.
    fn invoke_race(
        &self,
        race: &analyse::Race,
        local: &dyn Fn(usize) -> Option<Ident>,
    ) -> (TokenStream, Vec<(TokenStream, Ident)>) {
        let mut skips = Vec::new();
        let mut pins = Vec::new();
        let mut polls = Vec::new();
        let mut errs = Vec::new();
        for (k, &m) in race.members.iter().enumerate() {
            let (args, member_skips) = self.args(m, local);
            skips.extend(member_skips);
            let mut future =
                self.attempt_future(m, &args, quote!(::core::option::Option::None), quote!());
            if self.durable {
                // One winner is recorded, and a resumed run's recorded winner wins again.
                let infos = race.members.iter().map(|&o| {
                    let p = self.nodes[o].path;
                    quote!(#p::INFO)
                });
                future = quote!(#future.member(&__flow_claim, &[#(#infos),*]));
            }
            let x = format_ident!("__flow_x{}", k);
            pins.push(quote! {
                let mut #x = ::core::pin::pin!(::flow_runtime::__private::Maybe::new(#future));
            });
            polls.push(quote! {
                if let ::core::option::Option::Some(__flow_v) = #x.as_mut().poll_race(__flow_cx, &mut __flow_pending) {
                    return ::core::task::Poll::Ready(::core::option::Option::Some(__flow_v));
                }
            });
            errs.push(quote!(#x.as_mut().take_err()));
        }
        let name = &race.name;
        let rank = rank(race.members[0]);
        let claim = self
            .durable
            .then(|| quote!(let __flow_claim = ::flow_runtime::__private::RaceClaim::new();));
        let failed = quote! {
            ::flow_runtime::__private::race_failed(
                __FLOW_WORKFLOW,
                #name,
                ::std::vec![#(#errs),*],
            )
        };
        // A tolerant race's failure is a value for its consumers.
        let finish = if self.tolerant(race.members[0]) {
            quote! {
                match __flow_won {
                    ::core::option::Option::Some(__flow_v) => ::core::result::Result::Ok(__flow_v),
                    ::core::option::Option::None => ::core::result::Result::Err(#failed),
                }
            }
        } else {
            quote! {
                match __flow_won {
                    ::core::option::Option::Some(__flow_v) => __flow_v,
                    ::core::option::Option::None => {
                        return ::flow_runtime::__private::rank(
                            ::core::result::Result::Err(#failed),
                            #rank,
                        );
                    }
                }
            }
        };
        let call = quote! {{
            #claim
            #(#pins)*
            let __flow_won = ::core::future::poll_fn(|__flow_cx: &mut ::core::task::Context<'_>| {
                let mut __flow_pending = false;
                #(#polls)*
                if __flow_pending {
                    ::core::task::Poll::Pending
                } else {
                    ::core::task::Poll::Ready(::core::option::Option::None)
                }
            })
            .await;
            #finish
        }};
        (call, skips)
    }

    /// The awaited run of mapped node `i` over the elements of its `over` argument.
    fn invoke_map(&self, i: usize, spec: &parse::MapSpec, args: &[TokenStream]) -> TokenStream {
        let node = &self.nodes[i];
        let over = self.graph.over[i].expect("a mapped node has an element parameter");
        let position = node.sig.params[..over]
            .iter()
            .filter(|p| p.kind != ParamKind::Context)
            .count();
        let mut binds = Vec::new();
        let mut element_args = Vec::new();
        let mut collection = quote!();
        for (k, arg) in args.iter().enumerate() {
            if k == position {
                collection = arg.clone();
                element_args.push(quote!(__flow_e));
            } else {
                let a = format_ident!("__flow_a{}", k);
                binds.push(quote!(let #a = #arg;));
                element_args.push(a.into_token_stream());
            }
        }
        let element = self.attempt_future(
            i,
            &element_args,
            quote!(::core::option::Option::Some(__flow_n)),
            quote!(move),
        );
        // The run's `RunOptions::map_concurrency` for the node, else the workflow's: a
        // number, or an input read at run time.
        let default = match (
            spec.concurrency,
            self.graph.map_limit[i],
            &spec.concurrency_input,
        ) {
            (Some(n), _, _) => quote!(::core::option::Option::Some(#n)),
            (None, Some(k), Some(ident)) => {
                // At the input's name, where a wrong type is reported.
                let var = Ident::new(&input_var(k).to_string(), ident.span());
                quote_spanned!(ident.span()=> ::flow_runtime::__private::map_limit(#var))
            }
            _ => quote!(::core::option::Option::None),
        };
        let path = node.path;
        let concurrency = quote!(__flow_run.map_concurrency(#path::INFO, #default));
        let run = if node.continues_on_error() {
            quote!(::flow_runtime::__private::map_all(#collection, #concurrency, move |__flow_n, __flow_e| #element).await)
        } else {
            let rank = rank(i);
            quote!(::flow_runtime::__private::rank(::flow_runtime::__private::map(#collection, #concurrency, move |__flow_n, __flow_e| #element).await, #rank)?)
        };
        quote! {{
            #(#binds)*
            #run
        }}
    }

    /// Runs node `i` and stores its output where its consumers find it.
    fn store(&self, i: usize, call: TokenStream) -> TokenStream {
        if let Some((c, k)) = self.graph.collected[i] {
            let var = collect_var(c);
            let opt = quote!(::core::option::Option);
            let res = quote!(::core::result::Result);
            // A tolerant collect holds each producer's `Result`; a skipped producer is left
            // out.
            let value = match (
                self.graph.collects[c].tolerant,
                self.tolerant(i),
                self.graph.maybe(i),
            ) {
                (false, _, false) | (true, true, false) => quote!(#opt::Some(#call)),
                (false, _, true) => call,
                (true, true, true) => quote!(#res::transpose(#call)),
                (true, false, false) => quote!(#opt::Some(#res::Ok(#call))),
                (true, false, true) => quote!(#opt::map(#call, #res::Ok)),
            };
            quote!(#var.put(#k, #value);)
        } else if self.kept(i) {
            // Stamped when it completes: compensations run in reverse completion order.
            let k = kept_var(i);
            let stamp = if self.durable {
                quote!(::flow_runtime::__private::stamp(__flow_run, &__flow_stamps))
            } else {
                quote!(__flow_stamps.next())
            };
            quote! {
                let __flow_v = #call;
                #k.keep(#stamp, __flow_v);
            }
        } else if self.binds(i) {
            let var = out_var(i);
            quote!(let #var = #call;)
        } else {
            quote!(let _ = #call;)
        }
    }

    /// The arguments of node `i` (without the run context), each spanned at its parameter so
    /// that a type mismatch points there, and the values that may be missing: an
    /// `Option<&T>`-typed expression and the variable the argument uses when it is there.
    fn args(
        &self,
        i: usize,
        local: &dyn Fn(usize) -> Option<Ident>,
    ) -> (Vec<TokenStream>, Vec<(TokenStream, Ident)>) {
        let node = &self.nodes[i];
        let mut skips = Vec::new();
        let args = node
            .sig
            .params
            .iter()
            .enumerate()
            .zip(&self.graph.deps[i])
            .filter(|(_, src)| **src != Src::Context)
            .map(|((k, param), src)| {
                let span = param.ty.span();
                let part = self.graph.parts[i][k];
                // The value as the consumer sees it: `&T`, or `Option<&T>` when it may be
                // missing, each in `Result<_, &Error>` when its provider's failure is
                // tolerated; projected on the element `part` of a tuple output.
                let (view, tolerant, maybe) = match *src {
                    Src::Input(k) => {
                        let var = input_var(k);
                        (quote_spanned!(span=> #var), false, false)
                    }
                    Src::Node(p) => {
                        let value = match local(p) {
                            Some(var) => quote_spanned!(span=> #var),
                            None if self.kept(p) => {
                                let k = kept_var(p);
                                quote_spanned!(span=> #k.value())
                            }
                            None => {
                                let var = out_var(p);
                                quote_spanned!(span=> &#var)
                            }
                        };
                        let tolerant = self.tolerant(p);
                        let view = self.view(p, part, value, span);
                        (view, tolerant, self.graph.maybe_part(p, part))
                    }
                    Src::Collect(c) => {
                        let var = collect_var(c);
                        (quote_spanned!(span=> #var.values()), false, false)
                    }
                    Src::Context => unreachable!("filtered above"),
                };
                let mut skip = |scrutinee: TokenStream| {
                    let m = format_ident!("__flow_m{}_{}", i, k);
                    skips.push((scrutinee, m.clone()));
                    m
                };
                match (param.kind, tolerant, maybe) {
                    (ParamKind::Option, true, false) => {
                        quote_spanned!(span=> ::core::result::Result::ok(#view))
                    }
                    (ParamKind::Option, true, true) => quote_spanned!(span=>
                        ::core::option::Option::flatten(::core::result::Result::ok(#view))
                    ),
                    (ParamKind::Option, false, false) => {
                        quote_spanned!(span=> ::core::option::Option::Some(#view))
                    }
                    (ParamKind::Option, false, true) => view,
                    (ParamKind::OptionResult, false, false) => quote_spanned!(span=>
                        ::core::option::Option::Some(::core::result::Result::Ok(#view))
                    ),
                    (ParamKind::OptionResult, false, true) => quote_spanned!(span=>
                        ::core::option::Option::map(#view, ::core::result::Result::Ok)
                    ),
                    (ParamKind::OptionResult, true, false) => {
                        quote_spanned!(span=> ::core::option::Option::Some(#view))
                    }
                    (ParamKind::OptionResult, true, true) => {
                        quote_spanned!(span=> ::core::result::Result::transpose(#view))
                    }
                    (ParamKind::Result, true, false) => view,
                    (ParamKind::Result, true, true) => {
                        let m = skip(quote!(::core::result::Result::transpose(#view)));
                        quote_spanned!(span=> #m)
                    }
                    (ParamKind::Result, false, false) => {
                        quote_spanned!(span=> ::core::result::Result::Ok(#view))
                    }
                    (ParamKind::Result, false, true) => {
                        let m = skip(view);
                        quote_spanned!(span=> ::core::result::Result::Ok(#m))
                    }
                    (_, _, true) => {
                        let m = skip(view);
                        quote_spanned!(span=> #m)
                    }
                    _ => view,
                }
            })
            .collect();
        (args, skips)
    }

    /// The value node `p` provides as its consumers see it, from `value`, a reference to
    /// what the node's call stored: `&T`, or `Option<&T>` when it may be missing, each in
    /// `Result<_, &Error>` when the node's failure is tolerated; for element `part` of a
    /// tuple output, that element.
    fn view(&self, p: usize, part: Option<usize>, value: TokenStream, span: Span) -> TokenStream {
        let (tolerant, stored_maybe) = (self.tolerant(p), self.graph.maybe(p));
        let opt = quote!(::core::option::Option);
        let res = quote!(::core::result::Result);
        let view = match (tolerant, stored_maybe) {
            (false, false) => value,
            (false, true) => quote_spanned!(span=> #opt::as_ref(#value)),
            (true, false) => quote_spanned!(span=> #res::as_ref(#value)),
            (true, true) => quote_spanned!(span=> #res::map(#res::as_ref(#value), #opt::as_ref)),
        };
        let Some(j) = part else {
            return view;
        };
        let optional = self.graph.optional_part(p, part);
        let j = syn::Index::from(j);
        match (tolerant, stored_maybe, optional) {
            (false, false, false) => quote_spanned!(span=> &(#view).#j),
            (false, false, true) => quote_spanned!(span=> #opt::as_ref(&(#view).#j)),
            (false, true, false) => {
                quote_spanned!(span=> #opt::map(#view, |__flow_t| &__flow_t.#j))
            }
            (false, true, true) => {
                quote_spanned!(span=> #opt::and_then(#view, |__flow_t| #opt::as_ref(&__flow_t.#j)))
            }
            (true, false, false) => {
                quote_spanned!(span=> #res::map(#view, |__flow_t| &__flow_t.#j))
            }
            (true, false, true) => {
                quote_spanned!(span=> #res::map(#view, |__flow_t| #opt::as_ref(&__flow_t.#j)))
            }
            (true, true, false) => quote_spanned!(span=>
                #res::map(#view, |__flow_o| #opt::map(__flow_o, |__flow_t| &__flow_t.#j))
            ),
            (true, true, true) => quote_spanned!(span=>
                #res::map(#view, |__flow_o| #opt::and_then(__flow_o, |__flow_t| #opt::as_ref(&__flow_t.#j)))
            ),
        }
    }

    /// The workflow's output moved out of `value`, what the output node's call stored
    /// (without its `Result` when tolerated): the element of a tuple output, as an `Option`
    /// when it may be missing.
    fn take_output(&self, i: usize, value: TokenStream) -> TokenStream {
        let Some(j) = self.graph.output_part else {
            return value;
        };
        let j = syn::Index::from(j);
        let opt = quote!(::core::option::Option);
        match (
            self.graph.maybe(i),
            self.graph.optional_part(i, self.graph.output_part),
        ) {
            (false, _) => quote!(#value.#j),
            (true, false) => quote!(#opt::map(#value, |__flow_t| __flow_t.#j)),
            (true, true) => quote!(#opt::and_then(#value, |__flow_t| __flow_t.#j)),
        }
    }

    /// Statements that run `plan` and bind the outputs of its nodes.
    fn stmts(&self, plan: &Plan) -> TokenStream {
        match plan {
            Plan::Node(i) => self.store(*i, self.call(*i, &|_| None)),
            Plan::Seq(parts) => parts.iter().map(|p| self.stmts(p)).collect(),
            Plan::Par(branches) => {
                let mut joined = Vec::new();
                let mut patterns = Vec::new();
                for branch in branches {
                    let set = nodes_of(branch);
                    let fallible = set.iter().any(|&i| self.fails(i));
                    match branch {
                        // A lone node joins as its own future, as in hand-written code.
                        Plan::Node(i)
                            if !fallible
                                && !self.policy(*i)
                                && !self.kept(*i)
                                && !self.graph.skippable[*i]
                                && self.nodes[*i].map().is_none()
                                && self.graph.race_of[*i].is_none()
                                && self.graph.collected[*i].is_none() =>
                        {
                            let path = self.nodes[*i].path;
                            let (args, _) = self.args(*i, &|_| None);
                            joined.push((
                                quote!(__flow_run.gate::<#path, _, _>(
                                    ::core::option::Option::None,
                                    ::flow_runtime::__private::Plain,
                                    #path(#(#args),*),
                                )),
                                false,
                            ));
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
                            } else if exports.is_empty() {
                                quote!(async { #stmts })
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
                        self.nodes[i].provides.is_some()
                            && !self.kept(i)
                            && self.graph.collected[i].is_none()
                            && (exports.contains(&i)
                                || self.graph.consumers[i].iter().any(|c| set.contains(c)))
                    })
                    .collect();
                // Ordering edges inside the join: each first node signals when it has ended.
                let ordered: Vec<(usize, usize)> = self
                    .graph
                    .order
                    .iter()
                    .map(|&(first, then)| (self.graph.lead(first), self.graph.lead(then)))
                    .filter(|(first, then)| set.contains(first) && set.contains(then))
                    .collect();
                let signals: Vec<usize> = set
                    .iter()
                    .copied()
                    .filter(|i| ordered.iter().any(|(first, _)| first == i))
                    .collect();
                let slots = slotted
                    .iter()
                    .map(|&i| {
                        let s = slot_var(i);
                        quote!(let #s = ::flow_runtime::__private::Slot::new();)
                    })
                    .chain(signals.iter().map(|&i| {
                        let d = done_var(i);
                        quote!(let #d = ::flow_runtime::__private::Slot::<()>::new();)
                    }))
                    .collect::<Vec<_>>();
                let futures: Vec<(TokenStream, bool)> = set
                    .iter()
                    .map(|&i| {
                        let mut waits = Vec::new();
                        let mut local_deps = Vec::new();
                        let mut collects = Vec::new();
                        for src in self
                            .graph
                            .step(&i)
                            .iter()
                            .flat_map(|&m| &self.graph.deps[m])
                        {
                            if let Src::Collect(c) = *src
                                && !collects.contains(&c)
                                && self.graph.collects[c]
                                    .producers
                                    .iter()
                                    .any(|p| set.contains(p))
                            {
                                collects.push(c);
                                let var = collect_var(c);
                                waits.push(quote!(#var.wait_all().await;));
                            }
                            if let Src::Node(p) = *src
                                && set.contains(&p)
                                && !local_deps.contains(&p)
                            {
                                local_deps.push(p);
                                let r = ref_var(p);
                                let s = if self.kept(p) {
                                    kept_var(p)
                                } else {
                                    slot_var(p)
                                };
                                waits.push(quote!(let #r = #s.wait().await;));
                            }
                        }
                        for &(first, _) in ordered.iter().filter(|(_, then)| *then == i) {
                            let d = done_var(first);
                            waits.push(quote!(#d.wait().await;));
                        }
                        let call = self.call(i, &|p| local_deps.contains(&p).then(|| ref_var(p)));
                        let store = if slotted.contains(&i) {
                            let s = slot_var(i);
                            quote!(#s.set(#call);)
                        } else if self.kept(i) || self.graph.collected[i].is_some() {
                            self.store(i, call)
                        } else {
                            quote!(let _ = #call;)
                        };
                        let store = if signals.contains(&i) {
                            let d = done_var(i);
                            quote!(#store #d.set(());)
                        } else {
                            store
                        };
                        if self.fails(i) {
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
                if exports.is_empty() {
                    return quote! {
                        {
                            #(#slots)*
                            #join
                        }
                    };
                }
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
            quote!(#b.as_mut().poll_branch(__flow_cx, &mut __flow_pending, &mut __flow_failed))
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
    // Every branch is polled once per pass; a failure ends the join at the end of the pass,
    // with the failure of the node listed first among those of the pass.
    let (failed, check) = if any_fallible {
        (
            quote!(let mut __flow_failed = ::flow_runtime::__private::Failed::new();),
            quote! {
                if let ::core::option::Option::Some(__flow_e) = __flow_failed.take() {
                    return ::core::task::Poll::Ready(::core::result::Result::Err(__flow_e));
                }
            },
        )
    } else {
        (quote!(), quote!())
    };
    let poll_body = if dataflow {
        // Passes go on while one finishes a future, also after a failure: what becomes
        // ready at the instant of a failure starts, as it does in a sequence.
        quote! {
            #failed
            loop {
                let mut __flow_pending = false;
                let mut __flow_progress = false;
                #(#polls)*
                if !__flow_pending || !__flow_progress {
                    #check
                }
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
            #failed
            #(#polls)*
            #check
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
