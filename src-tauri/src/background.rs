//! Ringing with the window closed (desktop). With "Ring me when the window is closed" on
//! (`Settings::close_to_tray`), closing the main window hides it to a tray icon (menu: Open p2pchat, Quit)
//! and the app keeps its signaling connection and rooms, so a call still rings as the usual notification
//! (`crate::notify`), whose click or Accept brings the window back. "Start at login" adds the OS's login
//! item (tauri-plugin-autostart: an XDG autostart entry on Linux, a LaunchAgent on macOS, a Run key on
//! Windows) that starts the app with `--hidden`: connected, rooms joined, no window until the person opens
//! it. Both are off by default: closing the window quits, and there is no tray icon. Phones ring through
//! push instead (docs/app.md).

use tauri::{AppHandle, Manager, Runtime};

use crate::history::HistoryExt;
use crate::ipc::{CommandError, ErrorKind};
use crate::settings::Settings;
use crate::state::AppState;

/// The argument the login item starts the app with: no window until the person opens it.
pub const HIDDEN_ARG: &str = "--hidden";
/// The tray icon's id (there is one, while the setting is on).
#[cfg(desktop)]
const TRAY: &str = "main";

/// What this app may do in the background here: a tray icon (the installed desktop app; a test runtime
/// has none).
pub struct Background {
    pub tray: bool,
}

/// Whether the app was started with `--hidden` (by the login item).
pub fn hidden_arg(mut args: impl Iterator<Item = String>) -> bool {
    args.any(|a| a == HIDDEN_ARG)
}

/// The login item's plugin: it starts the app with `--hidden`.
#[cfg(desktop)]
pub fn login_items<R: Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri_plugin_autostart::Builder::new()
        .arg(HIDDEN_ARG)
        .build()
}

/// One app per desktop session (tauri-plugin-single-instance): a second start hands its arguments to the
/// running app and exits. The login item starting it again (`--hidden`) changes nothing; any other start
/// (the menu entry, a `p2pchat://` invite link) brings the window to the front, and an invite goes to the
/// join screen as at startup (`take_deep_link`, announced by the `app://deep-link` event).
#[cfg(desktop)]
pub fn single_instance<R: Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri_plugin_single_instance::init(|app, args, _cwd| {
        let hidden = hidden_arg(args.iter().skip(1).cloned());
        let link = crate::deep_link_arg(args.into_iter().skip(1));
        tracing::info!(
            hidden,
            invite = link.is_some(),
            "second start: the running app takes it"
        );
        if let Some(link) = link {
            if let Some(state) = app.try_state::<AppState>() {
                state.set_deep_link(link);
            }
            crate::ipc::emit(app, crate::ipc::AppEvent::DeepLink);
        } else if hidden {
            return;
        }
        crate::frontend::show_main(app);
    })
}

/// At startup, from the saved settings: the tray icon if ringing with the window closed is on, and the
/// window stays hidden when the login item started the app (`hidden`) for that. A history locked at
/// startup holds the settings (`settings` are then the defaults): they are applied the same way once a
/// passphrase unlocks it, with the window left as it is (the person just typed the passphrase in it).
pub fn start<R: Runtime>(app: &AppHandle<R>, settings: &Settings, hidden: bool) {
    start_with(app, settings, hidden);
    if !*app.history_state().ready_flag().borrow() {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            app.history_state().wait_ready().await;
            let Ok(history) = app.history_state().history() else {
                return;
            };
            match Settings::load(history).await {
                Ok(saved) => start_with(&app, &saved, false),
                Err(err) => {
                    tracing::warn!(%err, "cannot read settings after unlocking the history")
                }
            }
        });
    }
}

