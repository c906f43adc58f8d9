//! The updater as the app registers it, against a static HTTP server on loopback that offers a newer
//! release signed with a test key (as `tauri signer` signs: minisign, base64): the update is found and its
//! package verifies; a package changed after signing, or signed with another key, is refused.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use minisign::KeyPair;
use tauri::App;
use tauri::test::{MockRuntime, mock_builder};
use tauri_plugin_updater::{Error, UpdaterExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A test signing key, made fresh for each test.
struct TestKey(KeyPair);

impl TestKey {
    fn new() -> TestKey {
        TestKey(KeyPair::generate_unencrypted_keypair().unwrap())
    }

    /// The public key as tauri.conf.json's `plugins.updater.pubkey` holds it.
    fn public(&self) -> String {
        STANDARD.encode(self.0.pk.to_box().unwrap().to_string())
    }

    /// The `.sig` of `data`, as the release build writes it next to each package.
    fn sign(&self, data: &[u8]) -> String {
        let signature =
            minisign::sign(Some(&self.0.pk), &self.0.sk, Cursor::new(data), None, None).unwrap();
        STANDARD.encode(signature.to_string())
    }
}

/// A static HTTP/1.1 server on 127.0.0.1: `base` is its URL; `serve` answers each path with its body
/// (404 for others) until the test ends.
struct StaticServer {
    listener: TcpListener,
    base: String,
}

impl StaticServer {
    async fn bind() -> StaticServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        StaticServer { listener, base }
    }

    fn serve(self, files: HashMap<&'static str, Vec<u8>>) {
        let files = Arc::new(files);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = self.listener.accept().await {
                let files = files.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&request);
                    let path = text.split_whitespace().nth(1).unwrap_or("/");
                    let (status, body) = match files.get(path) {
                        Some(body) => ("200 OK", body.clone()),
                        None => ("404 Not Found", b"not found".to_vec()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                });
            }
        });
    }
}

/// The release manifest (latest.json) offering `version` for this machine, package at `url`.
fn manifest(version: &str, url: &str, signature: &str) -> Vec<u8> {
    let target = tauri_plugin_updater::target().expect("a desktop target the updater supports");
    serde_json::json!({
        "version": version,
        "notes": "test release",
        "pub_date": "2026-01-01T00:00:00Z",
        "platforms": { target: { "url": url, "signature": signature } },
    })
    .to_string()
    .into_bytes()
}

/// The app (mock runtime) with its real configuration and the updater plugin as `run()` registers it.
fn app() -> App<MockRuntime> {
    mock_builder()
        .plugin(super::plugin())
        .build(tauri::generate_context!())
        .expect("the app builds with the updater plugin and tauri.conf.json's updater settings")
}

/// A server offering version `offered` (signed by `signer`) whose package is `served`, checked by an app
/// trusting `trusted`: what the updater found, and what downloading (which verifies) gave.
async fn check(
    offered: &str,
    signer: &TestKey,
    signed: &[u8],
    served: &[u8],
    trusted: &TestKey,
) -> Option<(String, Result<Vec<u8>, Error>)> {
    let server = StaticServer::bind().await;
    let base = server.base.clone();
    let package_url = format!("{base}/p2pchat.AppImage");
    server.serve(HashMap::from([
        (
            "/latest.json",
            manifest(offered, &package_url, &signer.sign(signed)),
        ),
        ("/p2pchat.AppImage", served.to_vec()),
    ]));

    let app = app();
    let updater = app
        .handle()
        .updater_builder()
        .pubkey(trusted.public())
        .endpoints(vec![format!("{base}/latest.json").parse().unwrap()])
        .unwrap()
        .build()
        .unwrap();
    let update = updater.check().await.expect("the manifest is read")?;
    let downloaded = update.download(|_, _| {}, || {}).await;
    Some((update.version.clone(), downloaded))
}

const PACKAGE: &[u8] =
    b"p2pchat 0.2.0 package bytes \x00\x01\x02 (any binary: the signature covers every byte)";

#[tokio::test]
async fn a_newer_signed_release_is_found_and_its_package_verifies() {
    let key = TestKey::new();
    let (version, downloaded) = check("0.2.0", &key, PACKAGE, PACKAGE, &key)
        .await
        .expect("0.2.0 is newer than the running 0.1.0");
    assert_eq!(version, "0.2.0");
    assert_eq!(
        downloaded.expect("a correctly signed package verifies"),
        PACKAGE
    );
}

#[tokio::test]
async fn a_package_changed_after_signing_is_refused() {
    let key = TestKey::new();
    let mut tampered = PACKAGE.to_vec();
    tampered[5] ^= 0x01;
    let (_, downloaded) = check("0.2.0", &key, PACKAGE, &tampered, &key)
        .await
        .unwrap();
    assert!(
        matches!(downloaded, Err(Error::Minisign(_))),
        "tampered package accepted or failed otherwise: {downloaded:?}"
    );
}

#[tokio::test]
async fn a_package_signed_with_another_key_is_refused() {
    let (ours, theirs) = (TestKey::new(), TestKey::new());
    let (_, downloaded) = check("0.2.0", &theirs, PACKAGE, PACKAGE, &ours)
        .await
        .unwrap();
    assert!(
        matches!(downloaded, Err(Error::Minisign(_))),
        "package signed by another key accepted or failed otherwise: {downloaded:?}"
    );
}

/// A correctly signed older release (say, one with a known hole) is not offered.
#[tokio::test]
async fn a_signed_older_release_is_refused() {
    let key = TestKey::new();
    assert!(check("0.0.9", &key, PACKAGE, PACKAGE, &key).await.is_none());
}

/// The webview may not use the updater: only Rust checks (a page script could otherwise pass its own
/// endpoints or `allowDowngrades`).
#[test]
fn no_capability_lets_the_webview_use_the_updater() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/capabilities");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("\"updater:"),
            "{} grants an updater permission",
            path.display()
        );
    }
}

#[tokio::test]
async fn the_running_version_is_no_update() {
    let key = TestKey::new();
    assert!(check("0.1.0", &key, PACKAGE, PACKAGE, &key).await.is_none());
}

/// Shipped builds check nowhere and trust no key until the release workflow fills both in: a build made
/// from the repository never installs anything.
#[test]
fn the_repository_configuration_checks_no_endpoint() {
    let app = app();
    assert!(matches!(app.handle().updater(), Err(Error::EmptyEndpoints)));
    assert_eq!(
        app.package_info().version.to_string(),
        env!("CARGO_PKG_VERSION")
    );
}
