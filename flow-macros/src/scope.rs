//! Which listed nodes are the workflow's own module's, read from the source file.
//!
//! A workflow reaches a node listed by a single name (`reserve`) through the node's callback
//! macro, which `#[node]` names like the node (`reserve!`). In a module that glob-imports
//! another module's nodes (`use super::*`) and defines its own node of the same name (a
//! stand-in), rustc's lookup of that macro-expanded name is ambiguous (E0659), with or
//! without `self::`. The callback macro's own name is unique (the node's name, file and
//! line), so a node of the workflow's own module is reached by that name instead. The
//! compiler does not tell a macro which names its module defines, so this reads the file the
//! workflow is written in: a single name is looked up by its unique macro only when a
//! `#[node]` function of that name is found in the same module as the workflow, and outside
//! every block. Anything it cannot tell leaves the lookup by name as it was.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

/// What one source file holds: its `#[workflow]` attributes written in modules (line,
/// column, the module they are in) and its `#[node]` and `#[workflow]` functions written in
/// modules (name, module). A module is the list of the brace groups that enclose it.
#[derive(Default)]
struct File {
    workflows: Vec<(usize, usize, Vec<usize>)>,
    nodes: Vec<(String, Vec<usize>, usize)>,
}

thread_local! {
    static FILES: RefCell<HashMap<PathBuf, std::rc::Rc<File>>> = RefCell::new(HashMap::new());
}

/// The names of the `#[node]` (and `#[workflow]`) functions of the module that the workflow
/// attribute at `call_site` is written in, with the line of each name; empty when that
/// cannot be told (or the workflow is in a block).
pub fn own_nodes(call_site: proc_macro2::Span) -> Vec<(String, usize)> {
    let span = call_site.unwrap();
    let Some(path) = span.local_file() else {
        return Vec::new();
    };
    let (line, column) = (span.line(), span.column());
    let file = FILES.with(|files| {
        files
            .borrow_mut()
            .entry(path.clone())
            .or_insert_with(|| {
                std::rc::Rc::new(
                    std::fs::read_to_string(&path)
                        .map(|text| scan(&text))
                        .unwrap_or_default(),
                )
            })
            .clone()
    });
    // The attribute's span starts at its `#` (columns may count from 0 or 1).
    let Some((_, _, module)) = file
        .workflows
        .iter()
        .find(|(l, c, _)| *l == line && (*c == column || c + 1 == column))
    else {
        return Vec::new();
    };
    file.nodes
        .iter()
        .filter(|(_, m, _)| m == module)
        .map(|(name, _, line)| (name.clone(), *line))
        .collect()
}

/// Reads the workflows and nodes of `text` that are written in modules (outside every brace
/// group but those of `mod name { ... }`); lines from 1, columns from 0, in characters.
fn scan(text: &str) -> File {
    let chars: Vec<char> = text.chars().collect();
    let mut file = File::default();
    // The open brace groups: an id each, and whether it opens a module.
    let mut braces: Vec<(usize, bool)> = Vec::new();
    let mut next_id = 0;
    // The last two words or punctuation marks.
    let mut last: [String; 2] = [String::new(), String::new()];
    // After a `#[node]` attribute: the brace depth it was at, until its `fn`'s name.
    let mut node_at: Option<usize> = None;
    let mut name_next = false;
    let (mut i, mut line, mut column) = (0, 1, 0);
    let advance = |i: &mut usize, line: &mut usize, column: &mut usize, n: usize| {
        for _ in 0..n {
            if chars.get(*i) == Some(&'\n') {
                *line += 1;
                *column = 0;
            } else {
                *column += 1;
            }
            *i += 1;
        }
    };
    let in_modules = |braces: &[(usize, bool)]| braces.iter().all(|&(_, module)| module);
    let module_of = |braces: &[(usize, bool)]| braces.iter().map(|&(id, _)| id).collect();
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                advance(&mut i, &mut line, &mut column, 1);
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    advance(&mut i, &mut line, &mut column, 2);
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    advance(&mut i, &mut line, &mut column, 2);
                    if depth == 0 {
                        break;
                    }
                } else {
                    advance(&mut i, &mut line, &mut column, 1);
                }
            }
        } else if c == '"' || (c == 'r' && raw_start(&chars, i)) {
            // A string, or a raw string `r#"..."#`.
            let raw = c == 'r';
            let mut hashes = 0;
            if raw {
                advance(&mut i, &mut line, &mut column, 1);
                while chars.get(i) == Some(&'#') {
                    hashes += 1;
                    advance(&mut i, &mut line, &mut column, 1);
                }
            }
            advance(&mut i, &mut line, &mut column, 1);
            while i < chars.len() {
                if !raw && chars[i] == '\\' {
                    advance(&mut i, &mut line, &mut column, 2);
                } else if chars[i] == '"' && (0..hashes).all(|k| chars.get(i + 1 + k) == Some(&'#'))
                {
                    advance(&mut i, &mut line, &mut column, 1 + hashes);
                    break;
                } else {
                    advance(&mut i, &mut line, &mut column, 1);
                }
            }
            last = [std::mem::take(&mut last[1]), "\"\"".into()];
        } else if c == '\'' {
            // A char literal (`'x'`, `'\n'`), or a lifetime (`'a`).
            let close = if next == Some('\\') {
                chars[i + 2..]
                    .iter()
                    .position(|&c| c == '\'')
                    .map(|p| p + 3)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(3)
            } else {
                None
            };
            advance(&mut i, &mut line, &mut column, close.unwrap_or(1));
        } else if c.is_alphanumeric() || c == '_' {
            let (start, start_line) = (i, line);
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                advance(&mut i, &mut line, &mut column, 1);
            }
            let word: String = chars[start..i].iter().collect();
            if name_next {
                name_next = false;
                if in_modules(&braces) {
                    file.nodes
                        .push((word.clone(), module_of(&braces), start_line));
                }
            } else if word == "fn" && node_at == Some(braces.len()) {
                node_at = None;
                name_next = true;
            }
            last = [std::mem::take(&mut last[1]), word];
        } else if c == '#' && next == Some('[') {
            // A workflow can be listed as a node too: both name their function.
            match attribute(&chars, i + 2) {
                Some("workflow") => {
                    if in_modules(&braces) {
                        file.workflows.push((line, column, module_of(&braces)));
                    }
                    node_at = Some(braces.len());
                }
                Some("node") => node_at = Some(braces.len()),
                _ => {}
            }
            advance(&mut i, &mut line, &mut column, 1);
            last = [std::mem::take(&mut last[1]), "#".into()];
        } else if c == '{' {
            braces.push((next_id, last[0] == "mod" && is_word(&last[1])));
            next_id += 1;
            advance(&mut i, &mut line, &mut column, 1);
            last = [std::mem::take(&mut last[1]), "{".into()];
        } else if c == '}' {
            braces.pop();
            advance(&mut i, &mut line, &mut column, 1);
            last = [std::mem::take(&mut last[1]), "}".into()];
        } else {
            if c == ';' && node_at == Some(braces.len()) {
                node_at = None;
            }
            if !c.is_whitespace() {
                last = [std::mem::take(&mut last[1]), c.to_string()];
            }
            advance(&mut i, &mut line, &mut column, 1);
        }
    }
    file
}

