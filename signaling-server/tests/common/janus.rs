//! Debian's Janus 1.1 started with a configuration written by `tests/e2e/janus-config.sh` into a fresh
//! folder (videoroom only; HTTP API and admin API for the server, WebSocket transport for clients; all on
//! 127.0.0.1; token_auth, api_secret, admin_secret, videoroom admin_key), stopped by its PID. Without
//! `janus` these tests fail: CI installs it (.ci/deps.sh).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::redis_server::free_port;

pub const API_SECRET: &str = "test-janus-api-secret-0123456789";
pub const ADMIN_SECRET: &str = "test-janus-admin-secret-012345678";
pub const ROOM_ADMIN_KEY: &str = "test-janus-room-admin-key-0123456";

/// Bound for Janus to start.
const SLOW: Duration = Duration::from_secs(20);

pub struct Janus {
    child: Child,
    dir: PathBuf,
    pub http_port: u16,
    pub admin_port: u16,
    pub ws_port: u16,
}

impl Janus {
    /// Starts Janus on free loopback ports (new ones if another process took one meanwhile).
    pub fn start() -> Janus {
        for _ in 0..5 {
            if let Some(janus) = Janus::try_start() {
                return janus;
            }
        }
        panic!("janus could not listen on free ports 5 times");
    }

    fn try_start() -> Option<Janus> {
        let (http_port, admin_port, ws_port) = (free_port(), free_port(), free_port());
        let dir = std::env::temp_dir().join(format!("signaling-janus-{http_port}"));
        let _ = std::fs::remove_dir_all(&dir);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/janus-config.sh");
        let status = Command::new(&script)
            .arg(&dir)
            .args([http_port, admin_port, ws_port].map(|p| p.to_string()))
            .args([API_SECRET, ADMIN_SECRET, ROOM_ADMIN_KEY])
            .status()
            .expect("tests/e2e/janus-config.sh runs");
        assert!(status.success(), "janus-config.sh failed");
        let log = std::fs::File::create(dir.join("janus.log")).unwrap();
        let child = Command::new("janus")
            .arg(format!("--configs-folder={}", dir.display()))
            .arg(format!("--config={}", dir.join("janus.jcfg").display()))
            .arg("--disable-colors")
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run janus ({e}): these tests need Debian's janus (apt-get install janus; \
                     .ci/deps.sh installs it for the tests)"
                )
            });
        let mut janus = Janus {
            child,
            dir,
            http_port,
            admin_port,
            ws_port,
        };
        let deadline = Instant::now() + SLOW;
        loop {
            assert!(
                Instant::now() < deadline,
                "janus did not start: {}",
                janus.log()
            );
            if let Ok(Some(_)) = janus.child.try_wait() {
                return None;
            }
            if janus.log().contains("WebSockets thread started")
                && janus.log().contains("Admin/monitor HTTP webserver started")
            {
                return Some(janus);
            }
            if janus.log().contains("No WebSockets server started") {
                // Its port was taken: try others.
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("janus.log")).unwrap_or_default()
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/janus", self.http_port)
    }

    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}/admin", self.admin_port)
    }

    /// What clients connect to.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.ws_port)
    }

    /// The signaling server's flags for this instance (secrets included).
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--sfu-url".into(),
            self.api_url(),
            "--sfu-admin-url".into(),
            self.admin_url(),
            "--sfu-public-url".into(),
            self.ws_url(),
        ]
    }

    /// Stops Janus at once (SIGKILL: a crash, not a clean shutdown).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The videoroom plugin's answer to `request`, asked over the HTTP API with the api_secret (and the
    /// videoroom admin_key, which shows private rooms too).
    pub async fn videoroom(&self, mut request: Value) -> Value {
        let http = reqwest::Client::new();
        let post = async |url: String, body: Value| -> Value {
            let mut body = body;
            body["transaction"] = json!("t");
            body["apisecret"] = json!(API_SECRET);
            let answer = http.post(url).json(&body).send().await.unwrap();
            answer.json().await.unwrap()
        };
        let session = post(self.api_url(), json!({"janus": "create"})).await["data"]["id"]
            .as_u64()
            .unwrap();
        let url = format!("{}/{session}", self.api_url());
        let attach = json!({"janus": "attach", "plugin": "janus.plugin.videoroom"});
        let handle = post(url.clone(), attach).await["data"]["id"]
            .as_u64()
            .unwrap();
        request["admin_key"] = json!(ROOM_ADMIN_KEY);
        let message = json!({"janus": "message", "body": request});
        let answer = post(format!("{url}/{handle}"), message).await;
        let _ = post(url, json!({"janus": "destroy"})).await;
        answer["plugindata"]["data"].clone()
    }

    /// Whether videoroom `room` exists.
    pub async fn room_exists(&self, room: u64) -> bool {
        let answer = self
            .videoroom(json!({"request": "exists", "room": room}))
            .await;
        answer["exists"]
            .as_bool()
            .unwrap_or_else(|| panic!("exists: {answer}"))
    }

    /// Videoroom `room` as the `list` request describes it.
    pub async fn room(&self, room: u64) -> Value {
        let list = self.videoroom(json!({"request": "list"})).await;
        list["list"]
            .as_array()
            .and_then(|rooms| rooms.iter().find(|r| r["room"] == room).cloned())
            .unwrap_or_else(|| panic!("no room {room} in {list}"))
    }

    /// A folder of this instance's own, removed with it.
    pub fn folder(&self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }
}

impl Drop for Janus {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A participant as a browser would be: Janus's WebSocket API with its token on every request.
pub struct JanusClient {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    token: String,
    session: Option<u64>,
}

impl JanusClient {
    pub async fn connect(url: &str, token: &str) -> JanusClient {
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "janus-protocol".parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("Janus's WebSocket transport accepts the connection");
        JanusClient {
            ws,
            token: token.to_owned(),
            session: None,
        }
    }

    /// Sends a Janus request (with our token and session) and returns the first answer to it that is
    /// not an `ack`.
    async fn request(&mut self, mut body: Value) -> Value {
        let transaction = format!("t{}", rand_u32());
        body["transaction"] = json!(transaction);
        body["token"] = json!(self.token);
        if let Some(session) = self.session {
            body["session_id"] = json!(session);
        }
        self.ws
            .send(Message::Text(body.to_string().into()))
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("Janus answers in time")
                .expect("Janus keeps the socket open")
                .unwrap();
            let Message::Text(text) = message else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["transaction"] == transaction.as_str() && answer["janus"] != "ack" {
                return answer;
            }
        }
    }

    /// Creates a Janus session; the answer (`success` or `error`).
    pub async fn create_session(&mut self) -> Value {
        let answer = self.request(json!({"janus": "create"})).await;
        self.session = answer["data"]["id"].as_u64();
        answer
    }

    /// Attaches the videoroom plugin and joins `room` as a publisher named `display`; the plugin's data
    /// (`videoroom: "joined"` or an error).
    pub async fn join_as_publisher(&mut self, room: u64, display: &str) -> Value {
        let attached = self
            .request(json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}))
            .await;
        let handle = attached["data"]["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("attach: {attached}"));
        let token = self.token.clone();
        let join = json!({
            "janus": "message",
            "handle_id": handle,
            "body": {"request": "join", "ptype": "publisher", "room": room, "display": display, "token": token},
        });
        let answer = self.request(join).await;
        answer["plugindata"]["data"].clone()
    }
}

fn rand_u32() -> u32 {
    rand::random()
}
