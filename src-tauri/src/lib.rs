//! p2pchat's app (Tauri 2): opens the chat history from disk first (offline works), then connects the
//! signaling socket it owns, forwards frames and state to the web UI as events, keeps history, and
//! notifies. `run()` is the entry point of desktop (`main.rs`) and mobile builds.
//!
//! The Tauri-free client (signaling client, native data-channel links, chat rules) is the `p2pchat-core`
//! crate (src-tauri/core); this crate adapts it to the window.
//!
//! Map: `ipc` (the contract with the UI: command list, events), `typescript` (the UI's `ipc.gen.ts`
//! from it), `commands` (the UI's API, thin), `error` (what a failed command returns), `history`
//! (SQLite), `dispatch` (signaling → UI/history/notify), `notify` (rules and texts), `settings`, `state`
//! (shared state), `frontend` (events, notifications, window), `background` (the tray and start at login that
//! keep the desktop ringing with its window closed), `updates` (signed updates, desktop),
//! `webview` (WebRTC in WebKitGTK and its detection), `fallback` (the native links wired to the window
//! where the webview has no WebRTC), `calls` (native call media in that window), `files` (files over
//! those links: saved in Downloads, recorded in the history, sent and shown in the window).

#[macro_use]
pub mod ipc;
mod background;
pub mod calls;
pub mod chat;
mod commands;
pub mod dispatch;
mod error;
pub mod files;
mod frontend;
pub mod history;
pub mod links;
pub mod notify;
pub mod settings;
mod state;
pub mod typescript;
#[cfg(desktop)]
pub mod updates;
pub mod webview;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use p2pchat_core::signaling::{ClientConfig, ClientSlot, parse_server_url};
use std::path::PathBuf;

use tauri::webview::PageLoadEvent;
use tauri::{App, AppHandle, Builder, Manager, Runtime};

use crate::history::HistoryExt;
use crate::links::LinksExt;
use crate::settings::Settings;
use crate::state::AppState;

/// The invoke handler of the app's own commands in the list (src/ipc/commands.rs, owner `app`; the
/// plugins register theirs): walks the list, keeping `app` entries.
macro_rules! handler {
    (@keep [$($kept:ident),*]) => {
        tauri::generate_handler![$(commands::$kept),*]
    };
    (@keep [$($kept:ident),*] app $name:ident($($args:tt)*) -> $ret:ty $(, $($rest:tt)*)?) => {
        handler!(@keep [$($kept,)* $name] $($($rest)*)?)
    };
    (@keep [$($kept:ident),*] $plugin:ident $name:ident($($args:tt)*) -> $ret:ty $(, $($rest:tt)*)?) => {
        handler!(@keep [$($kept),*] $($($rest)*)?)
    };
    ($($list:tt)*) => {
        handler!(@keep [] $($list)*)
    };
}

/// What differs between the installed app and the same app under test: where it keeps its files, the
/// tray, the invite link it was opened with. `AppOptions::default()` is the installed app's.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// The app's data folder (history, device identity, files being sent); `None`: the OS's
    /// (`$XDG_DATA_HOME/org.p2pchat.app` on Linux).
    pub data_dir: Option<PathBuf>,
    /// Where received files go; `None`: the user's Downloads folder.
    pub download_dir: Option<PathBuf>,
    /// The tray icon (desktop; a test runtime has no tray).
    pub tray: bool,
    /// The invite link the app was started with (`p2pchat://join#…`), for the join screen.
    pub deep_link: Option<String>,
    /// Started by the login item (`--hidden`): the window stays hidden if ringing with it closed is on.
    pub hidden: bool,
    /// The OS's login items ("Start at login"; desktop; a test runtime leaves the user's alone).
    pub login_items: bool,
    /// One app per desktop session: a second start hands its arguments to this one and exits (desktop; a
    /// test runtime runs alone).
    pub single_instance: bool,
}

impl Default for AppOptions {
    fn default() -> AppOptions {
        AppOptions {
            data_dir: None,
            download_dir: None,
            tray: cfg!(desktop),
            deep_link: None,
            hidden: false,
            login_items: cfg!(desktop),
            single_instance: cfg!(desktop),
        }
    }
}

