//! Where the generated code reaches the runtime: `::flow_runtime`, or the path a crate that
//! renamed the dependency (`flow = { package = "flow-runtime" }`) or re-exports it from a
//! facade gives with `crate = "path"`, or the name its `Cargo.toml` gives the dependency.

use std::cell::RefCell;
use std::collections::HashMap;

use proc_macro2::{Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::Path;

/// `tokens` with every absolute `::flow_runtime` path made to start at `path` instead (or at
/// the dependency's name in the calling crate's `Cargo.toml`, without a `path`). Unchanged
/// when that is `::flow_runtime` itself.
pub fn reach(tokens: TokenStream, path: Option<&Path>) -> TokenStream {
    let root = match path {
        Some(p) => {
            let first = p.segments.first().map(|s| s.ident.to_string());
            let relative = p.leading_colon.is_none()
                && matches!(first.as_deref(), Some("crate" | "self" | "super"));
            if relative || p.leading_colon.is_some() {
                p.to_token_stream()
            } else {
                quote!(:: #p)
            }
        }
        None => match dependency_name() {
            Some(name) => {
                let ident = Ident::new(&name, Span::call_site());
                quote!(:: #ident)
            }
            None => return tokens,
        },
    };
    replace(tokens, &root)
}

fn replace(tokens: TokenStream, root: &TokenStream) -> TokenStream {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out: Vec<TokenTree> = Vec::with_capacity(trees.len());
    let mut k = 0;
    while k < trees.len() {
        // `::flow_runtime` where a path starts: not right after a path segment (the
        // `flow_runtime` of `other::flow_runtime` is another crate's item).
        if let (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(c))) =
            (trees.get(k), trees.get(k + 1), trees.get(k + 2))
            && a.as_char() == ':'
            && a.spacing() == Spacing::Joint
            && b.as_char() == ':'
            && c == "flow_runtime"
            && !continues_a_path(&out)
        {
            let span = c.span();
            for t in root.clone() {
                out.push(respan(t, span));
            }
            k += 3;
            continue;
        }
        out.push(match &trees[k] {
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), replace(g.stream(), root));
                group.set_span(g.span());
                TokenTree::Group(group)
            }
            t => t.clone(),
        });
        k += 1;
    }
    out.into_iter().collect()
}

/// Whether a `::` after the tokens `before` continues a path rather than starting one: it
/// does after a path segment (`other::flow_runtime`), not after a keyword (`impl`, `return`,
/// `dyn`, ...), a lifetime (`&'a ::flow_runtime::X`), `>` or other punctuation.
fn continues_a_path(before: &[TokenTree]) -> bool {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else",
        "enum", "extern", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move",
        "mut", "pub", "ref", "return", "static", "struct", "trait", "type", "unsafe", "use",
        "where", "while", "yield",
    ];
    match before {
        [.., TokenTree::Punct(p), TokenTree::Ident(_)] if p.as_char() == '\'' => false,
        [.., TokenTree::Ident(i)] => !KEYWORDS.contains(&i.to_string().as_str()),
        _ => false,
    }
}

fn respan(t: TokenTree, span: Span) -> TokenTree {
    match t {
        TokenTree::Ident(i) => TokenTree::Ident(Ident::new(&i.to_string(), span)),
        TokenTree::Punct(p) => {
            let mut q = Punct::new(p.as_char(), p.spacing());
            q.set_span(span);
            TokenTree::Punct(q)
        }
        TokenTree::Group(g) => {
            let mut h = Group::new(g.delimiter(), g.stream());
            h.set_span(span);
            TokenTree::Group(h)
        }
        other => other,
    }
}

thread_local! {
    static NAMES: RefCell<HashMap<String, Option<String>>> = RefCell::new(HashMap::new());
}

/// The name the calling crate's `Cargo.toml` gives `flow-runtime` when it renames it
/// (`flow = { package = "flow-runtime", ... }`, or a `[dependencies.flow]` table with
/// `package = "flow-runtime"`); `None` when it is `flow_runtime` or cannot be told.
fn dependency_name() -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    NAMES.with(|names| {
        names
            .borrow_mut()
            .entry(dir.clone())
            .or_insert_with(|| {
                let text =
                    std::fs::read_to_string(std::path::Path::new(&dir).join("Cargo.toml")).ok()?;
                renamed(&text)
            })
            .clone()
    })
}

/// The key of the dependency on `flow-runtime` in a manifest's text, when it is not
/// `flow-runtime` itself.
fn renamed(manifest: &str) -> Option<String> {
    let is_runtime = |line: &str| {
        let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        compact.contains("package=\"flow-runtime\"")
    };
    let mut table_key: Option<String> = None;
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            // `[dependencies.flow]`, `[dev-dependencies.flow]`, `[target.'...'.dependencies.flow]`
            table_key = header
                .rsplit_once("dependencies.")
                .map(|(_, key)| key.trim().trim_matches('"').to_string());
            continue;
        }
        if let Some(key) = &table_key
            && is_runtime(line)
        {
            return Some(key.replace('-', "_"));
        }
        if let Some((key, value)) = line.split_once('=')
            && value.trim_start().starts_with('{')
            && is_runtime(value)
        {
            let key = key.trim().trim_matches('"');
            return Some(key.replace('-', "_"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_renamed_dependency() {
        assert_eq!(
            renamed("[dependencies]\nflow = { package = \"flow-runtime\", version = \"0.1\" }\n"),
            Some("flow".into())
        );
        assert_eq!(
            renamed("[dependencies.my-flow]\nversion = \"0.1\"\npackage = \"flow-runtime\"\n"),
            Some("my_flow".into())
        );
        assert_eq!(renamed("[dependencies]\nflow-runtime = \"0.1\"\n"), None);
        assert_eq!(renamed("[package]\nname = \"x\"\n"), None);
    }

    #[test]
    fn replaces_absolute_paths_only() {
        let root = quote!(::flow);
        let out = replace(
            quote!(::flow_runtime::Error; other::flow_runtime::X; [::flow_runtime::__private::f()];
                   x: ::flow_runtime::Y; return ::flow_runtime::z(); impl ::flow_runtime::T for U {}
                   impl<'o> ::flow_runtime::R for V {} fn f() -> ::flow_runtime::E {} &'a ::flow_runtime::G),
            &root,
        );
        assert_eq!(
            out.to_string(),
            quote!(::flow::Error; other::flow_runtime::X; [::flow::__private::f()];
                   x: ::flow::Y; return ::flow::z(); impl ::flow::T for U {}
                   impl<'o> ::flow::R for V {} fn f() -> ::flow::E {} &'a ::flow::G)
            .to_string()
        );
    }
}