/// Whether the `r` at `i` starts a raw string rather than a word.
fn raw_start(chars: &[char], i: usize) -> bool {
    let before = i.checked_sub(1).map(|k| chars[k]);
    !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
        && chars[i + 1..]
            .iter()
            .find(|&&c| c != '#')
            .is_some_and(|&c| c == '"')
        && matches!(chars.get(i + 1), Some('"' | '#'))
}

fn is_word(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// `workflow` or `node` when the attribute whose path starts at `at` is flow's
/// (`workflow`, `flow_runtime::workflow`, `node`, `flow_runtime::node`).
fn attribute(chars: &[char], at: usize) -> Option<&'static str> {
    let rest: String = chars[at..chars.len().min(at + 64)].iter().collect();
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("flow_runtime").map_or(rest, |r| {
        r.trim_start().strip_prefix("::").unwrap_or(r).trim_start()
    });
    ["workflow", "node"].into_iter().find(|name| {
        rest.strip_prefix(name)
            .is_some_and(|r| !r.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
    })
}

#[cfg(test)]
mod tests {
    use super::scan;

    #[test]
    fn finds_workflows_and_nodes_in_modules_only() {
        let text = r##"
#[node]
pub async fn reserve(o: &Order) -> Hold { Hold(o.0) }
#[workflow(reserve)]
pub async fn top() -> A;
mod fakes {
    use super::*;
    // #[workflow(commented)] { not a brace
    #[flow_runtime::node(timeout = "1s")]
    /// A stand-in.
    pub async fn reserve(o: &Order) -> Hold { Hold(o.0 * 100) }
    #[flow_runtime::workflow(reserve, ship)]
    pub async fn fake(o: Order) -> Shipped;
    const S: &str = "#[workflow(in a string)] {";
    fn body() {
        #[node]
        async fn local() -> A { A }
        #[workflow(local)]
        async fn inner() -> A;
        let c = '{';
        let l: &'static str = r#"}"#;
    }
}
macro_rules! m { () => { #[workflow(x)] async fn w() -> A; } }
"##;
        let file = scan(text);
        let workflows: Vec<(usize, usize)> =
            file.workflows.iter().map(|&(l, c, _)| (l, c)).collect();
        assert_eq!(workflows, vec![(4, 0), (12, 4)]);
        let nodes: Vec<(&str, usize)> = file
            .nodes
            .iter()
            .map(|(n, _, l)| (n.as_str(), *l))
            .collect();
        assert_eq!(
            nodes,
            vec![("reserve", 3), ("top", 5), ("reserve", 11), ("fake", 13)]
        );
        assert_eq!(file.workflows[0].2, file.nodes[0].1);
        assert_eq!(file.workflows[1].2, file.nodes[2].1);
        assert_ne!(file.nodes[0].1, file.nodes[2].1);
    }
}
