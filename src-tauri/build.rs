//! Build script: Tauri's code generation (config, icons, ACL). Declares the app's own commands, read from
//! the one command list (src/ipc/commands.rs), so that capabilities grant them one by one (least
//! privilege) instead of all commands being open.

include!("src/ipc/commands.rs");

macro_rules! names {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty),* $(,)?) => {
        &[$(stringify!($name)),*]
    };
}

const COMMANDS: &[&str] = app_commands!(names);

fn main() {
    println!("cargo:rerun-if-changed=src/ipc/commands.rs");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build script failed");
}
