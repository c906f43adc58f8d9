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

/// Names of every command, in the list's order.
pub const COMMANDS: &[&str] = {
    macro_rules! names {
        ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty),* $(,)?) => {
            &[$(stringify!($name)),*]
        };
    }
    app_commands!(names)
};

#[cfg(test)]
mod tests;
