//! Parsing: the attributes' options, `#[node]` functions and `#[workflow]` declarations,
//! into small structures that keep the user's tokens, so every later error can point at
//! them.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
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

pub const NODE_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        form: "name = \"...\"",
    },
    OptionSpec {
        form: "timeout = \"250ms\"",
    },
    OptionSpec {
        form: "retry(max_attempts = N, initial = \"100ms\", factor = 2.0, max_delay = \"10s\", jitter = bool, retry_if = path)",
    },
    OptionSpec {
        form: "continue_on_error",
    },
    OptionSpec {
        form: "compensate = path",
    },
    OptionSpec {
        form: "rate_limit = path",
    },
    OptionSpec {
        form: "limit = path",
    },
    OptionSpec { form: "blocking" },
    OptionSpec { form: "spawn" },
    OptionSpec {
        form: "after(node, ...)",
    },
    OptionSpec {
        form: "crate = \"path::to::flow_runtime\"",
    },
];

pub const WORKFLOW_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        form: "name = \"...\"",
    },
    OptionSpec {
        form: "max_concurrency = N",
    },
    OptionSpec {
        form: "timeout = \"30s\"",
    },
    OptionSpec { form: "durable" },
    OptionSpec {
        form: "after(node: first, ...)",
    },
    OptionSpec {
        form: "defaults(timeout = \"5s\", retry(...), continue_on_error)",
    },
    OptionSpec {
        form: "crate = \"path::to::flow_runtime\"",
    },
];

const DEFAULT_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        form: "timeout = \"250ms\"",
    },
    OptionSpec {
        form: "retry(max_attempts = N, ...)",
    },
    OptionSpec {
        form: "continue_on_error",
    },
];

/// What an unset `retry(...)` setting is.
const RETRY_DEFAULTS: &str = "the other settings default to `initial = \"100ms\"`, `factor = 2.0`, `max_delay = \"10s\"`, `jitter = false`, and every error is retried (`retry_if = path` to choose)";

const RETRY_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        form: "max_attempts = N",
    },
    OptionSpec {
        form: "initial = \"100ms\"",
    },
    OptionSpec {
        form: "factor = 2.0",
    },
    OptionSpec {
        form: "max_delay = \"10s\"",
    },
    OptionSpec {
        form: "jitter = bool",
    },
    OptionSpec {
        form: "retry_if = path",
    },
];

/// Reads a duration written as a number and a unit: `250ms`, `1.5s`, `2m`, `1h`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim();
    let scale = match unit {
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "" => {
            return Err(format!(
                "`{text}` has no unit: write it as `{text}ms`, `{text}s`, `{text}m` or `{text}h`"
            ));
        }
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`: use `ms`, `s`, `m` or `h`, as in `250ms`"
            ));
        }
    };
    let value: f64 = number.parse().map_err(|_| {
        format!("`{text}` is not a duration: write a number and a unit, as in `250ms` or `1.5s`")
    })?;
    let secs = value * scale;
    if !secs.is_finite() || secs > 1e12 {
        return Err(format!("`{text}` is too long"));
    }
    Ok(Duration::from_secs_f64(secs))
}

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
    /// `crate = "path"`: where the runtime is reached from this crate.
    pub krate: Option<Path>,
    pub name: Option<LitStr>,
    pub timeout: Option<Duration>,
    pub retry: Option<RetrySpec>,
    pub continue_on_error: Option<Span>,
    pub compensate: Option<Path>,
    pub rate_limit: Option<Path>,
    pub limit: Option<Path>,
    /// `rate_limit = "name"`: a limiter of the run's `Limiters`.
    pub rate_limit_name: Option<LitStr>,
    /// `limit = "name"`: a limit of the run's `Limiters`.
    pub limit_name: Option<LitStr>,
    pub blocking: Option<Span>,
    pub spawn: Option<Span>,
    /// `after(a, b)`: the nodes this one runs after, without taking their values.
    pub after: Vec<Path>,
    /// Set by a workflow's `defaults(...)`: the node runs under a policy it took from them
    /// (its own `__flow_call`, when it has one, merges them in).
    pub defaulted: bool,
    /// The node has a `__flow_call` of its own (from its own options).
    pub own_call: bool,
    /// Set in the packet of a workflow listed as a node of another workflow.
    pub workflow: bool,
    /// Set in the packet of a `durable` workflow.
    pub durable_workflow: bool,
}

impl NodeOptions {
    /// Whether the node runs through its `__flow_call` (which `#[node]` writes and
    /// `#[workflow]` calls) rather than being awaited directly: it has a policy, or takes the
    /// run context.
    pub fn runs_under_policy(&self, sig: &NodeSig) -> bool {
        self.workflow
            || self.has_policy()
            || sig.params.iter().any(|p| p.kind == ParamKind::Context)
    }

    fn has_policy(&self) -> bool {
        self.timeout.is_some()
            || self.retry.is_some()
            || self.continue_on_error.is_some()
            || self.rate_limit.is_some()
            || self.limit.is_some()
            || self.rate_limit_name.is_some()
            || self.limit_name.is_some()
            || self.blocking.is_some()
            || self.spawn.is_some()
    }
}

