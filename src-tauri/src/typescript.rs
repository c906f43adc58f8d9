//! Generates `ui/src/lib/ipc.gen.ts` from the contract in `ipc`: the payload types of every command and
//! event, `ErrorKind`, the `Commands` map (name → args and result) that the UI's one `call()` wrapper is
//! typed by, and the `Events` map its `on()` helper is typed by. The test below fails when the committed
//! file differs; regenerate with `UPDATE_TS=1 cargo test -p p2pchat-app --lib typescript`.

use chat_protocol::{ClientFrame, IceServer, SignalData};
use p2pchat_core::chat::ChannelMessage;
use p2pchat_core::links::FileEnd;
use p2pchat_core::media::{MediaDevice, MediaDevices, MediaEvent, MediaPipeline, MissingElement};
use p2pchat_core::signaling::ConnectionState;
use ts_rs::{Config, TS};

use crate::history::FileRecord;
use crate::history::search::{SearchCursor, SearchPage};
use crate::history::{
    CallDirection, CallRecord, Conversation, Cursor, HistoryKeyStatus, KeyState, Message,
    MessagePreview, MessageStatus, NewMessage, Page, Protection, SearchHit, SnippetPart,
};
use crate::ipc::{
    AppInfo, CallMediaStats, CallMediaSupport, ChatDelivery, ChatIncoming, ChatStatus,
    CommandError, DeviceChoice, ErrorKind, FallbackStatus, FileStatus, FileTransfer, FrameChannel,
    LocalMediaInfo, NotificationAction, OpenPeer, RawBody, SfuMediaStatus, SfuPeerMedia,
    WebviewCapabilities,
};
use crate::settings::Settings;

/// The full text of the generated TypeScript module.
pub fn generate() -> String {
    let cfg = Config::default().with_large_int("number");
    let decls = [
        ErrorKind::decl(&cfg),
        CommandError::decl(&cfg),
        Settings::decl(&cfg),
        AppInfo::decl(&cfg),
        WebviewCapabilities::decl(&cfg),
        Conversation::decl(&cfg),
        MessagePreview::decl(&cfg),
        Message::decl(&cfg),
        MessageStatus::decl(&cfg),
        NewMessage::decl(&cfg),
        Cursor::decl(&cfg),
        Page::decl(&cfg),
        SearchPage::decl(&cfg),
        SearchCursor::decl(&cfg),
        SearchHit::decl(&cfg),
        SnippetPart::decl(&cfg),
        CallRecord::decl(&cfg),
        CallDirection::decl(&cfg),
        crate::history::CallOutcome::decl(&cfg),
        HistoryKeyStatus::decl(&cfg),
        KeyState::decl(&cfg),
        Protection::decl(&cfg),
        FallbackStatus::decl(&cfg),
        OpenPeer::decl(&cfg),
        NotificationAction::decl(&cfg),
        CallMediaSupport::decl(&cfg),
        MissingElement::decl(&cfg),
        LocalMediaInfo::decl(&cfg),
        CallMediaStats::decl(&cfg),
        SfuMediaStatus::decl(&cfg),
        SfuPeerMedia::decl(&cfg),
        DeviceChoice::decl(&cfg),
        MediaDevices::decl(&cfg),
        MediaDevice::decl(&cfg),
        crate::ipc::MediaNotice::decl(&cfg),
        MediaEvent::decl(&cfg),
        MediaPipeline::decl(&cfg),
        FileStatus::decl(&cfg),
        FileEnd::decl(&cfg),
        ChatIncoming::decl(&cfg),
        ChatDelivery::decl(&cfg),
        ChatStatus::decl(&cfg),
        FileTransfer::decl(&cfg),
        FileRecord::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from src-tauri (Rust) by p2pchat_app_lib::typescript. Do not edit.\n\
         // Regenerate: UPDATE_TS=1 cargo test -p p2pchat-app --lib typescript\n\n\
         import type { ClientFrame, IceServer, ServerFrame, SignalData } from './protocol.gen';\n\
         import type { ChannelMessage, ConnectionState, LinkEvent, LinkFingerprints } from './core.gen';\n\
         import type { Channel } from '@tauri-apps/api/core';\n\n",
    );
    for decl in decls {
        out.push_str("export ");
        out.push_str(&decl);
        out.push_str("\n\n");
    }
    out.push_str(&commands(&cfg));
    out.push_str(&events(&cfg));
    out
}

