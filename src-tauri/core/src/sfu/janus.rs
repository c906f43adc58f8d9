//! A Janus session over its WebSocket API (subprotocol `janus-protocol`), as the web UI's
//! ui/src/lib/call/sfu-janus.ts speaks it: every request carries the token the signaling server gave
//! us (Janus `token_auth`), a transaction id, and our session id once there is one; a request is
//! answered by `success`/`error`, or for a plugin message by the plugin's event after Janus's `ack`.
//! Events of a plugin handle go to that handle's channel; a keepalive every [`KEEPALIVE`] keeps the
//! session, and a closed connection or Janus's `timeout` reports the session lost once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Janus drops a session after 60 s without a request.
const KEEPALIVE: Duration = Duration::from_secs(25);
/// A request Janus has not answered by then failed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
pub(super) const PLUGIN: &str = "janus.plugin.videoroom";

struct Waiting {
    answer: oneshot::Sender<Value>,
    /// Janus's `ack` is the answer (keepalive, trickle); otherwise the event after it is.
    ack_only: bool,
}

#[derive(Default)]
struct Routes {
    pending: HashMap<String, Waiting>,
    handles: HashMap<u64, mpsc::UnboundedSender<Value>>,
}

/// One Janus session; dropping it closes the connection.
pub struct JanusSession {
    id: AtomicU64,
    token: String,
    out: mpsc::UnboundedSender<Message>,
    routes: Arc<Mutex<Routes>>,
    next: AtomicU64,
    tasks: Vec<AbortHandle>,
}

