//! One Janus instance as this server uses it: its HTTP API (a session with a videoroom handle, kept alive
//! by the health checks) for `create`/`destroy`/`allowed`, and its admin API for `add_token` /
//! `remove_token` (Janus's `token_auth`). The server authenticates with `apisecret` / `admin_secret`;
//! clients only ever hold their own token.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::hub::random_id;

const VIDEOROOM: &str = "janus.plugin.videoroom";
/// Videoroom error codes this client tells apart.
const ROOM_EXISTS: i64 = 427;
const NO_SUCH_ROOM: i64 = 426;
/// Janus API error: the session is unknown (the instance restarted and forgot it).
const NO_SUCH_SESSION: i64 = 458;

/// Why a Janus request failed.
#[derive(Debug, thiserror::Error)]
pub enum JanusError {
    #[error("Janus unreachable: {0}")]
    Unreachable(#[from] reqwest::Error),
    /// Janus answered but forgot our session: it restarted, and its rooms are gone.
    #[error("Janus lost the session (restarted)")]
    SessionLost,
    #[error("Janus refused: {0}")]
    Refused(String),
}

/// What a videoroom is created with.
pub struct RoomSpec<'a> {
    pub id: u64,
    pub secret: &'a str,
    pub publishers: usize,
    pub first_token: &'a str,
}

pub struct Janus {
    pub api_url: String,
    pub admin_url: String,
    pub public_url: String,
    http: reqwest::Client,
    api_secret: String,
    admin_secret: String,
    room_admin_key: Option<String>,
    /// Where videorooms record their media (`None`: not recorded).
    record_dir: Option<String>,
    /// Our Janus session and videoroom handle while connected.
    attached: Mutex<Option<(u64, u64)>>,
}

impl Janus {
    pub fn new(
        urls: (&str, &str, &str),
        http: reqwest::Client,
        api_secret: &str,
        admin_secret: &str,
        room_admin_key: Option<&str>,
        record_dir: Option<&str>,
    ) -> Janus {
        Janus {
            api_url: urls.0.trim_end_matches('/').to_owned(),
            admin_url: urls.1.trim_end_matches('/').to_owned(),
            public_url: urls.2.to_owned(),
            http,
            api_secret: api_secret.to_owned(),
            admin_secret: admin_secret.to_owned(),
            room_admin_key: room_admin_key.map(str::to_owned),
            record_dir: record_dir.map(str::to_owned),
            attached: Mutex::new(None),
        }
    }

