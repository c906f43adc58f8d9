//! The commands the web UI invokes (`invoke('<name>', {snake_case args})`). Each is thin: validate,
//! call a plain module, map the error to `{kind, message}` (`error`). Every command here is in the one
//! list, src/ipc/commands.rs, with the same arguments; docs/app.md describes them.

use std::sync::Arc;

use p2pchat_core::chat::ChannelMessage;
use p2pchat_core::signaling::{ClientConfig, ConnectionState, browser_room_url, parse_server_url};
use serde_json::value::RawValue;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_opener::OpenerExt;

use crate::dispatch;
use crate::fallback;
use crate::frontend::TauriUi;
use crate::history::search::SEARCH_LIMIT;
use crate::history::{
    CallRecord, Conversation, Cursor, Message, MessageStatus, NewMessage, PAGE_SIZE, Page,
    SearchHit,
};
use crate::ipc::{
    AppEvent, AppInfo, CommandError, ErrorKind, FallbackStatus, OpenPeer, WebviewCapabilities,
};
use crate::settings::{self, Settings};
use crate::state::AppState;

// The native call media commands (the Linux app) live in `calls`; the glob also brings the helper macros
// `#[tauri::command]` defines beside each, which the invoke handler finds through this module.
pub use crate::calls::*;
// The file commands (files over the native links) live in `files`.
pub use crate::files::commands::*;

type Result<T> = std::result::Result<T, CommandError>;

/// Connects to the signaling server as `name` (and saves both). Without `url`, the saved server is used.
/// `token` (an invitation JWT) is saved for that server and presented in every hello; without one, the
/// token saved for the server (if any) is. Rooms remembered as joined are joined again. Returns the state right after starting. Already connected
/// the same way: nothing changes (the session, and the peer id others know, stay).
#[tauri::command(rename_all = "snake_case")]
pub async fn connect<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    name: String,
    url: Option<String>,
    token: Option<String>,
) -> Result<ConnectionState> {
    let token = token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    // A client whose token was refused is replaced even with the same settings: the attempt is made again
    // (a saved token refused at startup is then reported to the room that is being opened).
    if let Some(current) = state.client_config()
        && !state.client_refused()
        && current.name == name
        && (token.is_none() || current.token == token)
        && url
            .as_deref()
            .is_none_or(|u| parse_server_url(u).is_ok_and(|u| u == current.url))
    {
        return Ok(state.connection_state());
    }
    let history = state.history()?;
    let saved = Settings::load(history).await?;
    let url = url.or(saved.server_url.clone()).ok_or_else(|| {
        CommandError::new(
            ErrorKind::Invalid,
            "no signaling server configured: set one in settings",
        )
    })?;
    let settings = Settings {
        server_url: Some(url),
        display_name: Some(name),
        ..saved
    }
    .save(history)
    .await?;
    let (Some(url), Some(name)) = (settings.server_url, settings.display_name) else {
        return Err(CommandError::new(
            ErrorKind::Invalid,
            "server and name are required",
        ));
    };
    let url = parse_server_url(&url)?;
    let token = match token {
        Some(token) => {
            settings::set_server_token(history, url.as_str(), &token).await?;
            Some(token)
        }
        None => settings::server_token(history, url.as_str()).await?,
    };
    let config = ClientConfig {
        url,
        name,
        token,
        rooms: history.joined_rooms().await?.into_iter().collect(),
    };
    Ok(state.connect(config, Arc::new(TauriUi::new(app))))
}

/// Closes the signaling connection.
#[tauri::command]
pub fn disconnect(state: State<'_, AppState>) {
    state.disconnect();
}

/// "Forget this device": disconnects, erases the history (conversations, messages, files, calls, settings
/// and saved invitations) and the native links' device identity. Received files stay where they were saved.
#[tauri::command]
pub async fn forget_device(state: State<'_, AppState>) -> Result<()> {
    state.disconnect();
    state.history()?.forget().await?;
    if let Ok(fallback) = state.fallback() {
        fallback.sink().forget_identity().map_err(|err| {
            CommandError::new(
                ErrorKind::Unavailable,
                format!("cannot erase this device's identity: {err}"),
            )
        })?;
    }
    Ok(())
}

