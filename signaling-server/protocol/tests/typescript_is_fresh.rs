//! Protects the UI from drifting off the protocol: the committed TypeScript types must be exactly what the
//! Rust types generate.

use std::path::PathBuf;

#[test]
fn generated_typescript_matches_committed_file() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/lib/protocol.gen.ts");
    let fresh = chat_protocol::typescript::generate();
    if std::env::var_os("UPDATE_PROTOCOL_TS").is_some() {
        std::fs::write(&path, &fresh).expect("write protocol.gen.ts");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale; regenerate with UPDATE_PROTOCOL_TS=1 cargo test -p chat-protocol --test typescript_is_fresh",
        path.display()
    );
}
