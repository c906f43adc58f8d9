//! The whole app on Tauri's mock runtime (no window, no display): `crate::app` with every plugin, the
//! state its setup builds, the app's config and capabilities, over a real SQLite history in a temporary
//! folder. Tests call commands as the page does (`invoke(name, args)` through IPC, JSON in and out) and
//! hear the events the page would.

mod app;
mod background;
mod chat;
mod files;
mod history;

use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, Listener, Manager, WebviewWindow};
use tempfile::TempDir;

use crate::AppOptions;

/// The running app, its main window and its data folder.
pub struct TestApp {
    pub app: App<MockRuntime>,
    pub window: WebviewWindow<MockRuntime>,
    pub dir: TempDir,
}

impl TestApp {
    /// The app as `run()` starts it (setup included), with its data and downloads in a fresh folder.
    pub fn start() -> TestApp {
        Self::start_with(|_| {})
    }

    /// [`TestApp::start`] with `adjust` applied to the options first.
    pub fn start_with(adjust: impl FnOnce(&mut AppOptions)) -> TestApp {
        let dir = TempDir::new().unwrap();
        let mut options = AppOptions {
            data_dir: Some(dir.path().join("data")),
            download_dir: Some(dir.path().join("Downloads")),
            tray: false,
            deep_link: None,
            hidden: false,
            login_items: false,
            single_instance: false,
        };
        adjust(&mut options);
        let mut app = crate::app(mock_builder(), options)
            .build(crate::context())
            .expect("app builds");
        // Runs the setup as the event loop's start does (the mock runtime's iteration does nothing else):
        // the main window from tauri.conf.json, then the app's own setup.
        #[allow(deprecated)]
        app.run_iteration(|_, _| {});
        let window = app.get_webview_window("main").expect("main window");
        TestApp { app, window, dir }
    }

    /// `call(cmd, args)` as the page does it (the app's own origin, so its capabilities apply): the
    /// JSON result, or the JSON error.
    pub fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        self.request(cmd, InvokeBody::Json(args), Default::default())
    }

    /// An invoke with any body and headers.
    pub fn request(
        &self,
        cmd: &str,
        body: InvokeBody,
        headers: tauri::http::HeaderMap,
    ) -> Result<Value, Value> {
        let request = InvokeRequest {
            // A plugin's command goes to `plugin:<plugin>|<name>`, as the UI's `call()` sends it.
            cmd: crate::ipc::invoke_path(cmd),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body,
            headers,
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.window, request).map(|b| b.deserialize().expect("JSON response"))
    }

    /// Every payload of event `name` from now on.
    pub fn events(&self, name: &str) -> Events {
        let (tx, rx) = mpsc::channel();
        self.app.listen_any(name.to_owned(), move |event| {
            let _ = tx.send(serde_json::from_str(event.payload()).unwrap_or(Value::Null));
        });
        Events(rx)
    }
}

/// Payloads of one event, in the order the app emitted them.
pub struct Events(mpsc::Receiver<Value>);

impl Events {
    /// The next payload if one came (waiting a moment for stragglers).
    pub fn try_next(&self) -> Option<Value> {
        self.0.recv_timeout(Duration::from_millis(300)).ok()
    }

    /// The first payload (within 10 s) for which `wanted` holds; panics otherwise.
    pub fn wait_for(&self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.0.recv_timeout(left) {
                Ok(payload) if wanted(&payload) => return payload,
                Ok(_) => continue,
                Err(_) => panic!("no event: {what}"),
            }
        }
    }
}

/// The real signaling server in process on a free loopback port, with `extra` flags, and its WebSocket URL
/// (it stops when the returned server is dropped).
pub fn real_server(extra: &[&str]) -> (signaling_server::RunningServer, String) {
    let server = tauri::async_runtime::block_on(async {
        let args = ["--bind", "127.0.0.1:0", "--ui-dir", "/nonexistent"]
            .iter()
            .chain(extra);
        let config = signaling_server::Config::from_args(args).unwrap();
        signaling_server::start(config).await.unwrap()
    });
    let url = format!("ws://{}/ws", server.local_addr());
    (server, url)
}