/// `retry(...)`.
#[derive(Clone)]
pub struct RetrySpec {
    pub max_attempts: u32,
    pub initial: Duration,
    pub factor: f64,
    pub max_delay: Duration,
    pub jitter: bool,
    pub retry_if: Option<Path>,
}

/// The arguments of `#[workflow(...)]`: the listed nodes and the options.
#[derive(Default)]
pub struct WorkflowArgs {
    /// `crate = "path"`: where the runtime is reached from this crate.
    pub krate: Option<Path>,
    /// Every listed node, in list order (members of `map(...)` and `race(...)` included).
    pub nodes: Vec<Path>,
    /// Per listed node, how it is applied.
    pub shapes: Vec<Shape>,
    /// The race groups, each naming its members by their index in `nodes`.
    pub races: Vec<RaceGroup>,
    pub name: Option<LitStr>,
    pub max_concurrency: Option<usize>,
    pub timeout: Option<Duration>,
    /// `durable`: runs given a store are journaled.
    pub durable: Option<Span>,
    /// `after(node: first, second)`: ordering edges without data.
    pub after: Vec<AfterSpec>,
    /// `defaults(...)`: options for every node that does not set its own.
    pub defaults: Option<Defaults>,
}

/// `defaults(timeout = "5s", retry(...), continue_on_error)` in `#[workflow(...)]`.
#[derive(Default)]
pub struct Defaults {
    pub timeout: Option<Duration>,
    pub retry: Option<RetrySpec>,
    pub continue_on_error: Option<Span>,
}

fn defaults_option(list: &syn::MetaList, errors: &mut Errors) -> Defaults {
    let mut d = Defaults::default();
    let before = errors.len();
    for meta in parse_metas(list.tokens.clone(), "workflow(defaults(..))", errors) {
        let key = option_name(&meta);
        match key.as_str() {
            "timeout" => {
                if let Some(t) = duration_option(&meta, "workflow(defaults(..))", false, errors) {
                    once(&mut d.timeout, t, &meta, errors);
                }
            }
            "retry" => {
                if let Some(r) = retry_option(&meta, errors) {
                    if let Some(p) = &r.retry_if {
                        errors.spanned(
                            p,
                            "`retry_if` cannot be a default: it takes one node's error type; give it in that node's own `retry(...)`",
                        );
                    } else {
                        once(&mut d.retry, r, &meta, errors);
                    }
                }
            }
            "continue_on_error" => flag_option(&meta, &mut d.continue_on_error, errors),
            _ => unknown_option(&meta, "workflow(defaults(..))", DEFAULT_OPTIONS, errors),
        }
    }
    if d.timeout.is_none()
        && d.retry.is_none()
        && d.continue_on_error.is_none()
        && errors.len() == before
    {
        errors.spanned(
            list,
            "`defaults(...)` gives options for every node that does not set its own: `defaults(timeout = \"5s\", retry(max_attempts = 3), continue_on_error)`",
        );
    }
    d
}

/// `after(node: first, second)` in `#[workflow(...)]`: `node` runs after `first` and
/// `second`.
pub struct AfterSpec {
    pub node: Path,
    pub after: Vec<Path>,
}

impl Parse for AfterSpec {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let node = input.parse()?;
        input.parse::<Token![:]>()?;
        let after = Punctuated::<Path, Token![,]>::parse_terminated(input)?;
        if after.is_empty() {
            return Err(input.error("expected the nodes it runs after"));
        }
        Ok(AfterSpec {
            node,
            after: after.into_iter().collect(),
        })
    }
}

/// The paths of `after(a, b)`.
fn after_list(meta: &Meta, errors: &mut Errors) -> Vec<Path> {
    let form = "`after(...)` names the nodes this one runs after, without taking their values: `#[node(after(send_email, audit))]`";
    let Meta::List(list) = meta else {
        errors.spanned(meta, form);
        return Vec::new();
    };
    match list.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated) {
        Ok(paths) if !paths.is_empty() => paths.into_iter().collect(),
        Ok(_) => {
            errors.spanned(meta, form);
            Vec::new()
        }
        Err(e) => {
            errors.at(e.span(), format!("malformed `after(...)`: {e}; {form}"));
            Vec::new()
        }
    }
}

/// How a listed node runs.
#[derive(Clone, Default)]
pub enum Shape {
    /// Once per run.
    #[default]
    Once,
    /// `map(node, ...)`: once per element of a collection.
    Map(MapSpec),
    /// A member of a race group `race(...)` (see `WorkflowArgs::races`).
    Race,
}

