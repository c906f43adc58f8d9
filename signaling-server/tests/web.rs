//! Protects browser users: a web page of another site cannot open `/ws` through a
//! visitor's browser, and every response carries the headers that keep the UI from being framed, sniffed
//! or leaking its address.

mod common;

use common::{Client, metric, server, ui_server};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Opens `/ws` with `origin` (None: no header, as native clients do); the HTTP status of a refusal.
async fn open_ws(
    server: &signaling_server::RunningServer,
    origin: Option<&str>,
) -> Result<(), u16> {
    let mut request = server.ws_url().into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => Ok(()),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("unexpected handshake failure: {other}"),
    }
}

#[tokio::test]
async fn pages_of_other_origins_cannot_open_the_websocket() {
    let open = server(&[]).await;
    let own = open.http_url();
    assert_eq!(open_ws(&open, Some("https://evil.example")).await, Err(403));
    assert_eq!(open_ws(&open, Some("null")).await, Err(403));
    for allowed in [
        None,
        Some(own.as_str()),
        Some("tauri://localhost"),
        Some("http://tauri.localhost"),
        Some("https://tauri.localhost"),
        // Open (development) mode: pages served from this machine, e.g. the Vite dev server.
        Some("http://localhost:5173"),
    ] {
        assert_eq!(open_ws(&open, allowed).await, Ok(()), "{allowed:?}");
    }
    assert_eq!(
        metric(&open, "signaling_connections_refused_total", "origin").await,
        2.0
    );

    // With auth, localhost pages are no longer trusted; --allowed-origin adds a site.
    let closed = server(&[
        "--auth-secret",
        "a-test-secret-of-32-bytes-length",
        "--allowed-origin",
        "https://chat.example.org",
    ])
    .await;
    assert_eq!(
        open_ws(&closed, Some("http://localhost:5173")).await,
        Err(403)
    );
    assert_eq!(
        open_ws(&closed, Some("https://chat.example.org")).await,
        Ok(())
    );
    assert_eq!(open_ws(&closed, Some(&closed.http_url())).await, Ok(()));
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (ui, dir) = ui_server(
        "headers",
        &[("index.html", "<!doctype html><title>p2pchat</title>")],
    )
    .await;
    let client = reqwest::Client::new();
    for (path, origin, status) in [
        ("/", None, 200),
        ("/index.html", None, 200),
        ("/missing.js", None, 404),
        ("/healthz", None, 200),
        ("/readyz", None, 200),
        ("/metrics", None, 404),
        // Not an upgrade request.
        ("/ws", None, 400),
        ("/ws", Some("https://evil.example"), 403),
    ] {
        let mut request = client.get(format!("{}{path}", ui.http_url()));
        if let Some(origin) = origin {
            request = request
                .header("origin", origin)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("'unsafe-eval'"), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
    }
    std::fs::remove_dir_all(&dir).ok();
    // The placeholder page too, and WebSocket clients still connect through the layers.
    let placeholder = server(&[]).await;
    let (status, _) = common::http_get(&placeholder, "/").await;
    assert_eq!(status, 200);
    Client::hello(&placeholder, "A").await;
}

/// The policy forbids inline scripts: the UI must have none, in its source page or (when built) in
/// ui/dist. Styles may be inline (Svelte sets style attributes), which the policy allows.
#[test]
fn the_web_ui_has_no_inline_scripts() {
    let ui = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui");
    for page in [ui.join("index.html"), ui.join("dist/index.html")] {
        let Ok(html) = std::fs::read_to_string(&page) else {
            assert!(
                page.ends_with("dist/index.html"),
                "{} missing",
                page.display()
            );
            continue;
        };
        for tag in html.split("<script").skip(1) {
            let open = tag.split('>').next().unwrap_or_default();
            assert!(
                open.contains("src="),
                "{}: inline <script{open}>",
                page.display()
            );
        }
        let handler = html.match_indices(" on").find(|(at, _)| {
            let rest = &html[at + 3..];
            let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
            name_len > 0 && rest[name_len..].starts_with('=')
        });
        assert!(
            handler.is_none(),
            "{}: inline event handler",
            page.display()
        );
    }
}
