//! Build script: Tauri's code generation (config, icons, ACL). Declares the app's own commands and those
//! of its in-crate plugins (history, links, files, calls), read from the one command list
//! (src/ipc/commands.rs), so that capabilities grant them one by one (least privilege) instead of all
//! commands being open.

include!("src/ipc/commands.rs");

macro_rules! owned {
    ($($owner:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty),* $(,)?) => {
        &[$((stringify!($owner), stringify!($name))),*]
    };
}

const COMMANDS: &[(&str, &str)] = app_commands!(owned);

/// The commands `owner` registers.
fn of(owner: &str) -> &'static [&'static str] {
    let names: Vec<&'static str> = COMMANDS
        .iter()
        .filter(|(o, _)| *o == owner)
        .map(|(_, name)| *name)
        .collect();
    Box::leak(names.into_boxed_slice())
}

fn main() {
    println!("cargo:rerun-if-changed=src/ipc/commands.rs");
    let mut attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(of("app")));
    for plugin in ["history", "links", "files", "calls"] {
        attributes = attributes.plugin(
            plugin,
            tauri_build::InlinedPlugin::new().commands(of(plugin)),
        );
    }
    tauri_build::try_build(attributes).expect("tauri build script failed");
}