/// `map(node, concurrency = N, continue_on_error)`.
#[derive(Clone, Default)]
pub struct MapSpec {
    pub concurrency: Option<usize>,
    /// `concurrency = input`: the workflow input that gives it, at run time.
    pub concurrency_input: Option<Ident>,
    pub continue_on_error: bool,
    /// The parameter that takes one element, when given as `over = name`.
    pub over: Option<Ident>,
}

/// `race(a, b, ...)`.
pub struct RaceGroup {
    pub members: Vec<usize>,
    /// `race(a, b, continue_on_error)`: the failure of every member is handed to the
    /// race's consumers instead of ending the run.
    pub continue_on_error: bool,
}

pub const MAP_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        form: "concurrency = N",
    },
    OptionSpec {
        form: "continue_on_error",
    },
    OptionSpec {
        form: "over = param",
    },
];

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
    let name = option_name(meta);
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
    once(slot, value, meta, errors);
}

/// The `crate = "path"` among an attribute's arguments, if it is given and a path (its
/// errors are reported where the arguments are parsed).
pub fn crate_path(args: &TokenStream) -> Option<Path> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated
        .parse2(args.clone())
        .ok()?;
    metas.iter().find_map(|meta| match meta {
        Meta::NameValue(nv) if nv.path.is_ident("crate") => match &nv.value {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) => s.parse::<Path>().ok(),
            _ => None,
        },
        _ => None,
    })
}

/// `crate = "path"`: the path the runtime is reached by, as serde's and tokio's macros take
/// it (for a renamed dependency, `flow = { package = "flow-runtime" }`, or a facade crate
/// that re-exports it).
fn crate_option(meta: &Meta, slot: &mut Option<Path>, attr: &str, errors: &mut Errors) {
    let mut text = None;
    string_option(meta, &mut text, attr, errors);
    let Some(text) = text else {
        return;
    };
    match text.parse::<Path>() {
        Ok(path) => once(slot, path, meta, errors),
        Err(_) => errors.spanned(
            &text,
            format!(
                "`crate` takes the path this crate reaches the runtime by, as in `crate = \"flow\"` or `crate = \"my_facade::flow_runtime\"`; `{}` is not a path",
                text.value()
            ),
        ),
    }
}

fn unknown_option(meta: &Meta, attr: &str, valid: &[OptionSpec], errors: &mut Errors) {
    let shown = option_name(meta);
    errors.spanned(
        meta.path(),
        format!(
            "unknown option `{shown}` for `#[{attr}]`; valid options: {}",
            valid_list(valid)
        ),
    );
}

fn option_name(meta: &Meta) -> String {
    meta.path().to_token_stream().to_string().replace(' ', "")
}

/// Records a value for an option that may be given once.
fn once<T>(slot: &mut Option<T>, value: T, meta: &Meta, errors: &mut Errors) {
    if slot.is_some() {
        errors.spanned(
            meta,
            format!("option `{}` is given twice", option_name(meta)),
        );
    } else {
        *slot = Some(value);
    }
}

fn value_expr<'m>(meta: &'m Meta, attr: &str, form: &str, errors: &mut Errors) -> Option<&'m Expr> {
    match meta {
        Meta::NameValue(nv) => Some(&nv.value),
        _ => {
            errors.spanned(
                meta,
                format!(
                    "`#[{attr}(...)]` option `{}` takes a value: `{form}`",
                    option_name(meta)
                ),
            );
            None
        }
    }
}

/// `key = "250ms"`: a duration, which must not be zero unless `zero_ok`.
fn duration_option(
    meta: &Meta,
    attr: &str,
    zero_ok: bool,
    errors: &mut Errors,
) -> Option<Duration> {
    let name = option_name(meta);
    let form = format!("{name} = \"250ms\"");
    let expr = value_expr(meta, attr, &form, errors)?;
    let Expr::Lit(syn::ExprLit {
        lit: Lit::Str(s), ..
    }) = expr
    else {
        errors.spanned(
            expr,
            format!("`{name}` takes a duration in a string, with a unit: `{form}` (units `ms`, `s`, `m`, `h`)"),
        );
        return None;
    };
    match duration(&s.value()) {
        Ok(d) if d.is_zero() && !zero_ok => {
            errors.spanned(
                s,
                format!("`{name}` cannot be zero: a zero `{name}` would fail at once; leave the option out for no limit"),
            );
            None
        }
        Ok(d) => Some(d),
        Err(message) => {
            errors.spanned(s, format!("invalid `{name}`: {message}"));
            None
        }
    }
}

/// `key = 3`: a positive integer.
fn count_option(meta: &Meta, attr: &str, why_not_zero: &str, errors: &mut Errors) -> Option<u64> {
    let name = option_name(meta);
    let form = format!("{name} = 3");
    let expr = value_expr(meta, attr, &form, errors)?;
    let Expr::Lit(syn::ExprLit {
        lit: Lit::Int(n), ..
    }) = expr
    else {
        errors.spanned(expr, format!("`{name}` takes a whole number: `{form}`"));
        return None;
    };
    match n.base10_parse::<u64>() {
        Ok(0) => {
            errors.spanned(n, format!("`{name}` cannot be 0: {why_not_zero}"));
            None
        }
        Ok(v) if v <= u64::from(u32::MAX) => Some(v),
        _ => {
            errors.spanned(n, format!("`{name}` is too large"));
            None
        }
    }
}

