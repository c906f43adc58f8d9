//! The contract stays one: the window's capabilities and the docs follow the command list (the UI's
//! generated types are checked in `crate::typescript`).

use std::path::{Path, PathBuf};

use super::{COMMANDS, OWNED_COMMANDS};

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The main window may call exactly the listed commands: one `allow-<command>` each (`<plugin>:allow-…`
/// for a plugin's), no stale ones.
#[test]
fn capabilities_grant_exactly_the_listed_commands() {
    let text = std::fs::read_to_string(repo_file("capabilities/main.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut granted: Vec<String> = json["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .filter(|p| {
            !p.contains(':')
                || OWNED_COMMANDS
                    .iter()
                    .any(|(o, _)| p.starts_with(&format!("{o}:")))
        })
        .map(str::to_owned)
        .collect();
    let mut listed: Vec<String> = OWNED_COMMANDS
        .iter()
        .map(|(owner, c)| match *owner {
            "app" => format!("allow-{}", c.replace('_', "-")),
            plugin => format!("{plugin}:allow-{}", c.replace('_', "-")),
        })
        .collect();
    granted.sort();
    listed.sort();
    assert_eq!(
        granted, listed,
        "capabilities/main.json vs src/ipc/commands.rs"
    );
}

/// docs/app.md documents every command (and none that no longer exists).
#[test]
fn docs_list_every_command() {
    let doc = std::fs::read_to_string(repo_file("../docs/app.md")).unwrap();
    // First cells of table rows, e.g. "| `join_room` / `leave_room` | ...": the backticked names.
    let documented: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split(" |").next())
        .flat_map(|cell| cell.split('`').step_by(2))
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect();
    for command in COMMANDS {
        assert!(
            documented.contains(command),
            "docs/app.md does not document `{command}`"
        );
    }
    for name in documented {
        assert!(
            COMMANDS.contains(&name),
            "docs/app.md documents `{name}`, which is no command"
        );
    }
}

/// The contract is the app's bottom layer: `ipc` names no other module of the app (adapters and the shell
/// use it, never the other way round; tests/tests/module_graph.rs checks for cycles between the rest).
#[test]
fn ipc_depends_on_no_other_module_of_the_app() {
    let dir = repo_file("src/ipc");
    for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let uses: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//") && l.contains("crate::"))
            .collect();
        assert!(uses.is_empty(), "{}: {uses:?}", path.display());
    }
}