/// Joins `room` now and on every later start.
#[tauri::command(rename_all = "snake_case")]
pub async fn join_room(state: State<'_, AppState>, room: String) -> Result<()> {
    if let Ok(history) = state.history() {
        history.set_joined(&room, true).await?;
    }
    Ok(state.with_client(|c| c.join(&room))?)
}

/// Leaves `room` and stops rejoining it.
#[tauri::command(rename_all = "snake_case")]
pub async fn leave_room(state: State<'_, AppState>, room: String) -> Result<()> {
    if let Ok(history) = state.history() {
        history.set_joined(&room, false).await?;
    }
    if let Ok(fallback) = state.fallback() {
        fallback.sink().leave_room(&room).await;
    }
    Ok(state.with_client(|c| c.leave(&room))?)
}

/// Relays `data` to peer `to` in `room`; call signals (invite, accept, ...) also update the call log.
#[tauri::command(rename_all = "snake_case")]
pub async fn send_signal(
    state: State<'_, AppState>,
    room: String,
    to: String,
    data: Box<RawValue>,
) -> Result<()> {
    if let Ok(history) = state.history()
        && let Err(err) = dispatch::outgoing_signal(history, &room, &to, &data).await
    {
        tracing::warn!(%err, "could not log outgoing call signal");
    }
    Ok(state.with_client(|c| c.signal(&room, &to, data))?)
}

#[tauri::command]
pub fn connection_state(state: State<'_, AppState>) -> ConnectionState {
    state.connection_state()
}

/// Saved settings; where none are saved, the server and name of the running connection (e.g. provisioned
/// through `P2PCHAT_*` variables) fill the form.
#[tauri::command]
pub async fn get_settings(state: State<'_, AppState>) -> Result<Settings> {
    let mut settings = Settings::load(state.history()?).await?;
    if let Some(config) = state.client_config() {
        settings
            .server_url
            .get_or_insert_with(|| config.url.to_string());
        settings.display_name.get_or_insert(config.name);
    }
    Ok(settings)
}

/// Validates and saves settings; an invalid server address is an `invalid` error for the form.
#[tauri::command(rename_all = "snake_case")]
pub async fn set_settings(state: State<'_, AppState>, settings: Settings) -> Result<Settings> {
    let saved = settings.save(state.history()?).await?;
    state.set_close_to_tray(saved.close_to_tray);
    Ok(saved)
}

/// The invite link (`p2pchat://join#room=…&token=…`) the app was opened with, once; the join screen fills
/// itself from it.
#[tauri::command]
pub fn take_deep_link(state: State<'_, AppState>) -> Option<String> {
    state.take_deep_link()
}

#[tauri::command]
pub fn app_info<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        version: app.package_info().version.to_string(),
        history_path: state.history_path.display().to_string(),
        history_recovered_from: state
            .recovered_from
            .as_ref()
            .map(|p| p.display().to_string()),
        history_error: state.history().err(),
        webview: state.webview(),
    }
}

/// Called by the detection script after each page load.
#[tauri::command(rename_all = "snake_case")]
pub fn report_webview_capabilities<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    capabilities: WebviewCapabilities,
) {
    tracing::info!(
        rtc_peer_connection = capabilities.rtc_peer_connection,
        get_user_media = capabilities.get_user_media,
        "webview capabilities"
    );
    state.set_webview(capabilities);
    if let Ok(fallback) = state.fallback() {
        let (fallback, rtc) = (fallback.clone(), capabilities.rtc_peer_connection);
        tauri::async_runtime::spawn(async move { fallback.webview_reported(rtc).await });
    }
    crate::ipc::emit(&app, AppEvent::Webview(capabilities));
}

