//! Parsing: the attributes' options, `#[node]` functions and `#[workflow]` declarations,
//! into small structures that keep the user's tokens, so every later error can point at
//! them.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{
    Attribute, Expr, FnArg, Ident, Lit, LitStr, Meta, Pat, Path, ReturnType, Signature, Token,
    Type, Visibility,
};

use crate::errors::Errors;
use crate::types;

/// An option an attribute accepts, and how it is written.
pub struct OptionSpec {
    pub form: &'static str,
}

pub const NODE_OPTIONS: &[OptionSpec] = &[OptionSpec {
    form: "name = \"...\"",
}];

pub const WORKFLOW_OPTIONS: &[OptionSpec] = &[OptionSpec {
    form: "name = \"...\"",
}];

fn valid_list(options: &[OptionSpec]) -> String {
    options
        .iter()
        .map(|o| format!("`{}`", o.form))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The name given by a `name = "..."` option, or else the function's.
pub fn name_or(option: &Option<LitStr>, ident: &Ident) -> String {
    option
        .as_ref()
        .map(LitStr::value)
        .unwrap_or_else(|| ident.to_string())
}

/// The options of `#[node(...)]`.
#[derive(Default)]
pub struct NodeOptions {
    pub name: Option<LitStr>,
}

/// The arguments of `#[workflow(...)]`: the listed nodes and the options.
#[derive(Default)]
pub struct WorkflowArgs {
    pub nodes: Vec<Path>,
    pub name: Option<LitStr>,
}

fn parse_metas(args: TokenStream, attr: &str, errors: &mut Errors) -> Vec<Meta> {
    match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas.into_iter().collect(),
        Err(e) => {
            let what = if attr == "workflow" {
                "node paths and `key = value` options, separated by commas: `#[workflow(fetch, merge, name = \"...\")]`"
            } else {
                "`key = value` options, separated by commas"
            };
            errors.at(
                e.span(),
                format!("malformed `#[{attr}]` arguments: {e}; expected {what}"),
            );
            Vec::new()
        }
    }
}

