//! Declares the commands the web UI may call (each gets an `allow-*` permission; the app's capability
//! grants them) and hands the Android and iOS projects to the Tauri CLI. The Keystore commands
//! (`wrapKey`, `unwrapKey`) are called from Rust only: they have no permission, so the window cannot.

const COMMANDS: &[&str] = &["subscribe", "unsubscribe", "take_answer"];

fn main() {
    tauri_plugin::Builder::new(COMMANDS)
        .android_path("android")
        .ios_path("ios")
        .build();
}