/// The app's configuration, icons and embedded UI (tauri.conf.json, ui/dist), for any runtime.
pub fn context<R: Runtime>() -> tauri::Context<R> {
    tauri::generate_context!()
}

#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let options = AppOptions {
        deep_link: deep_link_arg(std::env::args().skip(1)),
        hidden: background::hidden_arg(std::env::args().skip(1)),
        ..AppOptions::default()
    };
    let built = match app(tauri::Builder::default(), options).build(context()) {
        Ok(built) => built,
        Err(err) => {
            tracing::error!(%err, "p2pchat stopped with an error");
            std::process::exit(1);
        }
    };
    built.run(|app, event| {
        if let tauri::RunEvent::Exit = event {
            leave_rooms_on_exit(app);
            // After the rooms: leaving may still record something. Then SQLite removes its WAL.
            history::close_at_exit(app);
        }
    });
}

/// The app is ending (Quit in the tray, the last window closed): its rooms are left at once, as a closed
/// browser tab leaves, so nobody sees it there (or calls it) through the server's resume grace and a phone
/// of the same person is rung by push from the moment it is gone. At most a second: exiting never hangs on
/// the network.
fn leave_rooms_on_exit<R: Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let quit = state.quit();
    tauri::async_runtime::block_on(async {
        if tokio::time::timeout(std::time::Duration::from_secs(1), quit)
            .await
            .is_err()
        {
            tracing::info!("leaving the rooms took too long; exiting anyway");
        }
    });
}

/// The whole app (plugins, state, commands, setup, window events) on `builder`'s runtime: `run()` gives
/// it the real one, tests Tauri's mock runtime (`tauri::test::mock_builder()`).
pub fn app<R: Runtime>(builder: Builder<R>, options: AppOptions) -> Builder<R> {
    // The links relay their negotiation through the signaling client the app state runs.
    let client = ClientSlot::default();
    let window_ui =
        |app: AppHandle<R>| Arc::new(frontend::TauriUi::new(app)) as Arc<dyn dispatch::Ui>;
    // A second start of the desktop app stops here, before any other plugin sets up (background.rs).
    #[cfg(desktop)]
    let builder = if options.single_instance {
        builder.plugin(background::single_instance())
    } else {
        builder
    };
    // In-crate plugins in the order they need each other: history, then links, then files and calls.
    // Push-call first: on Android its Kotlin side holds the Keystore that unwraps the history's key.
    let builder = builder
        .manage(dispatch::MessageAlerts::default())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_push_call::init())
        .plugin(history::init(options.data_dir.clone()))
        .plugin(links::init(client.clone(), window_ui))
        .plugin(files::init(options.download_dir.clone()))
        .plugin(calls::init());
    #[cfg(desktop)]
    let builder = builder.plugin(updates::plugin());
    #[cfg(desktop)]
    let builder = if options.login_items {
        builder.plugin(background::login_items())
    } else {
        builder
    };
    builder
        .setup(move |app| setup(app, client, options))
        .on_page_load(|webview, payload| {
            if payload.event() == PageLoadEvent::Finished
                && let Err(err) = webview.eval(webview::DETECT_SCRIPT)
            {
                tracing::warn!(%err, "cannot run the WebRTC detection script");
            }
        })
        .on_window_event(frontend::on_window_event)
        .invoke_handler(app_commands!(handler))
}

