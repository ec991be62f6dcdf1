//! Printing types: a *key* by which the graph matches a consumer's `&T` to the provider of
//! `T` (paths reduced to their last segment, lifetimes dropped), and a *display* form as
//! written, for messages and metadata.

use quote::ToTokens;
use syn::{GenericArgument, Path, PathArguments, ReturnType, Type};

/// The name the graph matches on: `crate::model::Items` and `Items` are the same key, and
/// so are `Vec<model::Item>` and `Vec<Item>`. The generated code then makes the compiler
/// check that the matched types really are the same.
pub fn key(ty: &Type) -> String {
    let mut out = String::new();
    write_type(&mut out, ty, false);
    out
}

/// The type as written, with tidy spacing: `Vec<crate::Item>`.
pub fn display(ty: &Type) -> String {
    let mut out = String::new();
    write_type(&mut out, ty, true);
    out
}

fn write_type(out: &mut String, ty: &Type, full: bool) {
    match ty {
        Type::Path(p) if p.qself.is_none() => write_path(out, &p.path, full),
        Type::Reference(r) => {
            out.push('&');
            if let (true, Some(lt)) = (full, &r.lifetime) {
                out.push('\'');
                out.push_str(&lt.ident.to_string());
                out.push(' ');
            }
            if r.mutability.is_some() {
                out.push_str("mut ");
            }
            write_type(out, &r.elem, full);
        }
        // A consumer's `&[T]` matches the provider of a `Vec<T>`.
        Type::Slice(s) if !full => {
            out.push_str("Vec<");
            write_type(out, &s.elem, full);
            out.push('>');
        }
        Type::Slice(s) => {
            out.push('[');
            write_type(out, &s.elem, full);
            out.push(']');
        }
        Type::Array(a) => {
            out.push('[');
            write_type(out, &a.elem, full);
            out.push_str("; ");
            out.push_str(&compact(a.len.to_token_stream()));
            out.push(']');
        }
        Type::Tuple(t) => {
            out.push('(');
            for (i, elem) in t.elems.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_type(out, elem, full);
            }
            if t.elems.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Type::Paren(p) => write_type(out, &p.elem, full),
        Type::Group(g) => write_type(out, &g.elem, full),
        Type::Never(_) => out.push('!'),
        Type::TraitObject(t) => {
            out.push_str("dyn ");
            for (i, bound) in t.bounds.iter().enumerate() {
                if i > 0 {
                    out.push_str(" + ");
                }
                match bound {
                    syn::TypeParamBound::Trait(tb) => write_path(out, &tb.path, full),
                    syn::TypeParamBound::Lifetime(lt) => {
                        out.push('\'');
                        out.push_str(&lt.ident.to_string());
                    }
                    other => out.push_str(&compact(other.to_token_stream())),
                }
            }
        }
        Type::Ptr(p) => {
            out.push_str(if matches!(p.mutability, syn::PointerMutability::Mut(_)) {
                "*mut "
            } else {
                "*const "
            });
            write_type(out, &p.elem, full);
        }
        other => out.push_str(&compact(other.to_token_stream())),
    }
}

fn write_path(out: &mut String, path: &Path, full: bool) {
    let segments: Vec<_> = if full {
        if path.leading_colon.is_some() {
            out.push_str("::");
        }
        path.segments.iter().collect()
    } else {
        path.segments.iter().last().into_iter().collect()
    };
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            out.push_str("::");
        }
        out.push_str(&seg.ident.to_string());
        match &seg.arguments {
            PathArguments::None => {}
            PathArguments::AngleBracketed(args) => {
                let mut first = true;
                for arg in &args.args {
                    if matches!(arg, GenericArgument::Lifetime(_)) && !full {
                        continue;
                    }
                    out.push_str(if first { "<" } else { ", " });
                    first = false;
                    match arg {
                        GenericArgument::Type(t) => write_type(out, t, full),
                        GenericArgument::Lifetime(lt) => {
                            out.push('\'');
                            out.push_str(&lt.ident.to_string());
                        }
                        GenericArgument::AssocType(a) => {
                            out.push_str(&a.ident.to_string());
                            out.push_str(" = ");
                            write_type(out, &a.ty, full);
                        }
                        other => out.push_str(&compact(other.to_token_stream())),
                    }
                }
                if !first {
                    out.push('>');
                }
            }
            PathArguments::Parenthesized(args) => {
                out.push('(');
                for (i, input) in args.inputs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_type(out, &input.ty, full);
                }
                out.push(')');
                if let ReturnType::Type(_, ty) = &args.output {
                    out.push_str(" -> ");
                    write_type(out, ty, full);
                }
            }
        }
    }
}