/// `key = path`.
fn path_option(meta: &Meta, attr: &str, what: &str, errors: &mut Errors) -> Option<Path> {
    let name = option_name(meta);
    let form = format!("{name} = {what}");
    let expr = value_expr(meta, attr, &form, errors)?;
    match expr {
        Expr::Path(p) if p.qself.is_none() => Some(p.path.clone()),
        other => {
            errors.spanned(other, format!("`{name}` takes a path: `{form}`"));
            None
        }
    }
}

/// `limit = "name"`: when the value is a string, the name of a limiter of the run's
/// `Limiters` (`None` when it is empty, an error).
fn limiter_name(meta: &Meta, errors: &mut Errors) -> Option<Option<LitStr>> {
    let Meta::NameValue(nv) = meta else {
        return None;
    };
    let Expr::Lit(syn::ExprLit {
        lit: Lit::Str(s), ..
    }) = &nv.value
    else {
        return None;
    };
    if s.value().trim().is_empty() {
        errors.spanned(s, "a limiter's name cannot be empty");
        return Some(None);
    }
    Some(Some(s.clone()))
}

/// A bare flag: `blocking`.
fn flag_option(meta: &Meta, slot: &mut Option<Span>, errors: &mut Errors) {
    match meta {
        Meta::Path(p) => once(slot, p.span(), meta, errors),
        _ => errors.spanned(
            meta,
            format!(
                "`{0}` takes no value: write `#[node({0})]`",
                option_name(meta)
            ),
        ),
    }
}

fn retry_option(meta: &Meta, errors: &mut Errors) -> Option<RetrySpec> {
    let Meta::List(list) = meta else {
        errors.spanned(
            meta,
            format!("`retry` takes its settings in parentheses: `retry(max_attempts = 3)`; {RETRY_DEFAULTS}"),
        );
        return None;
    };
    let metas = match list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
        Ok(m) => m,
        Err(e) => {
            errors.at(e.span(), format!("malformed `retry(...)`: {e}; expected `key = value` settings, separated by commas"));
            return None;
        }
    };
    let before = errors.len();
    let (mut max_attempts, mut initial, mut factor, mut max_delay, mut jitter, mut retry_if) =
        (None, None, None, None, None, None);
    for m in &metas {
        let key = option_name(m);
        match key.as_str() {
            "max_attempts" => {
                if let Some(n) = count_option(
                    m,
                    "node",
                    "it counts every attempt, the first included; `max_attempts = 1` means no retry, and there is no unlimited setting",
                    errors,
                ) {
                    once(&mut max_attempts, n as u32, m, errors);
                }
            }
            "initial" => {
                if let Some(d) = duration_option(m, "node", true, errors) {
                    once(&mut initial, d, m, errors);
                }
            }
            "max_delay" => {
                if let Some(d) = duration_option(m, "node", false, errors) {
                    once(&mut max_delay, d, m, errors);
                }
            }
            "factor" => {
                let Some(expr) = value_expr(m, "node", "factor = 2.0", errors) else {
                    continue;
                };
                let value = match expr {
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Float(f), ..
                    }) => f.base10_parse::<f64>().ok(),
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Int(i), ..
                    }) => i.base10_parse::<f64>().ok(),
                    _ => None,
                };
                match value {
                    Some(f) if f.is_finite() && f >= 1.0 => once(&mut factor, f, m, errors),
                    Some(_) => errors.spanned(expr, "`factor` must be at least 1.0: each delay is `factor` times the one before"),
                    None => errors.spanned(expr, "`factor` takes a number: `factor = 2.0`"),
                }
            }
            "jitter" => {
                let value = match m {
                    Meta::Path(_) => Some(true),
                    Meta::NameValue(nv) => match &nv.value {
                        Expr::Lit(syn::ExprLit {
                            lit: Lit::Bool(b), ..
                        }) => Some(b.value),
                        _ => None,
                    },
                    Meta::List(_) => None,
                };
                match value {
                    Some(b) => once(&mut jitter, b, m, errors),
                    None => errors.spanned(m, "`jitter` takes `true` or `false`: `jitter = true`"),
                }
            }
            "retry_if" => {
                if let Some(p) = path_option(m, "node", "path::to::fn", errors) {
                    once(&mut retry_if, p, m, errors);
                }
            }
            _ => errors.spanned(
                m.path(),
                format!(
                    "unknown setting `{key}` in `retry(...)`; valid settings: {}",
                    valid_list(RETRY_OPTIONS)
                ),
            ),
        }
    }
    if errors.len() != before {
        return None;
    }
    let Some(max_attempts) = max_attempts else {
        errors.spanned(
            meta,
            format!("`retry(...)` needs `max_attempts = N`: how many attempts in all, the first included; {RETRY_DEFAULTS}"),
        );
        return None;
    };
    let initial = initial.unwrap_or(Duration::from_millis(100));
    let max_delay = max_delay.unwrap_or(Duration::from_secs(10));
    if max_delay < initial {
        errors.spanned(
            meta,
            format!("`max_delay` ({max_delay:?}) is shorter than `initial` ({initial:?})"),
        );
        return None;
    }
    Some(RetrySpec {
        max_attempts,
        initial,
        factor: factor.unwrap_or(2.0),
        max_delay,
        jitter: jitter.unwrap_or(false),
        retry_if,
    })
}

