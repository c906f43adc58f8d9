//! One WebSocket connection, from `hello` to close: authenticates, binds a new or resumed session, reads
//! client frames (size cap, rate limit, error budget), writes the session's frames in order, keeps the
//! connection alive with pings spread over the heartbeat interval, closes when the token expires, and
//! closes with the documented codes. All peer-to-peer effects go through the [`Hub`].

use std::net::IpAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use std::collections::HashSet;

use chat_protocol::{ClientFrame, ErrorCode, PROTOCOL_VERSION, PushInfo, ServerFrame};
use futures_util::SinkExt;
use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant as TokioInstant, sleep_until, timeout};

use crate::admission::PendingSlot;
use crate::auth::Grant;
use crate::error::RequestError;
use crate::hub::{Hub, ResumeOutcome};
use crate::limits::{ErrorBudget, RateLimiter};
use crate::push;
use crate::session::{Outbound, Pending, Session};
use crate::sfu;
use crate::state::ServerState;

/// Close codes this server uses (RFC 6455).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;
const CLOSE_TRY_LATER: u16 = 1013;

/// Longest a single write may wait for a client that does not read before it counts as a slow reader.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection ended, for the close frame and the log.
enum Exit {
    Close(u16, &'static str),
    /// The client fell too far behind reading its frames.
    SlowReader,
    /// The socket is gone; nothing more to send.
    Gone,
}

/// Runs one connection from client address `ip` to completion. `permit` holds its slot under the
/// connection limit, `pending` its slot under the pending limits until it is bound to a session.
pub async fn run(
    mut socket: WebSocket,
    state: Arc<ServerState>,
    _permit: OwnedSemaphorePermit,
    ip: IpAddr,
    pending: Option<Arc<PendingSlot>>,
) {
    state.metrics.connections.inc();
    let shutdown = state.shutdown.clone();
    let hello = tokio::select! {
        hello = timeout(state.config.hello_timeout(), read_hello(&mut socket, &state)) => hello,
        () = shutdown.cancelled() => Ok(Err(Exit::Close(CLOSE_GOING_AWAY, "server shutting down"))),
    };
    let exit = match hello {
        Err(_) => Exit::Close(
            CLOSE_POLICY,
            "hello must be the first frame, within the hello timeout",
        ),
        Ok(Err(exit)) => exit,
        Ok(Ok(hello)) => match start_session(&mut socket, &state, hello, ip).await {
            Err(exit) => exit,
            Ok((session, generation, expires_at)) => {
                // A session now: limited by the session limits, no longer by the pending ones.
                if let Some(pending) = &pending {
                    pending.release();
                }
                let mut conn = Connection {
                    socket,
                    state: state.clone(),
                    session: session.clone(),
                    generation,
                    limiter: RateLimiter::new(state.config.rate_per_sec, state.config.rate_burst),
                    errors: ErrorBudget::new(10, Duration::from_secs(10)),
                    last_heard: Instant::now(),
                    batch: Vec::new(),
                    expires_at,
                    push_devices: HashSet::new(),
                    push_in_flight: Arc::new(Semaphore::new(push::MAX_IN_FLIGHT)),
                    sfu_in_flight: Arc::new(Semaphore::new(sfu::MAX_IN_FLIGHT)),
                    sfu_order: Arc::new(tokio::sync::Mutex::new(())),
                };
                let exit = conn.serve().await;
                if matches!(exit, Exit::Close(..)) {
                    // Deliver what was queued before closing, such as the error that caused the close.
                    let _ = timeout(Duration::from_secs(1), conn.flush()).await;
                }
                socket = conn.socket;
                state
                    .hub
                    .park(session, generation, state.config.resume_grace());
                exit
            }
        },
    };
    let exit = match exit {
        Exit::SlowReader => {
            state.metrics.slow_reader_drops.inc();
            Exit::Close(CLOSE_POLICY, "slow reader: too many unread frames")
        }
        other => other,
    };
    if let Exit::Close(code, reason) = exit {
        let close = Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }));
        // Best effort: the peer may already be gone or not reading.
        let _ = timeout(Duration::from_secs(1), socket.send(close)).await;
    }
    state.metrics.connections.dec();
}

/// The parts of a valid `hello` the server keeps.
struct Hello {
    name: Box<str>,
    grant: Grant,
    resume: Option<chat_protocol::Resume>,
}

