//! The app's modules import each other in one direction only (an adapter stays thin when no two of its
//! parts need each other): this test reads `use crate::…` paths in the sources and fails on any cycle
//! between top-level modules.

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
            let code = text.lines().filter(|l| !l.trim_start().starts_with("//"));
            for line in code {
                for (i, _) in line.match_indices("crate::") {
                    let name: String = line[i + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        graph.entry(module.clone()).or_default().insert(name);
                    }
                }
            }
        }
    }
    graph
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
