//! The contract between the Rust app and its web UI: the commands (see `commands.rs`, the one list) and
//! the events. It depends on nothing else in the app; `crate::typescript` generates the UI's
//! `ui/src/lib/ipc.gen.ts` from it and the payload types (Rust types with `ts_rs::TS`).

#[macro_use]
mod commands;

/// Names of every command, in the list's order.
pub const COMMANDS: &[&str] = {
    macro_rules! names {
        ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty),* $(,)?) => {
            &[$(stringify!($name)),*]
        };
    }
    app_commands!(names)
};

/// Every server frame, as `ServerFrame` JSON, each once even across resumes.
pub const FRAME_EVENT: &str = "signaling://frame";
/// Connection state changes.
pub const STATE_EVENT: &str = "signaling://state";
/// The user acted on a notification.
pub const NOTIFICATION_EVENT: &str = "app://notification";
/// The webview's WebRTC capabilities, once the page reported them.
pub const WEBVIEW_EVENT: &str = "app://webview";
/// Native link events are sent as `fallback://<kind>` (see `crate::fallback::event_name`).
pub const LINK_EVENT_PREFIX: &str = "fallback://";

#[cfg(test)]
mod tests;