fn string_option(meta: &Meta, slot: &mut Option<LitStr>, attr: &str, errors: &mut Errors) {
    let name = meta
        .path()
        .get_ident()
        .map(Ident::to_string)
        .unwrap_or_default();
    let value = match meta {
        Meta::NameValue(nv) => match &nv.value {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    };
    let Some(value) = value else {
        errors.spanned(
            meta,
            format!("`#[{attr}(...)]` option `{name}` takes a string: `{name} = \"...\"`"),
        );
        return;
    };
    if value.value().trim().is_empty() {
        errors.spanned(&value, format!("`{name}` cannot be empty"));
        return;
    }
    if slot.is_some() {
        errors.spanned(meta, format!("option `{name}` is given twice"));
        return;
    }
    *slot = Some(value);
}

fn unknown_option(meta: &Meta, attr: &str, valid: &[OptionSpec], errors: &mut Errors) {
    let shown = meta.path().to_token_stream().to_string().replace(' ', "");
    errors.spanned(
        meta.path(),
        format!(
            "unknown option `{shown}` for `#[{attr}]`; valid options: {}",
            valid_list(valid)
        ),
    );
}

/// Parses `#[node(...)]`'s arguments.
pub fn node_options(args: TokenStream, errors: &mut Errors) -> NodeOptions {
    let mut options = NodeOptions::default();
    for meta in parse_metas(args, "node", errors) {
        if meta.path().is_ident("name") {
            string_option(&meta, &mut options.name, "node", errors);
        } else {
            unknown_option(&meta, "node", NODE_OPTIONS, errors);
        }
    }
    options
}

/// Parses `#[workflow(...)]`'s arguments: bare paths are nodes, the rest options.
pub fn workflow_args(args: TokenStream, errors: &mut Errors) -> WorkflowArgs {
    let mut parsed = WorkflowArgs::default();
    let mut seen: Vec<String> = Vec::new();
    for meta in parse_metas(args, "workflow", errors) {
        match &meta {
            Meta::Path(path) => {
                let text = path.to_token_stream().to_string().replace(' ', "");
                if seen.contains(&text) {
                    errors.spanned(
                        path,
                        format!(
                            "node `{text}` is listed twice; a node runs once per run, list it once"
                        ),
                    );
                    continue;
                }
                seen.push(text);
                parsed.nodes.push(path.clone());
            }
            _ if meta.path().is_ident("name") => {
                string_option(&meta, &mut parsed.name, "workflow", errors);
            }
            _ => unknown_option(&meta, "workflow", WORKFLOW_OPTIONS, errors),
        }
    }
    parsed
}

/// One parameter of a node: `items: &Items`.
pub struct NodeParam {
    /// The parameter's name, or `_`.
    pub name: String,
    /// The whole parameter type, `&Items`, for spans.
    pub ty: Type,
    /// The referenced type, `Items`.
    pub inner: Type,
    pub key: String,
}

/// What a node returns.
pub struct NodeSig {
    pub ident: Ident,
    pub params: Vec<NodeParam>,
    /// The type the node provides: `Items` for `-> Result<Items, E>`; `None` for `()`.
    pub output: Option<Type>,
    pub fallible: bool,
    /// The return type as written, for metadata (`()` when there is none).
    pub returns: String,
}

impl NodeSig {
    /// Checks a `#[node]` function's signature and reads its graph interface.
    pub fn analyse(sig: &Signature, errors: &mut Errors) -> Option<NodeSig> {
        let before = errors.len();
        let name = &sig.ident;
        if sig.asyncness.is_none() {
            errors.spanned(
                sig.fn_token,
                format!("`#[node]` functions must be `async`: write `async fn {name}(...)`"),
            );
        }
        if let Some(c) = &sig.constness {
            errors.spanned(c, "a `#[node]` function cannot be `const`");
        }
        if let Some(u) = &sig.unsafety {
            errors.spanned(u, "a `#[node]` function cannot be `unsafe`: the workflow calls it without an `unsafe` block");
        }
        if let Some(abi) = &sig.abi {
            errors.spanned(abi, "a `#[node]` function cannot have an `extern` ABI");
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            errors.spanned(
                &sig.generics,
                format!("node `{name}` cannot be generic: a workflow must know the exact type of every input and output"),
            );
        }
        if let Some(v) = &sig.variadic {
            errors.spanned(v, "a `#[node]` function cannot be variadic");
        }
        let mut params = Vec::new();
        for arg in &sig.inputs {
            let pat_type = match arg {
                FnArg::Receiver(r) => {
                    errors.spanned(
                        r,
                        format!("node `{name}` cannot take `self`: a node is a free function whose parameters are its inputs"),
                    );
                    continue;
                }
                FnArg::Typed(t) => t,
            };
            let param_name = match &*pat_type.pat {
                Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.to_string(),
                Pat::Wild(_) => "_".to_string(),
                other => {
                    errors.spanned(
                        other,
                        format!("node `{name}` cannot use a pattern as a parameter: give it a name, as in `value: &T`, and destructure in the body"),
                    );
                    continue;
                }
            };
            let inner = match &*pat_type.ty {
                Type::Reference(r) if r.mutability.is_none() => (*r.elem).clone(),
                Type::Reference(r) => {
                    errors.spanned(
                        &pat_type.ty,
                        format!("parameter `{param_name}` of node `{name}` cannot be `&mut`: inputs are shared by every node that reads them; take `&{}` and clone it to change it", types::display(&r.elem)),
                    );
                    continue;
                }
                other => {
                    errors.spanned(
                        other,
                        format!("parameter `{param_name}` of node `{name}` must be a shared reference: take `&{}`, which another node or the workflow's input provides", types::display(other)),
                    );
                    continue;
                }
            };
            if contains_impl_trait(&inner) {
                errors.spanned(
                    &inner,
                    format!("node `{name}` cannot take `impl Trait`: that makes it generic; name the type"),
                );
                continue;
            }
            params.push(NodeParam {
                name: param_name,
                key: types::key(&inner),
                ty: (*pat_type.ty).clone(),
                inner,
            });
        }
        let (output, fallible, returns) = match &sig.output {
            ReturnType::Default => (None, false, "()".to_string()),
            ReturnType::Type(_, ty) => {
                let returns = types::display(ty);
                match types::result_ok_type(ty) {
                    Some(Some(ok)) => {
                        let out = (!types::is_unit(ok)).then(|| ok.clone());
                        (out, true, returns)
                    }
                    Some(None) => {
                        errors.spanned(
                            ty,
                            format!("cannot tell what node `{name}` provides: write `Result<T, E>` with the success type"),
                        );
                        (None, true, returns)
                    }
                    None => {
                        let out = (!types::is_unit(ty)).then(|| (**ty).clone());
                        (out, false, returns)
                    }
                }
            }
        };
        if let Some(out) = &output
            && let Some(problem) = unowned(out)
        {
            errors.spanned(
                out,
                format!("node `{name}` must return an owned value that other nodes can borrow, not {problem}"),
            );
        }
        (errors.len() == before).then(|| NodeSig {
            ident: sig.ident.clone(),
            params,
            output,
            fallible,
            returns,
        })
    }
}

fn contains_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'a> syn::visit::Visit<'a> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'a syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    syn::visit::visit_type(&mut finder, ty);
    finder.0
}

