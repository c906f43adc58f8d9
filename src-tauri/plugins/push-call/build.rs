//! Declares the commands the web UI may call (each gets an `allow-*` permission; the app's capability
//! grants them) and hands the Android and iOS projects to the Tauri CLI. The Keystore commands
//! (`wrapKey`, `unwrapKey`) are called from Rust only: they have no permission, so the window cannot.

// `register_listener`: the window hears `answer` (Answer pressed while the app was already running).
const COMMANDS: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "take_answer",
    "register_listener",
];

fn main() {
    // The permission files' absolute path is handed to the app's build script. Cargo would reuse this
    // output from another checkout sharing the target folder (it compares mtimes, not paths), and the
    // app's build would then read a folder that may be gone: a file named by its absolute path makes a
    // deleted checkout run this again. (Not the folder: this script writes into it. Read at run time:
    // this script's binary is shared between checkouts too.)
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let default = std::path::Path::new(&manifest_dir).join("permissions/default.toml");
    println!("cargo:rerun-if-changed={}", default.display());
    tauri_plugin::Builder::new(COMMANDS)
        .android_path("android")
        .ios_path("ios")
        .build();
}
