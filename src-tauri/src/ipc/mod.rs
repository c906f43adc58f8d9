//! The contract between the Rust app and its web UI: the commands (see `commands.rs`, the one list), every
//! event with its name and payload (`events`), the app's own payloads and its errors (`payloads`). It
//! depends on nothing else in the app (the bottom layer: adapters and the shell use it, never the other
//! way); `crate::typescript` generates the UI's `ui/src/lib/ipc.gen.ts` from it.

#[macro_use]
mod commands;
mod events;
mod payloads;

pub use events::{AppEvent, catalog as event_catalog, emit};
pub use payloads::*;

/// Every command with its owner (`app`, or the in-crate plugin that registers it), in the list's order.
pub const OWNED_COMMANDS: &[(&str, &str)] = {
    macro_rules! owned {
        ($($owner:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty),* $(,)?) => {
            &[$((stringify!($owner), stringify!($name))),*]
        };
    }
    app_commands!(owned)
};

/// Names of every command, in the list's order.
pub const COMMANDS: &[&str] = {
    macro_rules! names {
        ($($owner:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty),* $(,)?) => {
            &[$(stringify!($name)),*]
        };
    }
    app_commands!(names)
};

/// What the window invokes for command `name`: the name itself for the app's own commands,
/// `plugin:<owner>|<name>` for a plugin's.
pub fn invoke_path(name: &str) -> String {
    match OWNED_COMMANDS.iter().find(|(_, n)| *n == name) {
        Some((owner, _)) if *owner != "app" => format!("plugin:{owner}|{name}"),
        _ => name.to_owned(),
    }
}

#[cfg(test)]
mod tests;
