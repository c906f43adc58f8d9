//! Every crate of the workspace imports between its top-level modules in one direction only (no two parts
//! of a crate need each other, so each can be read, tested and changed from the bottom up): this test reads
//! the `crate::…` paths in each crate's sources and fails on any cycle between top-level modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each crate's name and the folder its root file (lib.rs or main.rs) is in, from the workspace root.
const CRATES: [(&str, &str); 6] = [
    ("signaling-server", "signaling-server/src"),
    ("chat-protocol", "signaling-server/protocol/src"),
    ("p2pchat-core", "src-tauri/core/src"),
    ("p2pchat (app)", "src-tauri/src"),
    ("tauri-plugin-push-call", "src-tauri/plugins/push-call/src"),
    // The `tests` crate has no library: its loadgen binary is its only code besides these tests.
    ("loadgen", "tests/src/bin/loadgen"),
];

/// Top-level module of each file under `src` → the top-level modules it names with `crate::`.
fn edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            // Unit tests may reach anywhere in their crate.
            if !relative.ends_with(".rs") || relative.ends_with("tests.rs") {
                continue;
            }
            let module = relative.split(['/', '.']).next().unwrap().to_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            // Whole text without comment lines: a `use crate::{…}` group may span several lines.
            let code: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect();
            for name in crate_paths(&code.join("\n")) {
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
        crate_paths(
            "use crate::{\n    history::{A, B},\n    ipc::emit,\n};\nlet x = crate::state::f();"
        ),
        ["history", "ipc", "state"]
    );
}

/// Every cycle, as `a -> b -> a`, found by a depth-first search from every module: a module met again on
/// the current path closes a cycle.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        found: &mut BTreeSet<String>,
    ) {
        let here = path.last().unwrap().clone();
        for next in graph.get(&here).into_iter().flatten() {
            if let Some(start) = path.iter().position(|m| m == next) {
                // Written from its smallest module, so each cycle is listed once.
                let mut cycle = path[start..].to_vec();
                let first = cycle
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, m)| *m)
                    .map_or(0, |(i, _)| i);
                cycle.rotate_left(first);
                found.insert(format!("{} -> {}", cycle.join(" -> "), cycle[0]));
            } else {
                path.push(next.clone());
                visit(graph, path, found);
                path.pop();
            }
        }
    }
    let mut found = BTreeSet::new();
    for module in graph.keys() {
        visit(graph, &mut vec![module.clone()], &mut found);
    }
    found
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

#[test]
fn no_crate_has_an_import_cycle_between_its_top_level_modules() {
    let mut failures = Vec::new();
    for (name, dir) in CRATES {
        let src = workspace().join(dir);
        let graph = edges(&src);
        for cycle in cycles(&graph) {
            failures.push(format!("{name} ({dir}): {cycle}"));
        }
    }
    assert!(failures.is_empty(), "import cycles: {failures:#?}");
}

/// The check itself finds a cycle, reads nested files and ignores comments and the crate root's own items.
#[test]
fn a_cycle_through_a_nested_file_is_found_and_comments_are_not_imports() {
    let dir = std::env::temp_dir().join(format!("module-graph-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("b")).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(dir.join("a.rs"), "use crate::b::Thing;\n// crate::c\n").unwrap();
    std::fs::write(dir.join("b/mod.rs"), "mod inner;\n").unwrap();
    std::fs::write(dir.join("b/inner.rs"), "fn f() { crate::a::g() }\n").unwrap();
    std::fs::write(dir.join("c.rs"), "use crate::a;\n").unwrap();
    let found = cycles(&edges(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        vec!["a -> b -> a".to_owned()]
    );
}
