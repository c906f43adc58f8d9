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
    tauri_plugin::Builder::new(COMMANDS)
        .android_path("android")
        .ios_path("ios")
        .build();
}
