//! The front end of the app around the web UI: the [`Ui`] the dispatcher talks to (events to the page, window
//! focus, system notifications with Accept/Decline for calls), what a click on a notification does, and
//! closing the window to the tray (`crate::background` keeps the tray icon).

use tauri::{AppHandle, Manager, Runtime, Window, WindowEvent};
use tauri_plugin_notification::{Action, ActionType, NotificationExt};

use p2pchat_core::signaling::ConnectionState;

use crate::dispatch::Ui;
use crate::ipc::{AppEvent, NotificationAction, emit};
use crate::notify::Notification;
use crate::state::AppState;

const MAIN: &str = "main";
const CALL_ACTIONS: &str = "incoming-call";

/// The dispatcher's view of the app window (generic so the command tests can use Tauri's mock runtime).
pub struct TauriUi<R: Runtime> {
    app: AppHandle<R>,
}

impl<R: Runtime> TauriUi<R> {
    pub fn new(app: AppHandle<R>) -> TauriUi<R> {
        TauriUi { app }
    }
}

impl<R: Runtime> Ui for TauriUi<R> {
    fn frame(&self, frame: &chat_protocol::ServerFrame) {
        emit(&self.app, AppEvent::Frame(frame));
    }

    fn state(&self, state: ConnectionState) {
        emit(&self.app, AppEvent::State(state));
    }

    fn focused(&self) -> bool {
        if self
            .app
            .try_state::<AppState>()
            .is_some_and(|s| s.in_background())
        {
            return false;
        }
        self.app.get_webview_window(MAIN).is_some_and(|w| {
            w.is_visible().unwrap_or(false)
                && w.is_focused().unwrap_or(false)
                && !w.is_minimized().unwrap_or(false)
        })
    }

    fn notify(&self, n: &Notification) {
        let mut builder = self
            .app
            .notification()
            .builder()
            .title(&n.title)
            .body(&n.body)
            .extra("room", &n.room);
        if let Some(call) = &n.call {
            builder = builder.extra("call", call).action_type_id(CALL_ACTIONS);
        }
        match builder.show() {
            Ok(()) => tracing::info!(title = %n.title, "notification posted"),
            Err(err) => tracing::warn!(%err, "cannot post notification"),
        }
    }
}

/// Asks for notification permission once (mobile; desktop is always allowed), registers the call
/// actions, and routes clicks: the window comes to the front and the UI opens the room or the call.
pub fn setup_notifications<R: Runtime>(app: &AppHandle<R>) {
    let notifications = app.notification();
    if !matches!(
        notifications.permission_state(),
        Ok(tauri_plugin_notification::PermissionState::Granted)
    ) && let Err(err) = notifications.request_permission()
    {
        tracing::warn!(%err, "notification permission request failed");
    }
    let call_actions = ActionType::builder(CALL_ACTIONS)
        .actions(vec![
            Action::builder("accept", "Accept").foreground(true).build(),
            Action::builder("decline", "Decline")
                .destructive(true)
                .build(),
        ])
        .build();
    if let Err(err) = notifications.register_action_types(vec![call_actions]) {
        tracing::warn!(%err, "cannot register notification actions");
    }
    let handle = app.clone();
    let registered = notifications.on_action(move |performed| {
        let extra = |key: &str| {
            performed
                .notification()
                .and_then(|n| n.extra().get(key))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let action = match performed.action_id() {
            "tap" => "open",
            "accept" => "accept",
            "decline" => "decline",
            _ => return,
        };
        if action != "decline" {
            show_main(&handle);
        }
        let payload = NotificationAction {
            action: action.into(),
            room: extra("room"),
            call: extra("call"),
        };
        emit(&handle, AppEvent::Notification(&payload));
    });
    if let Err(err) = registered {
        tracing::warn!(%err, "cannot listen for notification actions");
    }
}

/// Shows, unminimises and focuses the main window.
pub fn show_main<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// Closing the main window hides it instead (calls keep ringing) when ringing with the window closed is on. On phones,
/// going to the background and back is tracked (notifications, waking the signaling client).
pub fn on_window_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    #[cfg(mobile)]
    match event {
        WindowEvent::Suspended => window.state::<AppState>().set_in_background(true),
        WindowEvent::Resumed => window.state::<AppState>().set_in_background(false),
        _ => {}
    }
    if let WindowEvent::CloseRequested { api, .. } = event {
        let to_tray = window.state::<AppState>().close_to_tray();
        if window.label() == MAIN && to_tray && cfg!(desktop) {
            api.prevent_close();
            let _ = window.hide();
        }
    }
}