/// Waits for the first frame, which must be a valid `hello` with an acceptable token.
async fn read_hello(socket: &mut WebSocket, state: &ServerState) -> Result<Hello, Exit> {
    loop {
        let text = match socket.recv().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Err(err)) => return Err(read_failed(err, state)),
            Some(Ok(Message::Close(_))) | None => return Err(Exit::Gone),
            Some(Ok(Message::Binary(_))) => {
                return Err(refuse(socket, state, &RequestError::BinaryFrame, None).await);
            }
        };
        let (v, name, token, resume) = match ClientFrame::parse(&text) {
            Ok(ClientFrame::Hello {
                v,
                name,
                token,
                resume,
            }) => (v, name, token, resume),
            Ok(other) => {
                let error =
                    RequestError::BadRequest(format!("expected hello, got {}", other.type_name()));
                return Err(refuse(socket, state, &error, Some(other.type_name())).await);
            }
            Err(err) => {
                let error = RequestError::BadRequest(err.message);
                return Err(refuse(socket, state, &error, err.frame_type.as_deref()).await);
            }
        };
        if v != PROTOCOL_VERSION {
            let error = RequestError::BadRequest(format!(
                "unsupported protocol version {v}; this server speaks {PROTOCOL_VERSION}"
            ));
            return Err(refuse(socket, state, &error, Some("hello")).await);
        }
        let name = name.trim();
        if name.chars().count() > chat_protocol::MAX_NAME_CHARS {
            let error = RequestError::BadRequest(format!(
                "name must be at most {} characters",
                chat_protocol::MAX_NAME_CHARS
            ));
            return Err(refuse(socket, state, &error, Some("hello")).await);
        }
        let grant = match &state.auth {
            None => Grant::open(),
            Some(auth) => match auth.verify(token.as_deref()) {
                Ok(grant) => grant,
                Err(message) => {
                    return Err(refuse(
                        socket,
                        state,
                        &RequestError::Unauthorized(message),
                        Some("hello"),
                    )
                    .await);
                }
            },
        };
        return Ok(Hello {
            name: name.into(),
            grant,
            resume,
        });
    }
}

/// Sends an error before any session exists (`seq` 0) and says how to close.
async fn refuse(
    socket: &mut WebSocket,
    state: &ServerState,
    error: &RequestError,
    r#ref: Option<&str>,
) -> Exit {
    state.hub.count_error(error.code());
    let frame = ServerFrame::Error {
        seq: 0,
        code: error.code(),
        message: error.to_string(),
        r#ref: r#ref.map(str::to_owned),
    };
    let text = serde_json::to_string(&frame).unwrap_or_default();
    let _ = timeout(
        Duration::from_secs(1),
        socket.send(Message::Text(text.into())),
    )
    .await;
    match error.code() {
        ErrorCode::Unauthorized => Exit::Close(CLOSE_POLICY, "unauthorized"),
        ErrorCode::TooManySessions => Exit::Close(CLOSE_POLICY, "too many sessions"),
        ErrorCode::Overloaded => Exit::Close(CLOSE_TRY_LATER, "server overloaded"),
        _ => Exit::Close(CLOSE_POLICY, "hello must be the first frame"),
    }
}

/// A read failed: a frame above the size limit (tungstenite refuses it as soon as its header announces the
/// size, before buffering it) closes with 1009; anything else means the socket is gone.
fn read_failed(err: axum::Error, state: &ServerState) -> Exit {
    let too_big = err
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
    if too_big {
        state.metrics.oversized_frames.inc();
        Exit::Close(CLOSE_TOO_BIG, "frame above the size limit")
    } else {
        Exit::Gone
    }
}