/// Parses `#[node(...)]`'s arguments.
pub fn node_options(args: TokenStream, errors: &mut Errors) -> NodeOptions {
    let mut o = NodeOptions::default();
    for meta in parse_metas(args, "node", errors) {
        let key = option_name(&meta);
        match key.as_str() {
            "name" => string_option(&meta, &mut o.name, "node", errors),
            "crate" => crate_option(&meta, &mut o.krate, "node", errors),
            "timeout" => {
                if let Some(d) = duration_option(&meta, "node", false, errors) {
                    once(&mut o.timeout, d, &meta, errors);
                }
            }
            "retry" => {
                if let Some(r) = retry_option(&meta, errors) {
                    once(&mut o.retry, r, &meta, errors);
                }
            }
            "continue_on_error" => flag_option(&meta, &mut o.continue_on_error, errors),
            // Written by `#[workflow]` into its own callback packet, never by users.
            "__flow_workflow" => o.workflow = true,
            "__flow_durable" => o.durable_workflow = true,
            "blocking" => flag_option(&meta, &mut o.blocking, errors),
            "spawn" => flag_option(&meta, &mut o.spawn, errors),
            "after" => {
                if !o.after.is_empty() {
                    errors.spanned(
                        &meta,
                        "option `after` is given twice: list every node in one `after(...)`",
                    );
                }
                o.after.extend(after_list(&meta, errors));
            }
            "compensate" => {
                if let Some(p) = path_option(&meta, "node", "path::to::undo", errors) {
                    once(&mut o.compensate, p, &meta, errors);
                }
            }
            "rate_limit" | "limit" => {
                let rate = key == "rate_limit";
                let taken = if rate {
                    o.rate_limit.is_some() || o.rate_limit_name.is_some()
                } else {
                    o.limit.is_some() || o.limit_name.is_some()
                };
                if taken {
                    errors.spanned(&meta, format!("option `{key}` is given twice"));
                } else if let Some(name) = limiter_name(&meta, errors) {
                    if rate {
                        o.rate_limit_name = name;
                    } else {
                        o.limit_name = name;
                    }
                } else if let Some(p) = path_option(
                    &meta,
                    "node",
                    if rate {
                        "path::to::RATE_LIMITER` or `rate_limit = \"name\""
                    } else {
                        "path::to::LIMIT` or `limit = \"name\""
                    },
                    errors,
                ) {
                    if rate {
                        o.rate_limit = Some(p);
                    } else {
                        o.limit = Some(p);
                    }
                }
            }
            _ => unknown_option(&meta, "node", NODE_OPTIONS, errors),
        }
    }
    if let (Some(_), Some(spawn)) = (o.blocking, o.spawn) {
        errors.at(
            spawn,
            "`blocking` and `spawn` cannot be combined: `blocking` already runs the node on its own thread of the blocking pool",
        );
    }
    o
}

