//! Debian's Janus 1.1 for the server's tests ([`Janus`], started by `janus_process` with the shipped
//! configuration) and what the tests ask it: its videorooms over the HTTP API, and a participant's own
//! requests over the WebSocket transport ([`JanusClient`]).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub use super::janus_process::JanusProcess as Janus;
use super::janus_process::{API_SECRET, ROOM_ADMIN_KEY};

impl Janus {
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