#[tauri::command]
pub async fn list_conversations(
    state: State<'_, AppState>,
    limit: Option<u32>,
) -> Result<Vec<Conversation>> {
    Ok(state.history()?.list_conversations(limit).await?)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn messages_page(
    state: State<'_, AppState>,
    room: String,
    before: Option<Cursor>,
    limit: Option<u32>,
) -> Result<Page> {
    Ok(state
        .history()?
        .messages_page(&room, before.as_ref(), limit.unwrap_or(PAGE_SIZE))
        .await?)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn search_messages(
    state: State<'_, AppState>,
    query: String,
    room: Option<String>,
    limit: Option<u32>,
) -> Result<Vec<SearchHit>> {
    Ok(state
        .history()?
        .search(&query, room.as_deref(), limit.unwrap_or(SEARCH_LIMIT))
        .await?)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn mark_read(state: State<'_, AppState>, room: String, up_to: i64) -> Result<()> {
    Ok(state.history()?.mark_read(&room, up_to).await?)
}

#[tauri::command]
pub async fn room_muted(state: State<'_, AppState>, room: String) -> Result<bool> {
    Ok(state.history()?.is_muted(&room).await?)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_room_muted(state: State<'_, AppState>, room: String, muted: bool) -> Result<()> {
    Ok(state.history()?.set_muted(&room, muted).await?)
}

/// Stores a message (outgoing: before sending, as pending; incoming: as received, notifying if the window
/// is in the background). Returns false when this id was already stored.
#[tauri::command(rename_all = "snake_case")]
pub async fn save_message<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    alerts: State<'_, dispatch::MessageAlerts>,
    message: NewMessage,
) -> Result<bool> {
    let ui = TauriUi::new(app);
    Ok(dispatch::save_message(state.history()?, &ui, &alerts, message).await?)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_message_status(
    state: State<'_, AppState>,
    id: String,
    status: MessageStatus,
    error: Option<String>,
) -> Result<bool> {
    Ok(state
        .history()?
        .set_message_status(&id, status, error.as_deref())
        .await?)
}

/// Pending outgoing messages, oldest first (optionally of one room): flush these after reconnecting.
#[tauri::command(rename_all = "snake_case")]
pub async fn outbox(state: State<'_, AppState>, room: Option<String>) -> Result<Vec<Message>> {
    Ok(state.history()?.outbox(room.as_deref()).await?)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn call_log(
    state: State<'_, AppState>,
    before: Option<i64>,
    limit: Option<u32>,
) -> Result<Vec<CallRecord>> {
    Ok(state
        .history()?
        .call_log(before, limit.unwrap_or(PAGE_SIZE))
        .await?)
}

/// Opens `<server>/#/room/<room>` in the default browser (calls where this webview has no WebRTC).
#[tauri::command(rename_all = "snake_case")]
pub async fn open_room_in_browser<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    room: String,
) -> Result<String> {
    let server = match state.client_config() {
        Some(config) => config.url,
        None => {
            let saved = Settings::load(state.history()?)
                .await?
                .server_url
                .ok_or_else(|| {
                    CommandError::new(ErrorKind::Invalid, "no signaling server configured")
                })?;
            parse_server_url(&saved)?
        }
    };
    let url = browser_room_url(&server, &room)?;
    app.opener()
        .open_url(url.as_str(), None::<&str>)
        .map_err(|e| {
            CommandError::new(
                ErrorKind::Unavailable,
                format!("cannot open the browser: {e}"),
            )
        })?;
    Ok(url.to_string())
}

/// Whether chat goes through the native links (`active`) and whether that was forced.
#[tauri::command]
pub async fn fallback_status(state: State<'_, AppState>) -> Result<FallbackStatus> {
    Ok(fallback::status(state.fallback()?).await)
}

/// Sends `text` on the chat channel to `peer` in `room`; waits while the channel's buffer is full.
/// `false` when no channel to that peer is open.
#[tauri::command(rename_all = "snake_case")]
pub async fn fallback_send(
    state: State<'_, AppState>,
    room: String,
    peer: String,
    text: String,
) -> Result<bool> {
    Ok(state.fallback()?.sink().send(&room, &peer, &text).await?)
}

/// Sends chat `message` (a `msg` with its id) to everyone linked in `room` by the core's chat rules (kept
/// for each until they ack it, sent again when their link reopens) and stores it as pending; progress
/// comes as `chat://status`. Returns the peers it went out to now.
#[tauri::command(rename_all = "snake_case")]
pub async fn chat_send<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    room: String,
    message: ChannelMessage,
) -> Result<Vec<String>> {
    state.chat()?.send(&app, &room, message).await
}

/// Peers of `room` whose chat channel is open now, with each link's safety code and certificates (for a
/// UI entering a room whose links the backend opened earlier, e.g. rooms rejoined at startup: they sent
/// no event).
#[tauri::command(rename_all = "snake_case")]
pub async fn fallback_open_peers(
    state: State<'_, AppState>,
    room: String,
) -> Result<Vec<OpenPeer>> {
    Ok(fallback::open_peers(state.fallback()?.sink(), &room).await)
}
