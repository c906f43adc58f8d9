//! Build script: Tauri's code generation (config, icons, ACL). Declares the app's own commands so that
//! capabilities can grant them one by one (least privilege) instead of all commands being open.

fn main() {
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "connect",
            "disconnect",
            "join_room",
            "leave_room",
            "send_signal",
            "connection_state",
            "get_settings",
            "set_settings",
            "app_info",
            "report_webview_capabilities",
            "list_conversations",
            "messages_page",
            "search_messages",
            "mark_read",
            "room_muted",
            "set_room_muted",
            "save_message",
            "set_message_status",
            "outbox",
            "call_log",
            "open_room_in_browser",
            "fallback_status",
            "fallback_send",
            "fallback_open_peers",
        ]),
    ))
    .expect("tauri build script failed");
}