/// Before the window has content: open history (so the conversation list comes from disk at once), turn
/// on WebRTC in the webview, set up notifications and, with the saved settings, the tray (the window
/// stays hidden when the login item started the app), then connect in the background.
fn setup<R: Runtime>(
    app: &mut App<R>,
    client: ClientSlot,
    options: AppOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let links = app.links();
    let (gate, chat) = (links.gate.clone(), links.chat.clone());
    app.manage(AppState::new(app.history_state(), client, gate, chat));
    if let Some(link) = options.deep_link {
        app.state::<AppState>().set_deep_link(link);
    }

    #[cfg(target_os = "linux")]
    if let Some(window) = app.get_webview_window("main") {
        window.with_webview(|webview| webview::enable_webrtc(&webview))?;
    }
    frontend::setup_notifications(app.handle());
    app.manage(background::Background { tray: options.tray });
    let saved = match app.state::<AppState>().history() {
        Ok(history) => tauri::async_runtime::block_on(Settings::load(history))
            .inspect_err(|err| tracing::warn!(%err, "cannot read settings"))
            .ok(),
        Err(_) => None,
    };
    background::start(app.handle(), &saved.unwrap_or_default(), options.hidden);

    let handle = app.handle().clone();
    tauri::async_runtime::spawn(async move { connect_at_startup(handle).await });
    #[cfg(desktop)]
    tauri::async_runtime::spawn(updates::check_at_startup(app.handle().clone()));
    Ok(())
}

/// The first `p2pchat://` argument: an invite (`p2pchat://join#room=…&token=…`) opened from a browser or
/// another app, which the desktop entry passes as `%u` (the scheme is registered in tauri.conf.json,
/// `plugins.deep-link.desktop.schemes`).
pub(crate) fn deep_link_arg(args: impl Iterator<Item = String>) -> Option<String> {
    args.into_iter().find(|a| {
        a.get(..10)
            .is_some_and(|s| s.eq_ignore_ascii_case("p2pchat://"))
    })
}

/// Connects with the saved settings (or `P2PCHAT_SERVER_URL` / `P2PCHAT_NAME` / `P2PCHAT_TOKEN`, and rooms in
/// `P2PCHAT_JOIN`, comma-separated: for provisioning and tests), rejoining remembered rooms. Without a
/// server and a name the app stays offline until the UI calls `connect`.
async fn connect_at_startup<R: Runtime>(app: AppHandle<R>) {
    // A history locked at startup holds the settings: wait for its passphrase.
    app.history_state().wait_ready().await;
    let state = app.state::<AppState>();
    let Ok(history) = state.history() else { return };
    let saved = match Settings::load(history).await {
        Ok(saved) => saved,
        Err(err) => {
            tracing::warn!(%err, "cannot read settings");
            return;
        }
    };
    let env = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
    for room in env("P2PCHAT_JOIN")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        if let Err(err) = history.set_joined(room, true).await {
            tracing::warn!(%err, room, "cannot remember room from P2PCHAT_JOIN");
        }
    }
    let (Some(url), Some(name)) = (
        env("P2PCHAT_SERVER_URL").or(saved.server_url),
        env("P2PCHAT_NAME").or(saved.display_name),
    ) else {
        tracing::info!("no server or name configured yet; staying offline");
        return;
    };
    let url = match parse_server_url(&url) {
        Ok(url) => url,
        Err(err) => {
            tracing::warn!(%err, "saved server address is invalid; staying offline");
            return;
        }
    };
    let rooms = match history.joined_rooms().await {
        Ok(rooms) => rooms.into_iter().collect(),
        Err(err) => {
            tracing::warn!(%err, "cannot read joined rooms");
            Default::default()
        }
    };
    // The invitation: `P2PCHAT_TOKEN` (provisioning, tests) or the one saved for this server.
    let token = match env("P2PCHAT_TOKEN") {
        Some(token) => Some(token),
        None => settings::server_token(history, url.as_str())
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(%err, "cannot read the server's saved token");
                None
            }),
    };
    tracing::info!(%url, ?rooms, "connecting");
    let config = ClientConfig {
        url,
        name,
        token,
        rooms,
    };
    state.connect(config, Arc::new(frontend::TauriUi::new(app.clone())));
}

#[cfg(test)]
mod deep_link_tests {
    /// A link the desktop passes on the command line reaches the join screen; other arguments do not.
    #[test]
    fn finds_the_invite_among_the_arguments() {
        let args = |a: &[&str]| {
            a.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert_eq!(
            super::deep_link_arg(args(&["--flag", "P2PCHAT://join#room=team&token=a.b.c"])),
            Some("P2PCHAT://join#room=team&token=a.b.c".into())
        );
        assert_eq!(
            super::deep_link_arg(args(&["https://x.org/#room=a", "p2p"])),
            None
        );
    }
}
