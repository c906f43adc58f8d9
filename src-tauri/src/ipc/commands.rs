// The commands the web UI may invoke, with their arguments and results: the one list that lib.rs (the
// handler), build.rs (one permission per command), ipc::typescript (the UI's typed `call`) and the
// contract tests (capabilities/main.json, docs/app.md) all read. Plain `macro_rules!` so build.rs can
// `include!` it: `app_commands!(m)` calls `m! { name(arg: Type, ..) -> Result, .. }`.
// Keep each entry's arguments identical to the function's in commands.rs (names are the JSON keys); a
// `RawBody` argument is the request's body and the others its headers (the function takes the Request).
macro_rules! app_commands {
    ($then:ident) => {
        $then! {
            connect(name: String, url: Option<String>, token: Option<String>) -> ConnectionState,
            disconnect() -> (),
            join_room(room: String) -> (),
            leave_room(room: String) -> (),
            send_signal(room: String, to: String, data: SignalData) -> (),
            connection_state() -> ConnectionState,
            get_settings() -> Settings,
            set_settings(settings: Settings) -> Settings,
            app_info() -> AppInfo,
            take_deep_link() -> Option<String>,
            forget_device() -> (),
            report_webview_capabilities(capabilities: WebviewCapabilities) -> (),
            list_conversations(limit: Option<u32>) -> Vec<Conversation>,
            messages_page(room: String, before: Option<Cursor>, limit: Option<u32>) -> Page,
            search_messages(query: String, room: Option<String>, limit: Option<u32>) -> Vec<SearchHit>,
            mark_read(room: String, up_to: i64) -> (),
            room_muted(room: String) -> bool,
            set_room_muted(room: String, muted: bool) -> (),
            save_message(message: NewMessage) -> bool,
            set_message_status(id: String, status: MessageStatus, error: Option<String>) -> bool,
            outbox(room: Option<String>) -> Vec<Message>,
            call_log(before: Option<i64>, limit: Option<u32>) -> Vec<CallRecord>,
            open_room_in_browser(room: String) -> String,
            fallback_status() -> FallbackStatus,
            fallback_send(room: String, peer: String, text: String) -> bool,
            chat_send(room: String, message: ChannelMessage) -> Vec<String>,
            fallback_open_peers(room: String) -> Vec<OpenPeer>,
            call_media_support() -> CallMediaSupport,
            call_media_start() -> LocalMediaInfo,
            call_media_stop() -> (),
            call_media_attach(room: String, peer: String, live: bool) -> bool,
            call_media_detach(room: String, peer: String) -> bool,
            call_media_limits(room: String, peer: String, max_bitrate: u32) -> (),
            call_media_mute(muted: bool) -> (),
            call_media_camera_off(off: bool) -> (),
            call_media_stats(room: String, peer: String) -> Option<CallMediaStats>,
            call_media_devices() -> MediaDevices,
            call_media_use_devices(choice: DeviceChoice) -> Vec<String>,
            call_media_share_screen(on: bool) -> Vec<String>,
            call_frames(frames: FrameChannel) -> (),
            call_frames_drawn(count: u32) -> (),
            file_send_start(name: String, size: u64) -> String,
            file_send_chunk(upload: String, offset: u64, data: RawBody) -> u64,
            file_send_finish(upload: String, room: String, peers: Vec<String>) -> Vec<String>,
            file_send_abort(upload: String) -> (),
            file_cancel(id: String) -> bool,
            file_transfers(room: String) -> Vec<FileTransfer>,
            file_history(room: String, limit: Option<u32>) -> Vec<FileRecord>,
            file_reveal(id: String) -> (),
            file_image(id: String) -> Option<String>,
            history_search_files(query: String, limit: Option<u32>) -> Vec<FileRecord>,
        }
    };
}