fn start_with<R: Runtime>(app: &AppHandle<R>, settings: &Settings, hidden: bool) {
    app.state::<AppState>()
        .set_close_to_tray(settings.close_to_tray);
    #[cfg(desktop)]
    {
        if let Err(err) = set_tray(app, settings.close_to_tray) {
            tracing::warn!(err = %err.message, "cannot show the tray icon");
        }
        if hidden && settings.close_to_tray {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.hide();
            }
            tracing::info!("started hidden: the tray icon opens the window");
        }
    }
    #[cfg(mobile)]
    let _ = hidden;
}

/// Applies saved settings at once: ringing with the window closed (the tray icon comes or goes) and the
/// login item (made or removed).
pub fn apply<R: Runtime>(app: &AppHandle<R>, settings: &Settings) -> Result<(), CommandError> {
    app.state::<AppState>()
        .set_close_to_tray(settings.close_to_tray);
    #[cfg(desktop)]
    {
        set_tray(app, settings.close_to_tray)?;
        set_login_item(app, settings.start_at_login && settings.close_to_tray)?;
    }
    Ok(())
}

/// Whether the OS starts the app at login (its login item exists); false where there are none.
pub fn starts_at_login<R: Runtime>(app: &AppHandle<R>) -> bool {
    #[cfg(desktop)]
    {
        app.try_state::<tauri_plugin_autostart::AutoLaunchManager>()
            .is_some_and(|m| m.is_enabled().unwrap_or(false))
    }
    #[cfg(mobile)]
    {
        let _ = app;
        false
    }
}

#[cfg(desktop)]
fn set_login_item<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<(), CommandError> {
    let Some(manager) = app.try_state::<tauri_plugin_autostart::AutoLaunchManager>() else {
        return if on {
            Err(CommandError::new(
                ErrorKind::Unavailable,
                "starting at login is not available here",
            ))
        } else {
            Ok(())
        };
    };
    if manager.is_enabled().unwrap_or(false) == on {
        return Ok(());
    }
    let done = if on {
        manager.enable()
    } else {
        manager.disable()
    };
    done.map_err(|err| {
        CommandError::new(
            ErrorKind::Unavailable,
            format!("cannot change the login item: {err}"),
        )
    })?;
    tracing::info!(on, "start at login");
    Ok(())
}

/// Shows or removes the tray icon (where the app may have one).
#[cfg(desktop)]
fn set_tray<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<(), CommandError> {
    if !app.try_state::<Background>().is_some_and(|b| b.tray) {
        return Ok(());
    }
    match (on, app.tray_by_id(TRAY).is_some()) {
        (true, false) => {
            build_tray(app).map_err(|err| {
                CommandError::new(
                    ErrorKind::Unavailable,
                    format!("cannot show the tray icon: {err}"),
                )
            })?;
            tracing::info!("tray icon shown");
        }
        (false, true) => {
            drop(app.remove_tray_by_id(TRAY));
            tracing::info!("tray icon removed");
        }
        _ => {}
    }
    Ok(())
}

/// The tray icon: "Open p2pchat" brings the window back, "Quit" ends the app (connection included); a
/// click on the icon opens the window where the desktop reports clicks (Windows, macOS).
#[cfg(desktop)]
fn build_tray<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    use tauri::menu::{Menu, MenuItem};
    use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};

    let open = MenuItem::with_id(app, "open", "Open p2pchat", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &quit])?;
    let mut tray = TrayIconBuilder::with_id(TRAY)
        .tooltip("p2pchat: rings when the window is closed")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id.as_ref() {
            "open" => crate::frontend::show_main(app),
            "quit" => {
                tracing::info!("quit from the tray");
                app.exit(0);
            }
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                crate::frontend::show_main(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The login item's argument is recognised among others; without it the window shows.
    #[test]
    fn finds_the_hidden_argument() {
        let args = |a: &[&str]| {
            a.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert!(super::hidden_arg(args(&["--hidden"])));
        assert!(super::hidden_arg(args(&[
            "p2pchat://join#room=a",
            "--hidden"
        ])));
        assert!(!super::hidden_arg(args(&["--hidden-not", "p2pchat://x"])));
    }
}
