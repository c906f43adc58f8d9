//! The app's own commands (`invoke('<name>', {snake_case args})`): connection, settings, startup facts,
//! storing a message with its notification, and (re-exported from `calls`) call media. The history,
//! links and files plugins register theirs. Each is thin: validate, call a plain module, map the error
//! to `{kind, message}`. Every command is in the one list, src/ipc/commands.rs, with the same
//! arguments; docs/app.md describes them.

use std::sync::Arc;

use chat_protocol::ClientFrame;
use p2pchat_core::signaling::{ClientConfig, ConnectionState, browser_room_url, parse_server_url};
use serde_json::value::RawValue;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_opener::OpenerExt;

use crate::background;
use crate::dispatch;
use crate::frontend::TauriUi;
use crate::history::{HistoryState, NewMessage};
use crate::ipc::{AppEvent, AppInfo, CommandError, ErrorKind, WebviewCapabilities};
use crate::settings::{self, Settings};
use crate::state::AppState;

type Result<T> = std::result::Result<T, CommandError>;

/// Connects to the signaling server as `name` (and saves both). Without `url`, the saved server is used.
/// `token` (an invitation JWT) is saved for that server and presented in every hello; without one, the
/// token saved for the server (if any) is. Rooms remembered as joined are joined again. Returns the state right after starting. Already connected
/// the same way: nothing changes (the session, and the peer id others know, stay), and that session's
/// `welcome` goes to the window again for the room being opened.
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
        if let Some(welcome) = state.welcome() {
            crate::ipc::emit(&app, AppEvent::Frame(&welcome));
        }
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
/// and saved invitations; its keyring key is replaced) and the native links' device identity. Received
/// files stay where they were saved.
#[tauri::command]
pub async fn forget_device(
    state: State<'_, AppState>,
    history: State<'_, HistoryState>,
) -> Result<()> {
    state.disconnect();
    history.forget().await?;
    state.fallback().sink().forget_identity().map_err(|err| {
        CommandError::new(
            ErrorKind::Unavailable,
            format!("cannot erase this device's identity: {err}"),
        )
    })?;
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
    state.fallback().sink().leave_room(&room).await;
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

/// Sends one frame of ringing people who are away (`push-register`, `push-unregister`,
/// `offline-members`, `ring`, `ring-cancel`; docs/protocol.md, Push) on the app's connection; the
/// server's answers come back as `signaling://frame` events. Another frame, or a malformed one, is
/// `invalid`.
#[tauri::command(rename_all = "snake_case")]
pub fn push_frame(state: State<'_, AppState>, frame: serde_json::Value) -> Result<()> {
    let frame = ClientFrame::parse(&frame.to_string())
        .map_err(|err| CommandError::new(ErrorKind::Invalid, err.message))?;
    Ok(state.with_client(|c| c.push(frame))?)
}

/// Moves a call's media to the SFU or out of it (`sfu-join`, `sfu-leave`; docs/protocol.md, SFU calls) on
/// the app's connection; the server's answer (`sfu`, `sfu-lost`, or an `error` with ref `sfu-join`)
/// comes back as a `signaling://frame` event. Another frame, or a malformed one, is `invalid`.
#[tauri::command(rename_all = "snake_case")]
pub fn sfu_frame(state: State<'_, AppState>, frame: serde_json::Value) -> Result<()> {
    let (room, call, join) = match ClientFrame::parse(&frame.to_string()) {
        Ok(ClientFrame::SfuJoin { room, call }) => (room, call, true),
        Ok(ClientFrame::SfuLeave { room, call }) => (room, call, false),
        Ok(other) => {
            return Err(CommandError::new(
                ErrorKind::Invalid,
                format!("{} is not an SFU frame", other.type_name()),
            ));
        }
        Err(err) => return Err(CommandError::new(ErrorKind::Invalid, err.message)),
    };
    Ok(state.with_client(|c| c.sfu(&room, &call, join))?)
}

#[tauri::command]
pub fn connection_state(state: State<'_, AppState>) -> ConnectionState {
    state.connection_state()
}

/// Saved settings; where none are saved, the server and name of the running connection (e.g. provisioned
/// through `P2PCHAT_*` variables) fill the form.
#[tauri::command]
pub async fn get_settings<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<Settings> {
    let mut settings = Settings::load(state.history()?).await?;
    settings.start_at_login = settings.close_to_tray && background::starts_at_login(&app);
    if let Some(config) = state.client_config() {
        settings
            .server_url
            .get_or_insert_with(|| config.url.to_string());
        settings.display_name.get_or_insert(config.name);
    }
    Ok(settings)
}

/// Validates and saves settings, then applies ringing with the window closed (tray icon) and the login
/// item; an invalid server address is an `invalid` error for the form, a login item the OS refuses
/// `unavailable` (the rest is saved).
#[tauri::command(rename_all = "snake_case")]
pub async fn set_settings<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    settings: Settings,
) -> Result<Settings> {
    let saved = settings.save(state.history()?).await?;
    background::apply(&app, &saved)?;
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
    let (fallback, rtc) = (state.fallback().clone(), capabilities.rtc_peer_connection);
    tauri::async_runtime::spawn(async move { fallback.webview_reported(rtc).await });
    crate::ipc::emit(&app, AppEvent::Webview(capabilities));
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