/// Why a node's output type is not an owned, nameable type, if it is not.
fn unowned(ty: &Type) -> Option<&'static str> {
    struct Finder(Option<&'static str>);
    impl<'a> syn::visit::Visit<'a> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'a syn::TypeImplTrait) {
            self.0
                .get_or_insert("`impl Trait`: its type has no name the workflow can use");
        }
        fn visit_type_reference(&mut self, r: &'a syn::TypeReference) {
            if r.lifetime.as_ref().is_none_or(|l| l.ident != "static") {
                self.0.get_or_insert("a borrowed reference");
            }
            syn::visit::visit_type_reference(self, r);
        }
        fn visit_type_infer(&mut self, _: &'a syn::TypeInfer) {
            self.0.get_or_insert("`_`");
        }
    }
    let mut finder = Finder(None);
    syn::visit::visit_type(&mut finder, ty);
    finder.0
}

/// A body-less `async fn` declaration under `#[workflow]`.
pub struct WorkflowDecl {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    /// The body, when the user wrote one (an error).
    pub body: Option<syn::Block>,
}

impl Parse for WorkflowDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body = if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
            None
        } else {
            Some(input.parse()?)
        };
        Ok(WorkflowDecl {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

/// One input of a workflow.
pub struct WorkflowInput {
    pub ident: Ident,
    /// The type as declared: `Request` or `&Request`.
    pub ty: Type,
    /// The provided type: `Request` in both cases.
    pub inner: Type,
    pub by_ref: bool,
    pub key: String,
}

/// A workflow's interface, read from its declaration.
pub struct WorkflowSig {
    pub ident: Ident,
    pub inputs: Vec<WorkflowInput>,
    /// The declared output type; `None` when the declaration has no return type.
    pub output: Option<Type>,
}

impl WorkflowSig {
    /// Checks a workflow declaration's signature and reads its inputs and output.
    pub fn analyse(sig: &Signature, errors: &mut Errors) -> WorkflowSig {
        let name = &sig.ident;
        if sig.asyncness.is_none() {
            errors.spanned(
                sig.fn_token,
                format!("a workflow is declared as an `async fn`: write `async fn {name}(...)`"),
            );
        }
        if let Some(c) = &sig.constness {
            errors.spanned(c, "a workflow cannot be `const`");
        }
        if let Some(u) = &sig.unsafety {
            errors.spanned(u, "a workflow cannot be `unsafe`");
        }
        if let Some(abi) = &sig.abi {
            errors.spanned(abi, "a workflow cannot have an `extern` ABI");
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            errors.spanned(
                &sig.generics,
                format!(
                    "workflow `{name}` cannot be generic: its graph is checked for exact types"
                ),
            );
        }
        if let Some(v) = &sig.variadic {
            errors.spanned(v, "a workflow cannot be variadic");
        }
        let mut inputs = Vec::new();
        for arg in &sig.inputs {
            let pat_type = match arg {
                FnArg::Receiver(r) => {
                    errors.spanned(
                        r,
                        format!(
                            "workflow `{name}` cannot take `self`: its parameters are its inputs"
                        ),
                    );
                    continue;
                }
                FnArg::Typed(t) => t,
            };
            let ident = match &*pat_type.pat {
                Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
                other => {
                    errors.spanned(
                        other,
                        format!("workflow `{name}`'s inputs must be plain names, as in `req: Request`, not patterns"),
                    );
                    continue;
                }
            };
            let (inner, by_ref) = match &*pat_type.ty {
                Type::Reference(r) if r.mutability.is_none() => ((*r.elem).clone(), true),
                Type::Reference(r) => {
                    errors.spanned(
                        &pat_type.ty,
                        format!("input `{ident}` of workflow `{name}` cannot be `&mut`: nodes share their inputs; take `{}` or `&{0}`", types::display(&r.elem)),
                    );
                    continue;
                }
                other => (other.clone(), false),
            };
            if contains_impl_trait(&inner) {
                errors.spanned(&inner, format!("workflow `{name}` cannot take `impl Trait`: that makes it generic; name the type"));
                continue;
            }
            inputs.push(WorkflowInput {
                ident,
                key: types::key(&inner),
                ty: (*pat_type.ty).clone(),
                inner,
                by_ref,
            });
        }
        let output = match &sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) if types::is_unit(ty) => None,
            ReturnType::Type(_, ty) => Some((**ty).clone()),
        };
        WorkflowSig {
            ident: sig.ident.clone(),
            inputs,
            output,
        }
    }
}