/// Binds the connection to a resumed or new session and queues `welcome`; returns the session, the
/// connection's generation and when its token expires. Refuses the `hello` when a session limit is reached.
async fn start_session(
    socket: &mut WebSocket,
    state: &ServerState,
    hello: Hello,
    ip: IpAddr,
) -> Result<(Arc<Session>, u64, Option<TokioInstant>), Exit> {
    if state.waiting_for_redis() {
        let error = RequestError::Overloaded("waiting for Redis");
        return Err(refuse(socket, state, &error, Some("hello")).await);
    }
    let expires_at = hello.grant.expires_at.map(instant_of_unix);
    let resumed = match &hello.resume {
        Some(resume) => state.hub.resume(resume, &hello.grant, ip).await,
        None => ResumeOutcome::Fresh,
    };
    if let ResumeOutcome::Resumed(session, attached) = resumed {
        // The resumed welcome is outside the numbered stream: it carries the seq the replay continues
        // after, so buffered frames follow it in order (docs/protocol.md, Session 4).
        let welcome = welcome(
            state,
            &session,
            attached.welcome_seq,
            true,
            &attached.resume_token,
        );
        let _ = socket.send(Message::Text(welcome.into())).await;
        return Ok((session, attached.generation, expires_at));
    }
    let session = match state.hub.create_session(hello.name, hello.grant, ip) {
        Ok(session) => session,
        Err(error) => return Err(refuse(socket, state, &error, Some("hello")).await),
    };
    let attached = state.hub.attach_new(&session);
    state.hub.push_text(&session, |seq| {
        welcome(state, &session, seq, false, &attached.resume_token)
    });
    state.metrics.frame_out("welcome");
    Ok((session, attached.generation, expires_at))
}

fn welcome(
    state: &ServerState,
    session: &Session,
    seq: u64,
    resumed: bool,
    resume_token: &str,
) -> String {
    let frame = ServerFrame::Welcome {
        seq,
        peer: session.peer.to_string(),
        session: session.id.to_string(),
        resumed,
        resume_token: resume_token.to_owned(),
        heartbeat_ms: state.config.heartbeat_ms,
        ice_servers: state.ice_servers.for_peer(&session.peer),
        push: state.push.get().map(|push| PushInfo {
            vapid_key: push.vapid_key().to_owned(),
        }),
        sfu: state.sfu.as_ref().map(|sfu| sfu.info()),
    };
    serde_json::to_string(&frame).unwrap_or_default()
}

/// The tokio instant of a Unix time in seconds (now, if it has passed).
fn instant_of_unix(unix_secs: u64) -> TokioInstant {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let left = Duration::from_secs(unix_secs).saturating_sub(now);
    TokioInstant::now() + left
}

/// A connection bound to its session.
struct Connection {
    socket: WebSocket,
    state: Arc<ServerState>,
    session: Arc<Session>,
    generation: u64,
    limiter: RateLimiter,
    errors: ErrorBudget,
    /// Last time anything (frame, ping, pong) arrived from the client.
    last_heard: Instant,
    /// Reused buffer of frames to write.
    batch: Vec<Outbound>,
    /// When the token this connection presented expires (`None`: open server).
    expires_at: Option<TokioInstant>,
    /// Devices this connection registered for push (at most [`push::MAX_DEVICES_PER_CONNECTION`]).
    push_devices: HashSet<String>,
    /// Push requests of this connection under way (they wait for the store or a push service).
    push_in_flight: Arc<Semaphore>,
    /// SFU requests of this connection under way (they wait for Janus).
    sfu_in_flight: Arc<Semaphore>,
    /// Carries out this connection's SFU requests one at a time, in order.
    sfu_order: Arc<tokio::sync::Mutex<()>>,
}