/// Token text without the spaces `to_string` puts between every token.
fn compact(tokens: proc_macro2::TokenStream) -> String {
    let text = tokens.to_string();
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = if i > 0 { chars[i - 1] } else { ' ' };
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            let word = |ch: char| ch.is_alphanumeric() || ch == '_' || ch == '\'' || ch == '"';
            let spaced = next == '=' || prev == '=' || prev == ',' || prev == ';';
            if (word(prev) && word(next)) || spaced {
                out.push(' ');
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Whether the type is `()`.
/// `T` for `Vec<T>` or `[T]`.
pub fn element_type(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Slice(s) => Some(&s.elem),
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            if last.ident != "Vec" {
                return None;
            }
            match &last.arguments {
                PathArguments::AngleBracketed(a) if a.args.len() == 1 => match &a.args[0] {
                    GenericArgument::Type(t) => Some(t),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

/// `Result<T, NodeError>` (or `Result<T, Error>`), a tolerated value: `(T, true)`; any
/// other type: `(ty, false)`.
pub fn tolerated(ty: &Type) -> (&Type, bool) {
    if let Type::Path(p) = ty
        && p.qself.is_none()
        && let Some(last) = p.path.segments.last()
        && last.ident == "Result"
        && let PathArguments::AngleBracketed(a) = &last.arguments
        && let [
            GenericArgument::Type(ok),
            GenericArgument::Type(Type::Path(err)),
        ] = &a.args.iter().collect::<Vec<_>>()[..]
        && err
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "NodeError" || s.ident == "Error")
    {
        return (ok, true);
    }
    (ty, false)
}

pub fn is_unit(ty: &Type) -> bool {
    match ty {
        Type::Tuple(t) => t.elems.is_empty(),
        Type::Paren(p) => is_unit(&p.elem),
        Type::Group(g) => is_unit(&g.elem),
        _ => false,
    }
}

/// `Some(T)` when the type is written `...::Result<T, ...>`: what a fallible node provides.
/// `None` for any other type. `Some(None)` for a `Result` without type arguments.
pub fn result_ok_type(ty: &Type) -> Option<Option<&Type>> {
    let Type::Path(p) = ty else {
        return match ty {
            Type::Paren(p) => result_ok_type(&p.elem),
            Type::Group(g) => result_ok_type(&g.elem),
            _ => None,
        };
    };
    if p.qself.is_some() {
        return None;
    }
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    match &last.arguments {
        PathArguments::AngleBracketed(args) => Some(args.args.iter().find_map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        })),
        _ => Some(None),
    }
}

/// Names every elided lifetime in `ty` (`&T` and `'_`) `lifetime`.
pub fn name_elided_lifetimes(ty: &mut Type, lifetime: &str) {
    use syn::visit_mut::VisitMut;
    struct Name<'a>(&'a str);
    impl VisitMut for Name<'_> {
        fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
            if r.lifetime.is_none() {
                r.lifetime = Some(syn::Lifetime::new(self.0, r.and_token.span));
            }
            syn::visit_mut::visit_type_reference_mut(self, r);
        }
        fn visit_lifetime_mut(&mut self, l: &mut syn::Lifetime) {
            if l.ident == "_" {
                *l = syn::Lifetime::new(self.0, l.apostrophe);
            }
        }
    }
    Name(lifetime).visit_type_mut(ty);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(s: &str) -> Type {
        syn::parse_str(s).unwrap()
    }

    #[test]
    fn keys_drop_paths_and_lifetimes() {
        assert_eq!(key(&ty("crate::model::Items")), "Items");
        assert_eq!(key(&ty("Vec<model::Item>")), "Vec<Item>");
        assert_eq!(key(&ty("std::borrow::Cow<'static, str>")), "Cow<str>");
        assert_eq!(key(&ty("(a::A, B)")), "(A, B)");
        assert_eq!(key(&ty("(A,)")), "(A,)");
        assert_eq!(key(&ty("[u8; 4]")), "[u8; 4]");
        assert_eq!(key(&ty("&'static [u8]")), "&Vec<u8>");
        // A consumer's `&[T]` matches the provider of `Vec<T>`.
        assert_eq!(key(&ty("[model::Item]")), "Vec<Item>");
        assert_eq!(
            key(&ty("HashMap<String, Vec<x::Y>>")),
            "HashMap<String, Vec<Y>>"
        );
    }

    #[test]
    fn display_keeps_paths() {
        assert_eq!(
            display(&ty("crate :: model :: Items")),
            "crate::model::Items"
        );
        assert_eq!(display(&ty("::std::vec::Vec<u8>")), "::std::vec::Vec<u8>");
        assert_eq!(display(&ty("Cow<'static, str>")), "Cow<'static, str>");
        assert_eq!(
            display(&ty("Box<dyn Fn(u8) -> u8 + Send>")),
            "Box<dyn Fn(u8) -> u8 + Send>"
        );
    }

    #[test]
    fn results() {
        assert_eq!(
            key(result_ok_type(&ty("Result<Items, E>")).unwrap().unwrap()),
            "Items"
        );
        assert_eq!(
            key(result_ok_type(&ty("std::io::Result<u8>")).unwrap().unwrap()),
            "u8"
        );
        assert!(result_ok_type(&ty("Option<u8>")).is_none());
        assert!(result_ok_type(&ty("Result")).unwrap().is_none());
        assert!(is_unit(&ty("()")));
    }
}