    fn attached(&self) -> Option<(u64, u64)> {
        *self
            .attached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set_attached(&self, attached: Option<(u64, u64)>) {
        *self
            .attached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = attached;
    }

    /// POSTs `body` and reads Janus's JSON answer.
    async fn post(&self, url: &str, body: &Value, timeout: Duration) -> Result<Value, JanusError> {
        let answer = self
            .http
            .post(url)
            .timeout(timeout)
            .json(body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(answer)
    }

    /// One request to the Janus API at `url` with our `apisecret`; the answer if Janus says `success` or
    /// `ack`.
    async fn api(
        &self,
        url: &str,
        mut body: Value,
        timeout: Duration,
    ) -> Result<Value, JanusError> {
        body["transaction"] = json!(random_id().as_ref());
        body["apisecret"] = json!(self.api_secret);
        let answer = self.post(url, &body, timeout).await?;
        match answer["janus"].as_str() {
            Some("success" | "ack") => Ok(answer),
            _ if answer["error"]["code"].as_i64() == Some(NO_SUCH_SESSION) => {
                Err(JanusError::SessionLost)
            }
            _ => Err(JanusError::Refused(answer["error"].to_string())),
        }
    }

    /// Creates our Janus session and attaches the videoroom plugin.
    pub async fn connect(&self, timeout: Duration) -> Result<(), JanusError> {
        let created = self
            .api(&self.api_url, json!({"janus": "create"}), timeout)
            .await?;
        let session = created["data"]["id"]
            .as_u64()
            .ok_or_else(|| JanusError::Refused("create: no session id".into()))?;
        let url = format!("{}/{session}", self.api_url);
        let attached = self
            .api(
                &url,
                json!({"janus": "attach", "plugin": VIDEOROOM}),
                timeout,
            )
            .await?;
        let handle = attached["data"]["id"]
            .as_u64()
            .ok_or_else(|| JanusError::Refused("attach: no handle id".into()))?;
        self.set_attached(Some((session, handle)));
        Ok(())
    }

    /// The health check: a keepalive on our session (connecting first if there is none).
    pub async fn check(&self, timeout: Duration) -> Result<(), JanusError> {
        let Some((session, _)) = self.attached() else {
            return self.connect(timeout).await;
        };
        let url = format!("{}/{session}", self.api_url);
        let result = self
            .api(&url, json!({"janus": "keepalive"}), timeout)
            .await
            .map(drop);
        if matches!(result, Err(JanusError::SessionLost)) {
            self.set_attached(None);
        }
        result
    }

    /// Forgets our session (after the instance was counted lost), so the next check connects afresh.
    pub fn disconnect(&self) {
        self.set_attached(None);
    }

    /// A videoroom request on our handle; the plugin's `data`, or its error.
    async fn videoroom(&self, mut request: Value) -> Result<Value, (i64, JanusError)> {
        let Some((session, handle)) = self.attached() else {
            return Err((0, JanusError::Refused("not connected".into())));
        };
        if let Some(key) = &self.room_admin_key {
            request["admin_key"] = json!(key);
        }
        let url = format!("{}/{session}/{handle}", self.api_url);
        let answer = self
            .api(
                &url,
                json!({"janus": "message", "body": request}),
                Duration::from_secs(5),
            )
            .await
            .map_err(|e| (0, e))?;
        let data = &answer["plugindata"]["data"];
        match data["error_code"].as_i64() {
            Some(code) => Err((code, JanusError::Refused(data["error"].to_string()))),
            None => Ok(data.clone()),
        }
    }

    /// Creates the call's videoroom letting `first_token` in, or (created meanwhile for someone else)
    /// adds `first_token` to its `allowed` list.
    pub async fn open_room(&self, room: &RoomSpec<'_>) -> Result<(), JanusError> {
        let mut create = json!({
            "request": "create",
            "room": room.id,
            "secret": room.secret,
            "is_private": true,
            "permanent": false,
            "publishers": room.publishers,
            "require_e2ee": true,
            "videocodec": "vp8",
            "audiocodec": "opus",
            "notify_joining": true,
            "allowed": [room.first_token],
        });
        if let Some(dir) = &self.record_dir {
            create["record"] = json!(true);
            create["rec_dir"] = json!(dir);
        }
        match self.videoroom(create).await {
            Ok(_) => Ok(()),
            Err((ROOM_EXISTS, _)) => self.allow(room.id, room.secret, room.first_token).await,
            Err((_, e)) => Err(e),
        }
    }

    /// Lets `token` into videoroom `id`.
    pub async fn allow(&self, id: u64, secret: &str, token: &str) -> Result<(), JanusError> {
        self.allowed(id, secret, "add", token).await
    }

    /// Takes `token` off videoroom `id`'s list (a room that is gone is not an error).
    pub async fn disallow(&self, id: u64, secret: &str, token: &str) -> Result<(), JanusError> {
        self.allowed(id, secret, "remove", token).await
    }

    async fn allowed(
        &self,
        id: u64,
        secret: &str,
        action: &str,
        token: &str,
    ) -> Result<(), JanusError> {
        let request = json!({
            "request": "allowed",
            "room": id,
            "secret": secret,
            "action": action,
            "allowed": [token],
        });
        match self.videoroom(request).await {
            Ok(_) => Ok(()),
            Err((NO_SUCH_ROOM, _)) if action == "remove" => Ok(()),
            Err((_, e)) => Err(e),
        }
    }

    /// Ends videoroom `id` (everyone in it is kicked; a room that is gone is not an error).
    pub async fn destroy_room(&self, id: u64, secret: &str) -> Result<(), JanusError> {
        let request = json!({"request": "destroy", "room": id, "secret": secret});
        match self.videoroom(request).await {
            Ok(_) | Err((NO_SUCH_ROOM, _)) => Ok(()),
            Err((_, e)) => Err(e),
        }
    }

    /// An admin API request with our `admin_secret`.
    async fn admin(&self, mut body: Value) -> Result<Value, JanusError> {
        body["transaction"] = json!(random_id().as_ref());
        body["admin_secret"] = json!(self.admin_secret);
        let answer = self
            .post(&self.admin_url, &body, Duration::from_secs(5))
            .await?;
        match answer["janus"].as_str() {
            Some("success") => Ok(answer),
            _ => Err(JanusError::Refused(answer["error"].to_string())),
        }
    }

    /// Makes `token` valid for Janus requests, for the videoroom plugin only.
    pub async fn add_token(&self, token: &str) -> Result<(), JanusError> {
        self.admin(json!({"janus": "add_token", "token": token, "plugins": [VIDEOROOM]}))
            .await
            .map(drop)
    }

    /// Makes `token` invalid: every later request carrying it (including keepalives) is refused.
    pub async fn remove_token(&self, token: &str) -> Result<(), JanusError> {
        self.admin(json!({"janus": "remove_token", "token": token}))
            .await
            .map(drop)
    }
}
