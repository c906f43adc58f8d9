//! Protects the web UI from drifting off the Rust client: the committed `ui/src/lib/core.gen.ts` must be
//! exactly what the Rust types and constants generate.

use std::path::PathBuf;

#[test]
fn generated_typescript_matches_committed_file() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/lib/core.gen.ts");
    let fresh = p2pchat_core::typescript::generate();
    if std::env::var_os("UPDATE_TS").is_some() {
        std::fs::write(&path, &fresh).expect("write core.gen.ts");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale; regenerate with UPDATE_TS=1 cargo test -p p2pchat-core --test typescript_is_fresh",
        path.display()
    );
}
