//! The app's modules import each other in one direction only (an adapter stays thin when no two of its
//! parts need each other): these tests read the `crate::…` paths in the sources (grouped ones too) and
//! fail on any cycle between top-level modules, or when the IPC contract depends on the app.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module of `file` (relative to src/) → modules it names with `crate::`.
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if !relative.ends_with(".rs") || relative.ends_with("tests.rs") {
                continue;
            }
            let module = relative.split(['/', '.']).next().unwrap().to_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for name in crate_paths(&code) {
                if name != module {
                    graph.entry(module.clone()).or_default().insert(name);
                }
            }
        }
    }
    graph
}

/// The top-level module of every path `code` names through `crate::`, also inside groups:
/// `crate::{history::History, ipc::{self, emit}}` names `history` and `ipc`.
fn crate_paths(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect()
    };
    let mut names = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + 7..];
        let Some(group) = rest.strip_prefix('{') else {
            names.push(ident(rest));
            continue;
        };
        // Items of the group at its own depth: each starts with a module name.
        let mut depth = 0;
        let mut start = 0;
        for (j, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    names.push(ident(&group[start..j]));
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    names.push(ident(&group[start..j]));
                    start = j + 1;
                }
                _ => {}
            }
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

#[test]
fn grouped_imports_count() {
    assert_eq!(
        crate_paths("use crate::{history::{A, B}, ipc::emit};\nlet x = crate::state::f();"),
        ["history", "ipc", "state"]
    );
}

/// The contract with the UI is the bottom layer: `ipc` uses no other module of the app, so adapters and
/// the shell depend on it and never the other way round.
#[test]
fn ipc_depends_on_no_other_module() {
    assert_eq!(edges().get("ipc"), None);
}

#[test]
fn top_level_modules_have_no_import_cycles() {
    let graph = edges();
    assert!(graph.contains_key("commands"), "the sources were read");
    // Depth-first search from every module; a module met again on the current path is a cycle.
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        cycles: &mut Vec<String>,
    ) {
        let here = path.last().unwrap().clone();
        for next in graph.get(&here).into_iter().flatten() {
            if let Some(start) = path.iter().position(|m| m == next) {
                cycles.push(format!("{} -> {next}", path[start..].join(" -> ")));
            } else {
                path.push(next.clone());
                visit(graph, path, cycles);
                path.pop();
            }
        }
    }
    let mut cycles = Vec::new();
    for module in graph.keys() {
        visit(&graph, &mut vec![module.clone()], &mut cycles);
    }
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}