fn lock(routes: &Mutex<Routes>) -> MutexGuard<'_, Routes> {
    routes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl JanusSession {
    /// Connects to `url`, creates a session and keeps it alive; `lost` hears once why the session is
    /// gone (not after [`JanusSession::close`] or a drop).
    pub async fn open(
        url: &str,
        token: &str,
        lost: mpsc::UnboundedSender<String>,
    ) -> Result<Arc<JanusSession>, String> {
        let mut request = url
            .into_client_request()
            .map_err(|e| format!("bad media server address: {e}"))?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", http_header("janus-protocol"));
        let (socket, _) =
            tokio::time::timeout(ANSWER_TIMEOUT, tokio_tungstenite::connect_async(request))
                .await
                .map_err(|_| "the media server did not answer".to_owned())?
                .map_err(|e| format!("the media server could not be reached ({e})"))?;
        let (mut sink, mut stream) = socket.split();
        let (out, mut outgoing) = mpsc::unbounded_channel::<Message>();
        let routes: Arc<Mutex<Routes>> = Arc::default();
        let writer = tokio::spawn(async move {
            while let Some(message) = outgoing.recv().await {
                if sink.send(message).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let reader_routes = routes.clone();
        let reader = tokio::spawn(async move {
            let reason = loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let Ok(message) = serde_json::from_str::<Value>(&text) else {
                            continue;
                        };
                        if message["janus"] == "timeout" {
                            break "the media server ended the session".to_owned();
                        }
                        route(&reader_routes, message);
                    }
                    Some(Ok(_)) => {}
                    _ => break "the connection to the media server closed".to_owned(),
                }
            };
            // Whoever waits for an answer hears the connection is gone (their sender drops).
            let mut routes = lock(&reader_routes);
            routes.pending.clear();
            routes.handles.clear();
            drop(routes);
            let _ = lost.send(reason);
        });
        let session = JanusSession {
            id: AtomicU64::new(0),
            token: token.to_owned(),
            out,
            routes,
            next: AtomicU64::new(0),
            tasks: vec![writer.abort_handle(), reader.abort_handle()],
        };
        let created = session.request(json!({"janus": "create"})).await?;
        let id = created["data"]["id"]
            .as_u64()
            .ok_or("the media server gave no session")?;
        session.id.store(id, Ordering::Release);
        let session = Arc::new(session);
        let alive = Arc::downgrade(&session);
        let keepalive = tokio::spawn(async move {
            let mut every = tokio::time::interval(KEEPALIVE);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(session) = alive.upgrade() else {
                    return;
                };
                let _ = session.send(json!({"janus": "keepalive"}), true).await;
            }
        });
        // It holds the session weakly: it ends once the room drops the session.
        drop(keepalive);
        Ok(session)
    }

    /// A request answered by `success` / `error` (create, attach).
    async fn request(&self, body: Value) -> Result<Value, String> {
        self.send(body, false).await
    }

    /// Sends `body` with our transaction, token and session; waits for its answer.
    pub async fn send(&self, mut body: Value, ack_only: bool) -> Result<Value, String> {
        let transaction = format!("t{}", self.next.fetch_add(1, Ordering::Relaxed) + 1);
        body["transaction"] = json!(transaction);
        body["token"] = json!(self.token);
        let id = self.id.load(Ordering::Acquire);
        if id != 0 {
            body["session_id"] = json!(id);
        }
        let (answer, answered) = oneshot::channel();
        lock(&self.routes)
            .pending
            .insert(transaction.clone(), Waiting { answer, ack_only });
        if self.out.send(Message::text(body.to_string())).is_err() {
            lock(&self.routes).pending.remove(&transaction);
            return Err("the media server connection is closed".into());
        }
        let answer = match tokio::time::timeout(ANSWER_TIMEOUT, answered).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => return Err("the media server connection is closed".into()),
            Err(_) => {
                lock(&self.routes).pending.remove(&transaction);
                return Err("the media server did not answer".into());
            }
        };
        let error = answer["error"]["reason"]
            .as_str()
            .or_else(|| answer["plugindata"]["data"]["error"].as_str());
        match error {
            Some(reason) => Err(reason.to_owned()),
            None => Ok(answer),
        }
    }

    /// Attaches a videoroom handle; its events (those no request waits for) arrive on the channel.
    pub async fn attach(&self) -> Result<(u64, mpsc::UnboundedReceiver<Value>), String> {
        let attached = self
            .request(json!({"janus": "attach", "plugin": PLUGIN}))
            .await?;
        let handle = attached["data"]["id"]
            .as_u64()
            .ok_or("the media server gave no handle")?;
        let (events, received) = mpsc::unbounded_channel();
        lock(&self.routes).handles.insert(handle, events);
        Ok((handle, received))
    }

    /// A videoroom request on `handle`, with our description if any (`e2ee`: our frames are end-to-end
    /// encrypted; a videoroom with `require_e2ee` takes nothing else).
    pub async fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<(&str, &str)>,
    ) -> Result<Value, String> {
        let mut request = json!({"janus": "message", "handle_id": handle, "body": body});
        if let Some((kind, sdp)) = jsep {
            request["jsep"] = json!({"type": kind, "sdp": sdp, "e2ee": true});
        }
        self.send(request, false).await
    }

    /// Trickles one ICE candidate of ours (`None`: gathering is complete).
    pub fn trickle(self: &Arc<Self>, handle: u64, candidate: Option<Value>) {
        let session = self.clone();
        tokio::spawn(async move {
            let candidate = candidate.unwrap_or_else(|| json!({"completed": true}));
            let request = json!({"janus": "trickle", "handle_id": handle, "candidate": candidate});
            let _ = session.send(request, true).await;
        });
    }
}

impl Drop for JanusSession {
    fn drop(&mut self) {
        let id = self.id.load(Ordering::Acquire);
        let bye = json!({"janus": "destroy", "session_id": id, "transaction": "bye", "token": self.token});
        let _ = self.out.send(Message::text(bye.to_string()));
        let _ = self.out.send(Message::Close(None));
        // The writer sends both and ends; the reader is done.
        if let Some(reader) = self.tasks.get(1) {
            reader.abort();
        }
    }
}

fn http_header(value: &'static str) -> tokio_tungstenite::tungstenite::http::HeaderValue {
    tokio_tungstenite::tungstenite::http::HeaderValue::from_static(value)
}

/// Hands a message from Janus to the request waiting for it, or to its handle's events.
fn route(routes: &Mutex<Routes>, message: Value) {
    let mut routes = lock(routes);
    if let Some(transaction) = message["transaction"].as_str()
        && let Some(waiting) = routes.pending.get(transaction)
        && (message["janus"] != "ack" || waiting.ack_only)
    {
        if let Some(waiting) = routes.pending.remove(transaction) {
            let _ = waiting.answer.send(message);
        }
        return;
    }
    if message["janus"] == "ack" {
        return;
    }
    if let Some(sender) = message["sender"].as_u64()
        && let Some(handle) = routes.handles.get(&sender)
    {
        let _ = handle.send(message);
    }
}