/// Parses `#[workflow(...)]`'s arguments: bare paths are nodes, the rest options.
pub fn workflow_args(args: TokenStream, errors: &mut Errors) -> WorkflowArgs {
    let mut parsed = WorkflowArgs::default();
    let mut seen: Vec<String> = Vec::new();
    for meta in parse_metas(args, "workflow", errors) {
        match &meta {
            Meta::Path(path) if path.is_ident("durable") => {
                once(&mut parsed.durable, path.span(), &meta, errors);
            }
            Meta::Path(path) => {
                list_node(path, Shape::Once, &mut parsed, &mut seen, errors);
            }
            _ if meta.path().is_ident("durable") => errors.spanned(
                &meta,
                "`durable` takes no value: write `#[workflow(fetch, charge, durable)]`",
            ),
            Meta::List(list) if list.path.is_ident("map") => {
                let inner = parse_metas(list.tokens.clone(), "map", errors);
                let mut spec = MapSpec::default();
                let mut node = None;
                let mut flag = None;
                for (k, meta) in inner.iter().enumerate() {
                    match meta {
                        Meta::Path(path) if k == 0 => node = Some(path.clone()),
                        Meta::NameValue(nv)
                            if nv.path.is_ident("concurrency")
                                && matches!(&nv.value, Expr::Path(p) if p.path.get_ident().is_some()) =>
                        {
                            let Expr::Path(p) = &nv.value else {
                                unreachable!("matched above")
                            };
                            let ident = p.path.get_ident().expect("matched above").clone();
                            if spec.concurrency.is_some() || spec.concurrency_input.is_some() {
                                errors.spanned(meta, "option `concurrency` is given twice");
                            } else {
                                spec.concurrency_input = Some(ident);
                            }
                        }
                        _ if meta.path().is_ident("concurrency") => {
                            if spec.concurrency_input.is_some() {
                                errors.spanned(meta, "option `concurrency` is given twice");
                            } else if let Some(n) = count_option(
                                meta,
                                "workflow(map(..))",
                                "no element could ever run; leave the option out to run every element at once",
                                errors,
                            ) {
                                once(&mut spec.concurrency, n as usize, meta, errors);
                            }
                        }
                        _ if meta.path().is_ident("continue_on_error") => {
                            flag_option(meta, &mut flag, errors);
                        }
                        _ if meta.path().is_ident("over") => match value_expr(
                            meta,
                            "workflow(map(..))",
                            "over = param",
                            errors,
                        ) {
                            Some(Expr::Path(p)) if p.path.get_ident().is_some() => {
                                let ident = p.path.get_ident().expect("checked").clone();
                                once(&mut spec.over, ident, meta, errors);
                            }
                            Some(other) => errors.spanned(
                                other,
                                "`over` names the parameter that takes one element: `over = item`",
                            ),
                            None => {}
                        },
                        _ => unknown_option(meta, "workflow(map(..))", MAP_OPTIONS, errors),
                    }
                }
                spec.continue_on_error = flag.is_some();
                match node {
                    Some(path) => {
                        list_node(&path, Shape::Map(spec), &mut parsed, &mut seen, errors);
                    }
                    None => errors.spanned(
                        list,
                        "`map(...)` starts with the node to run once per element: `map(score, concurrency = 8)`",
                    ),
                }
            }
            Meta::List(list) if list.path.is_ident("defaults") => {
                let d = defaults_option(list, errors);
                once(&mut parsed.defaults, d, &meta, errors);
            }
            _ if meta.path().is_ident("defaults") => errors.spanned(
                &meta,
                "`defaults` takes the options in parentheses: `defaults(timeout = \"5s\", retry(max_attempts = 3))`",
            ),
            Meta::List(list) if list.path.is_ident("after") => {
                match list.parse_args::<AfterSpec>() {
                    Ok(spec) => parsed.after.push(spec),
                    Err(e) => errors.at(
                        e.span(),
                        format!("malformed `after(...)`: {e}; write the node, a colon and the nodes it runs after: `after(finalize: send_email, audit)`"),
                    ),
                }
            }
            _ if meta.path().is_ident("after") => errors.spanned(
                &meta,
                "`after` takes the node, a colon and the nodes it runs after: `after(finalize: send_email, audit)`",
            ),
            Meta::List(list) if list.path.is_ident("race") => {
                let inner = parse_metas(list.tokens.clone(), "race", errors);
                let mut members = Vec::new();
                let mut tolerant = None;
                for meta in &inner {
                    match meta {
                        _ if meta.path().is_ident("continue_on_error") => {
                            flag_option(meta, &mut tolerant, errors);
                        }
                        Meta::Path(path) => {
                            if list_node(path, Shape::Race, &mut parsed, &mut seen, errors) {
                                members.push(parsed.nodes.len() - 1);
                            }
                        }
                        other => errors.spanned(
                            other,
                            "`race(...)` lists the nodes that race to provide one value, and may end with `continue_on_error`: `race(primary, mirror)`",
                        ),
                    }
                }
                if inner.len() - usize::from(tolerant.is_some()) < 2 {
                    errors.spanned(
                        list,
                        "a race needs at least two nodes providing the same type: `race(primary, mirror)`",
                    );
                }
                parsed.races.push(RaceGroup {
                    members,
                    continue_on_error: tolerant.is_some(),
                });
            }
            _ if meta.path().is_ident("name") => {
                string_option(&meta, &mut parsed.name, "workflow", errors);
            }
            _ if meta.path().is_ident("crate") => {
                crate_option(&meta, &mut parsed.krate, "workflow", errors);
            }
            _ if meta.path().is_ident("max_concurrency") => {
                if let Some(n) = count_option(
                    &meta,
                    "workflow",
                    "no node could ever run; leave the option out for no limit",
                    errors,
                ) {
                    once(&mut parsed.max_concurrency, n as usize, &meta, errors);
                }
            }
            _ if meta.path().is_ident("timeout") => {
                if let Some(d) = duration_option(&meta, "workflow", false, errors) {
                    once(&mut parsed.timeout, d, &meta, errors);
                }
            }
            _ => unknown_option(&meta, "workflow", WORKFLOW_OPTIONS, errors),
        }
    }
    parsed
}

