// The commands the web UI may invoke, with their arguments and results: the one list that lib.rs (the
// app's own handler), build.rs (one permission per command), ipc::typescript (the UI's typed `call`) and
// the contract tests (capabilities/main.json, docs/app.md) all read. Plain `macro_rules!` so build.rs can
// `include!` it: `app_commands!(m)` calls `m! { owner name(arg: Type, ..) -> Result, .. }`, where `owner`
// is `app` (invoked as `name`) or the in-crate plugin that registers it (invoked as
// `plugin:<owner>|<name>`; the UI's `call()` maps names to those paths).
// Keep each entry's arguments identical to the function's in commands.rs (names are the JSON keys); a
// `RawBody` argument is the request's body and the others its headers (the function takes the Request).
macro_rules! app_commands {
    ($then:ident) => {
        $then! {
            app connect(name: String, url: Option<String>, token: Option<String>) -> ConnectionState,
            app disconnect() -> (),
            app join_room(room: String) -> (),
            app leave_room(room: String) -> (),
            app send_signal(room: String, to: String, data: SignalData) -> (),
            app push_frame(frame: ClientFrame) -> (),
            app sfu_frame(frame: ClientFrame) -> (),
            app connection_state() -> ConnectionState,
            app get_settings() -> Settings,
            app set_settings(settings: Settings) -> Settings,
            app app_info() -> AppInfo,
            app take_deep_link() -> Option<String>,
            app forget_device() -> (),
            app report_webview_capabilities(capabilities: WebviewCapabilities) -> (),
            history list_conversations(limit: Option<u32>) -> Vec<Conversation>,
            history messages_page(room: String, before: Option<Cursor>, limit: Option<u32>) -> Page,
            history search_messages(query: String, room: Option<String>, before: Option<SearchCursor>, limit: Option<u32>) -> SearchPage,
            history mark_read(room: String, up_to: i64) -> (),
            history room_muted(room: String) -> bool,
            history set_room_muted(room: String, muted: bool) -> (),
            app save_message(message: NewMessage) -> bool,
            history set_message_status(id: String, status: MessageStatus, error: Option<String>) -> bool,
            history outbox(room: Option<String>) -> Vec<Message>,
            history call_log(before: Option<i64>, limit: Option<u32>) -> Vec<CallRecord>,
            history history_key_status() -> HistoryKeyStatus,
            history unlock_history(passphrase: String) -> HistoryKeyStatus,
            history start_new_history() -> HistoryKeyStatus,
            app open_room_in_browser(room: String) -> String,
            links fallback_status() -> FallbackStatus,
            links fallback_send(room: String, peer: String, text: String) -> bool,
            links chat_send(room: String, message: ChannelMessage) -> Vec<String>,
            links fallback_open_peers(room: String) -> Vec<OpenPeer>,
            calls call_media_support() -> CallMediaSupport,
            calls call_media_start() -> LocalMediaInfo,
            calls call_media_stop() -> (),
            calls call_media_attach(room: String, peer: String, live: bool) -> bool,
            calls call_media_detach(room: String, peer: String) -> bool,
            calls call_media_limits(room: String, peer: String, max_bitrate: u32) -> (),
            calls call_media_mute(muted: bool) -> (),
            calls call_media_camera_off(off: bool) -> (),
            calls call_media_stats(room: String, peer: String) -> Option<CallMediaStats>,
            calls call_media_devices() -> MediaDevices,
            calls call_media_use_devices(choice: DeviceChoice) -> Vec<String>,
            calls call_media_share_screen(on: bool) -> Vec<String>,
            calls call_frames(frames: FrameChannel) -> (),
            calls call_frames_drawn(count: u32) -> (),
            files file_send_start(name: String, size: u64) -> String,
            files file_send_chunk(upload: String, offset: u64, data: RawBody) -> u64,
            files file_send_finish(upload: String, room: String, peers: Vec<String>) -> Vec<String>,
            files file_send_abort(upload: String) -> (),
            files file_cancel(id: String) -> bool,
            files file_transfers(room: String) -> Vec<FileTransfer>,
            files file_history(room: String, limit: Option<u32>) -> Vec<FileRecord>,
            files file_reveal(id: String) -> (),
            files file_image(id: String) -> Option<String>,
            files history_search_files(query: String, limit: Option<u32>) -> Vec<FileRecord>,
        }
    };
}