/// One command's TypeScript signature.
struct Signature {
    name: &'static str,
    /// Argument names and types.
    args: Vec<(&'static str, String)>,
    result: String,
}

/// `export const COMMANDS` and `export interface Commands { name: { args: {..}; result: T } }`.
fn commands(cfg: &Config) -> String {
    macro_rules! signatures {
        ($($owner:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty),* $(,)?) => {
            vec![$(Signature {
                name: stringify!($name),
                args: vec![$((stringify!($arg), <$ty as TS>::name(cfg))),*],
                result: <$ret as TS>::name(cfg),
            }),*]
        };
    }
    let entries: Vec<Signature> = app_commands!(signatures);
    let mut out =
        String::from("/** Every command the UI may invoke, with its arguments and result. */\n");
    out.push_str("export interface Commands {\n");
    for Signature { name, args, result } in &entries {
        let args: Vec<String> = args
            .iter()
            .map(|(arg, ty)| match ty.strip_suffix(" | null") {
                Some(_) => format!("{arg}?: {ty}"), // Option<T>: may be left out
                None => format!("{arg}: {ty}"),
            })
            .collect();
        let args = if args.is_empty() {
            "Record<string, never>".to_owned()
        } else {
            format!("{{ {} }}", args.join("; "))
        };
        out.push_str(&format!(
            "  {name}: {{ args: {args}; result: {result} }};\n"
        ));
    }
    out.push_str("}\n\n");
    let names: Vec<String> = entries.iter().map(|s| format!("'{}'", s.name)).collect();
    out.push_str(&format!(
        "export const COMMANDS = [{}] as const;\n\n",
        names.join(", ")
    ));
    // Commands whose bytes go as the request's raw body (the other arguments as headers).
    let paths: Vec<String> = entries
        .iter()
        .map(|s| format!("{}: '{}'", s.name, crate::ipc::invoke_path(s.name)))
        .collect();
    out.push_str(&format!(
        "/** What the window invokes for each command: plugin commands are `plugin:<plugin>|<name>`. */\n\
         export const INVOKE: Record<keyof Commands, string> = {{ {} }};\n\n",
        paths.join(", ")
    ));
    let raw = RawBody::name(cfg);
    let raw_bodies: Vec<String> = entries
        .iter()
        .flat_map(|s| {
            s.args
                .iter()
                .filter(|(_, ty)| *ty == raw)
                .map(|(arg, _)| format!("{}: '{arg}'", s.name))
        })
        .collect();
    out.push_str(&format!(
        "/** Commands that take one argument as raw bytes (the request's body; the others go as headers). */\n\
         export const RAW_BODY: Partial<Record<keyof Commands, string>> = {{ {} }};\n\n",
        raw_bodies.join(", ")
    ));
    out
}

/// `export interface Events { 'name': Payload }` for every event the app emits.
fn events(cfg: &Config) -> String {
    let mut out =
        String::from("/** Every event the app emits to the window, with its payload. */\n");
    out.push_str("export interface Events {\n");
    for (name, payload) in crate::ipc::event_catalog(cfg) {
        out.push_str(&format!("  '{name}': {payload};\n"));
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    /// The committed `ui/src/lib/ipc.gen.ts` is exactly what the Rust types generate.
    #[test]
    fn generated_typescript_matches_committed_file() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/lib/ipc.gen.ts");
        let fresh = super::generate();
        if std::env::var_os("UPDATE_TS").is_some() {
            std::fs::write(&path, &fresh).expect("write ipc.gen.ts");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{} is stale; regenerate with UPDATE_TS=1 cargo test -p p2pchat-app --lib typescript",
            path.display()
        );
    }
}