/// Adds a listed node; returns whether it was added (not a duplicate).
fn list_node(
    path: &Path,
    shape: Shape,
    parsed: &mut WorkflowArgs,
    seen: &mut Vec<String>,
    errors: &mut Errors,
) -> bool {
    let text = path.to_token_stream().to_string().replace(' ', "");
    if seen.contains(&text) {
        errors.spanned(
            path,
            format!("node `{text}` is listed twice; a node runs once per run, list it once"),
        );
        return false;
    }
    seen.push(text);
    parsed.nodes.push(path.clone());
    parsed.shapes.push(shape);
    true
}

/// How a node takes a value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ParamKind {
    /// `&T`.
    Ref,
    /// `Option<&T>`: `None` when the provider failed (`continue_on_error`).
    Option,
    /// `Result<&T, &NodeError>`: the provider's failure (`continue_on_error`).
    Result,
    /// `Option<Result<&T, &NodeError>>`: `None` when a conditional provider was skipped,
    /// its failure when it failed (`continue_on_error`).
    OptionResult,
    /// `&RunContext`: the run's context, not a graph dependency.
    Context,
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
    pub kind: ParamKind,
}

/// The type arguments of a path type whose last segment is `name`.
fn generic_args<'t>(ty: &'t Type, name: &str) -> Option<Vec<&'t Type>> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if p.qself.is_some() || last.ident != name {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    Some(
        args.args
            .iter()
            .filter_map(|a| match a {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
    )
}

/// `&T` (not `&mut`): `T`.
fn shared_ref(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Reference(r) if r.mutability.is_none() => Some(&r.elem),
        _ => None,
    }
}

fn last_ident_is(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == name))
}

/// How a parameter type takes its value, and the value's type.
fn param_kind(ty: &Type) -> Option<(ParamKind, Type)> {
    if let Some(inner) = shared_ref(ty) {
        let kind = if last_ident_is(inner, "RunContext") {
            ParamKind::Context
        } else {
            ParamKind::Ref
        };
        return Some((kind, inner.clone()));
    }
    if let Some(args) = generic_args(ty, "Option")
        && let [arg] = args[..]
        && let Some(inner) = shared_ref(arg)
    {
        return Some((ParamKind::Option, inner.clone()));
    }
    if let Some(args) = generic_args(ty, "Result")
        && let [ok, err] = args[..]
        && let (Some(inner), Some(e)) = (shared_ref(ok), shared_ref(err))
        && (last_ident_is(e, "NodeError") || last_ident_is(e, "Error"))
    {
        return Some((ParamKind::Result, inner.clone()));
    }
    if let Some(args) = generic_args(ty, "Option")
        && let [arg] = args[..]
        && let Some((ParamKind::Result, inner)) = param_kind(arg)
    {
        return Some((ParamKind::OptionResult, inner));
    }
    None
}

/// What a node returns.
pub struct NodeSig {
    pub ident: Ident,
    pub params: Vec<NodeParam>,
    /// The type the node provides: `Items` for `-> Result<Items, E>`; `None` for `()`.
    pub output: Option<Type>,
    /// The node returns `Option<T>` (or `Result<Option<T>, E>`): it provides `T` only when
    /// it returns `Some`.
    pub optional: bool,
    /// The success type as written: `Option<Items>` for a conditional node, else `output`.
    pub value: Option<Type>,
    pub fallible: bool,
    /// The return type as written, for metadata (`()` when there is none).
    pub returns: String,
    /// When `output` is a tuple `(A, B, ...)`: its elements, each provided on its own
    /// edge. Empty otherwise.
    pub parts: Vec<Part>,
}

/// One element of a node's tuple output: a value it provides on its own edge.
pub struct Part {
    /// The provided type: `A` for an element `A` or `Option<A>`.
    pub inner: Type,
    /// The element is `Option<A>`: the node provides `A` only when it is `Some`.
    pub optional: bool,
}

/// The elements of a tuple output type, each as a [`Part`].
pub fn tuple_parts(output: Option<&Type>) -> Vec<Part> {
    let Some(Type::Tuple(tuple)) = output else {
        return Vec::new();
    };
    tuple
        .elems
        .iter()
        .map(|elem| match generic_args(elem, "Option") {
            Some(args) if args.len() == 1 => Part {
                inner: args[0].clone(),
                optional: true,
            },
            _ => Part {
                inner: elem.clone(),
                optional: false,
            },
        })
        .collect()
}

/// The names of the primitive types, which a node or workflow cannot take.
const PRIMITIVES: &[&str] = &[
    "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
    "i128", "isize", "f16", "f32", "f64", "f128",
];