impl Connection {
    async fn serve(&mut self) -> Exit {
        let heartbeat = self.state.config.heartbeat();
        // A random phase spreads the pings of many connections over the interval instead of a burst.
        let phase = rand::rng().random_range(Duration::ZERO..heartbeat);
        let mut next_ping = TokioInstant::now() + phase;
        let shutdown = self.state.shutdown.clone();
        let expires_at = self.expires_at;
        let expiry = async move {
            match expires_at {
                Some(at) => sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let mut expiry = pin!(expiry);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Exit::Close(CLOSE_GOING_AWAY, "server shutting down"),
                () = &mut expiry => {
                    // The session survives in its grace period: the client resumes it with a fresh token.
                    self.state.metrics.token_expiries.inc();
                    self.state.hub.send_error(&self.session, &RequestError::TokenExpired, None);
                    return Exit::Close(CLOSE_POLICY, "token expired");
                }
                () = self.session.woken() => {
                    if let Err(exit) = self.flush().await {
                        return exit;
                    }
                }
                message = self.socket.recv() => {
                    self.last_heard = Instant::now();
                    match message {
                        Some(Ok(Message::Text(text))) => {
                            if let Err(exit) = self.on_text(&text) {
                                return exit;
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            if let Err(exit) = self.refuse(&RequestError::BinaryFrame, None) {
                                return exit;
                            }
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Err(err)) => return read_failed(err, &self.state),
                        Some(Ok(Message::Close(_))) | None => return Exit::Gone,
                    }
                }
                () = sleep_until(next_ping) => {
                    if self.last_heard.elapsed() > heartbeat * 3 {
                        return Exit::Close(CLOSE_POLICY, "idle timeout: nothing received for 3 heartbeats");
                    }
                    next_ping += heartbeat;
                    if self.socket.send(Message::Ping(Default::default())).await.is_err() {
                        return Exit::Gone;
                    }
                }
            }
        }
    }

    /// Writes every frame the session queued for this connection, until none is left. While a write
    /// waits on a client that does not read, frames keep queueing; past the buffer size (or after
    /// `WRITE_TIMEOUT`) the client is a slow reader and gets dropped.
    async fn flush(&mut self) -> Result<(), Exit> {
        loop {
            self.batch.clear();
            match self.session.take_pending(self.generation, &mut self.batch) {
                Pending::Replaced => {
                    return Err(Exit::Close(
                        CLOSE_NORMAL,
                        "session resumed by a newer connection",
                    ));
                }
                Pending::Overflowed => return Err(Exit::SlowReader),
                Pending::Frames if self.batch.is_empty() => break,
                Pending::Frames => {}
            }
            let (socket, batch) = (&mut self.socket, &self.batch);
            let write = async move {
                for frame in batch {
                    socket.feed(Message::Text(frame.text.clone())).await?;
                }
                socket.flush().await
            };
            let mut write = pin!(write);
            let mut deadline = pin!(tokio::time::sleep(WRITE_TIMEOUT));
            loop {
                tokio::select! {
                    written = &mut write => match written {
                        Ok(()) => break,
                        Err(_) => return Err(Exit::Gone),
                    },
                    () = self.session.woken() => {
                        if self.session.is_overflowed() {
                            return Err(Exit::SlowReader);
                        }
                    }
                    () = &mut deadline => return Err(Exit::SlowReader),
                }
            }
            for frame in &self.batch {
                if let Some(received) = frame.relayed_at {
                    self.state
                        .metrics
                        .relay_latency
                        .observe(received.elapsed().as_secs_f64());
                }
            }
        }
        // Large bursts grow the batch; do not keep that memory on an idle connection.
        if self.batch.capacity() > 64 {
            self.batch = Vec::new();
        }
        Ok(())
    }

    /// Handles one text frame from the client.
    fn on_text(&mut self, text: &str) -> Result<(), Exit> {
        let now = Instant::now();
        if !self.limiter.allow(now) {
            return self.refuse(&RequestError::RateLimited, None);
        }
        let frame = match ClientFrame::parse(text) {
            Ok(frame) => frame,
            Err(err) => {
                let r#ref = err.frame_type.clone();
                return self.refuse(&RequestError::BadRequest(err.message), r#ref.as_deref());
            }
        };
        let frame_type = frame.type_name();
        self.state.metrics.frame_in(frame_type);
        let state = self.state.clone();
        let hub: &Hub = &state.hub;
        let result = match frame {
            ClientFrame::Hello { .. } => Err(RequestError::DuplicateHello),
            ClientFrame::Join { room } => hub.join(&self.session, &room),
            ClientFrame::Leave { room } => hub.leave(&self.session, &room),
            ClientFrame::Signal { room, to, data } => {
                hub.relay(&self.session, &room, &to, &data, now)
            }
            ClientFrame::Ping => {
                hub.send(&self.session, |seq| ServerFrame::Pong { seq });
                Ok(())
            }
            ClientFrame::SfuJoin { room, call } => self.on_sfu(room, call, true),
            ClientFrame::SfuLeave { room, call } => self.on_sfu(room, call, false),
            push_frame => self.on_push(push_frame),
        };
        match result {
            Ok(()) => Ok(()),
            Err(error) => self.refuse(&error, Some(frame_type)),
        }
    }

    /// `sfu-join` (`join`) or `sfu-leave` of a member of `room`: checked here, then carried out in a task
    /// (it waits for Janus and perhaps Redis), one at a time per connection in the order they came.
    fn on_sfu(&mut self, room: String, call: String, join: bool) -> Result<(), RequestError> {
        let Some(sfu) = self.state.sfu.clone() else {
            return Err(RequestError::SfuUnavailable);
        };
        if !chat_protocol::is_valid_room_name(&room) {
            return Err(RequestError::InvalidRoomName);
        }
        push::check_call(&call, &[])?;
        if !self.session.in_room(&room) {
            return Err(RequestError::NotInRoom(room));
        }
        let Ok(permit) = self.sfu_in_flight.clone().try_acquire_owned() else {
            return Err(RequestError::RateLimited);
        };
        let (order, hub, session) = (
            self.sfu_order.clone(),
            self.state.hub.clone(),
            self.session.clone(),
        );
        tokio::spawn(async move {
            let _permit = permit;
            let _turn = order.lock().await;
            if !join {
                sfu.leave(&session.id, &room, Some(&call)).await;
            } else if let Err(error) = sfu.join(&session, room, call).await {
                hub.send_error(&session, &error, Some("sfu-join"));
            }
        });
        Ok(())
    }

    /// A frame of the push section: checked here (so malformed ones count as protocol errors), then
    /// handled in a task, since it waits for the store or a push service; its answer or error follows.
    fn on_push(&mut self, frame: ClientFrame) -> Result<(), RequestError> {
        let Some(push) = self.state.push.get().cloned() else {
            return Err(RequestError::PushRefused(
                "push is off on this server".into(),
            ));
        };
        let room = match &frame {
            ClientFrame::PushRegister { room, .. }
            | ClientFrame::OfflineMembers { room }
            | ClientFrame::Ring { room, .. }
            | ClientFrame::RingCancel { room, .. } => Some(room),
            ClientFrame::PushUnregister { room, .. } => room.as_ref(),
            _ => None,
        };
        if let Some(room) = room {
            if !chat_protocol::is_valid_room_name(room) {
                return Err(RequestError::InvalidRoomName);
            }
            if !matches!(frame, ClientFrame::PushUnregister { .. }) && !self.session.in_room(room) {
                return Err(RequestError::NotInRoom(room.clone()));
            }
        }
        match &frame {
            ClientFrame::PushRegister {
                device,
                secret,
                subscription,
                ..
            } => {
                push::check_device(device, Some(secret))?;
                push::send::check_format(subscription).map_err(RequestError::BadRequest)?;
                if !self.push_devices.contains(device)
                    && self.push_devices.len() >= push::MAX_DEVICES_PER_CONNECTION
                {
                    return Err(RequestError::PushRefused(format!(
                        "a connection may register at most {} devices",
                        push::MAX_DEVICES_PER_CONNECTION
                    )));
                }
                self.push_devices.insert(device.clone());
            }
            ClientFrame::PushUnregister { device, secret, .. } => {
                push::check_device(device, Some(secret))?;
            }
            ClientFrame::Ring {
                device,
                call,
                media,
                ..
            } => {
                push::check_device(device, None)?;
                push::check_call(call, media)?;
            }
            ClientFrame::RingCancel { device, call, .. } => {
                push::check_device(device, None)?;
                push::check_call(call, &[])?;
            }
            _ => {}
        }
        let Ok(permit) = self.push_in_flight.clone().try_acquire_owned() else {
            return Err(RequestError::PushRefused(
                "too many push requests under way; wait for their answers".into(),
            ));
        };
        let frame_type = frame.type_name();
        let hub = self.state.hub.clone();
        let session = self.session.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let result = match frame {
                ClientFrame::PushRegister {
                    room,
                    device,
                    secret,
                    subscription,
                } => {
                    push.register(&hub, &session, room, device, &secret, subscription)
                        .await
                }
                ClientFrame::PushUnregister {
                    device,
                    secret,
                    room,
                } => push.unregister(&hub, &session, device, &secret, room).await,
                ClientFrame::OfflineMembers { room } => {
                    push.offline_members(&hub, &session, room).await
                }
                ClientFrame::Ring {
                    room,
                    device,
                    call,
                    media,
                } => push.ring(&hub, &session, room, device, call, media).await,
                ClientFrame::RingCancel { room, device, call } => {
                    push.cancel(&session, &room, &device, &call).await
                }
                _ => Ok(()),
            };
            if let Err(error) = result {
                hub.send_error(&session, &error, Some(frame_type));
            }
        });
        Ok(())
    }

    /// Queues an error for the client; closes the connection once the protocol error budget is spent.
    fn refuse(&mut self, error: &RequestError, r#ref: Option<&str>) -> Result<(), Exit> {
        self.state.hub.send_error(&self.session, error, r#ref);
        if error.is_protocol_error() && self.errors.record(Instant::now()) {
            return Err(Exit::Close(CLOSE_POLICY, "too many protocol errors"));
        }
        Ok(())
    }
}