/// A node or workflow adds a hidden item of its name in the type namespace, which would
/// shadow a primitive type of that name wherever it is imported (`use super::*`).
fn check_not_primitive(kind: &str, name: &Ident, errors: &mut Errors) {
    let text = name.to_string();
    let text = text.strip_prefix("r#").unwrap_or(&text);
    if PRIMITIVES.contains(&text) {
        let keep = if kind == "node" {
            format!("#[node(name = \"{text}\")]")
        } else {
            format!("#[workflow(..., name = \"{text}\")]")
        };
        errors.spanned(
            name,
            format!(
                "a {kind} cannot be named `{text}`, like the primitive type: the hidden item it adds under its name would shadow `{text}` wherever it is imported; rename the function, and keep `{text}` as its name in errors and graphs with `{keep}`"
            ),
        );
    }
}

impl NodeSig {
    /// Checks a `#[node]` function's signature and reads its graph interface. A `blocking`
    /// node may be a plain `fn`.
    pub fn analyse(sig: &Signature, blocking: bool, errors: &mut Errors) -> Option<NodeSig> {
        let before = errors.len();
        let name = &sig.ident;
        check_not_primitive("node", name, errors);
        if sig.asyncness.is_none() && !blocking {
            errors.spanned(
                sig.fn_token,
                format!("`#[node]` functions must be `async`: write `async fn {name}(...)`, or mark a plain `fn` that blocks `#[node(blocking)]` to run it on the blocking pool"),
            );
        }
        if let Some(c) = &sig.constness {
            errors.spanned(c, "a `#[node]` function cannot be `const`");
        }
        if let syn::Safety::Unsafe(u) = &sig.safety {
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
            let (kind, inner) = match param_kind(&pat_type.ty) {
                Some(found) => found,
                None => {
                    let message = match &*pat_type.ty {
                        Type::Reference(r) => format!(
                            "parameter `{param_name}` of node `{name}` cannot be `&mut`: inputs are shared by every node that reads them; take `&{}` and clone it to change it",
                            types::display(&r.elem)
                        ),
                        other => format!(
                            "parameter `{param_name}` of node `{name}` must be a shared reference: take `&{}`, which another node or the workflow's input provides (or `Option<&T>` / `Result<&T, &flow_runtime::NodeError>` for the output of a `continue_on_error` node)",
                            types::display(other)
                        ),
                    };
                    errors.spanned(&pat_type.ty, message);
                    continue;
                }
            };
            if kind == ParamKind::Context
                && params
                    .iter()
                    .any(|p: &NodeParam| p.kind == ParamKind::Context)
            {
                errors.spanned(
                    &pat_type.ty,
                    format!("node `{name}` takes the run context twice"),
                );
                continue;
            }
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
                kind,
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
        let value = output.clone();
        let mut optional = false;
        let output = match output {
            Some(out) => match generic_args(&out, "Option") {
                Some(args) if args.len() == 1 => {
                    optional = true;
                    (!types::is_unit(args[0])).then(|| args[0].clone())
                }
                _ => Some(out),
            },
            None => None,
        };
        if let Some(out) = &output
            && let Some(problem) = unowned(out)
        {
            errors.spanned(
                out,
                format!("node `{name}` must return an owned value that other nodes can borrow, not {problem}"),
            );
        }
        let parts = tuple_parts(output.as_ref());
        (errors.len() == before).then(|| NodeSig {
            ident: sig.ident.clone(),
            params,
            output,
            optional,
            value,
            fallible,
            returns,
            parts,
        })
    }
}

// The finders walk a copy of the type: one visitor kind (`VisitMut`) serves the crate.
fn contains_impl_trait(ty: &Type) -> bool {
    use syn::visit_mut::VisitMut;
    struct Finder(bool);
    impl VisitMut for Finder {
        fn visit_type_impl_trait_mut(&mut self, _: &mut syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    finder.visit_type_mut(&mut ty.clone());
    finder.0
}

/// Why a node's output type is not an owned, nameable type, if it is not.
fn unowned(ty: &Type) -> Option<&'static str> {
    use syn::visit_mut::VisitMut;
    struct Finder(Option<&'static str>);
    impl VisitMut for Finder {
        fn visit_type_impl_trait_mut(&mut self, _: &mut syn::TypeImplTrait) {
            self.0
                .get_or_insert("`impl Trait`: its type has no name the workflow can use");
        }
        fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
            if r.lifetime.as_ref().is_none_or(|l| l.ident != "static") {
                self.0.get_or_insert("a borrowed reference");
            }
            syn::visit_mut::visit_type_reference_mut(self, r);
        }
        fn visit_type_infer_mut(&mut self, _: &mut syn::TypeInfer) {
            self.0.get_or_insert("`_`");
        }
    }
    let mut finder = Finder(None);
    finder.visit_type_mut(&mut ty.clone());
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
        check_not_primitive("workflow", name, errors);
        if sig.asyncness.is_none() {
            errors.spanned(
                sig.fn_token,
                format!("a workflow is declared as an `async fn`: write `async fn {name}(...)`"),
            );
        }
        if let Some(c) = &sig.constness {
            errors.spanned(c, "a workflow cannot be `const`");
        }
        if let syn::Safety::Unsafe(u) = &sig.safety {
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
