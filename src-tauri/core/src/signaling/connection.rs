//! The connection task behind [`super::Client`]: connect → hello → frames in / commands out, until the
//! socket drops or goes silent, then back off and reconnect with `resume`. Rooms are reconciled after
//! every welcome: a fresh session rejoins them all, a resumed one only catches up on changes made
//! while disconnected.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chat_protocol::{ClientFrame, ErrorCode, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use super::session::SessionTracker;
use super::{ClientConfig, ClientEvent, Command, ConnectionState, backoff};
use crate::constants::OFFLINE_AFTER;

/// Give up on a connection attempt (TCP + TLS + upgrade) after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The server must welcome us within this long after `hello`.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);
/// After a wake, a link that answers nothing (not even the ping) for this long is dead.
const WAKE_PROBE: Duration = Duration::from_secs(3);

/// How a connection ended.
enum Ended {
    /// The owner dropped the client.
    Shutdown,
    /// The socket failed, closed or went silent; `welcomed` says whether the session had started.
    Dropped { welcomed: bool },
    /// The server refused the token (`unauthorized` on `hello`, or the token expired during the session).
    /// Trying again with the same token would be refused again, so the task waits for a new
    /// configuration (the app connects again with another token) instead of reconnecting in a loop.
    Refused,
}

/// State kept across connections.
struct ConnectionTask {
    config: ClientConfig,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<ClientEvent>,
    state: watch::Sender<ConnectionState>,
    tracker: SessionTracker,
    /// Rooms the app wants to be in.
    wanted: BTreeSet<String>,
    /// Rooms joined on the server in the current session.
    joined: BTreeSet<String>,
}

pub(super) async fn run(
    config: ClientConfig,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<ClientEvent>,
    state: watch::Sender<ConnectionState>,
    refused: Arc<AtomicBool>,
) {
    let wanted = config.rooms.clone();
    let mut task = ConnectionTask {
        config,
        commands,
        events,
        state,
        tracker: SessionTracker::default(),
        wanted,
        joined: BTreeSet::new(),
    };
    task.set_state(ConnectionState::Connecting).await;
    let mut failures = 0u32;
    loop {
        match task.connection().await {
            Ended::Shutdown => return,
            Ended::Refused => {
                refused.store(true, Ordering::Relaxed);
                if task.set_state(ConnectionState::Offline).await {
                    task.idle().await;
                }
                return;
            }
            Ended::Dropped { welcomed } => {
                failures = if welcomed {
                    1
                } else {
                    failures.saturating_add(1)
                };
            }
        }
        let next = if failures > OFFLINE_AFTER {
            ConnectionState::Offline
        } else {
            ConnectionState::Reconnecting
        };
        if !task.set_state(next).await || !task.pause(backoff::jittered(failures - 1)).await {
            return;
        }
    }
}

impl ConnectionTask {
    /// Publishes a state change; false when the owner is gone.
    async fn set_state(&mut self, next: ConnectionState) -> bool {
        let changed = *self.state.borrow() != next;
        self.state.send_replace(next);
        !changed || self.events.send(ClientEvent::State(next)).await.is_ok()
    }

    /// Waits between attempts while still taking room changes; false on shutdown.
    async fn pause(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                command = self.commands.recv() => match command {
                    None => return false,
                    Some(Command::Join(room)) => { self.wanted.insert(room); }
                    Some(Command::Leave(room)) => { self.wanted.remove(&room); }
                    Some(Command::Signal { .. } | Command::Push(_)) => {} // refused by the handle while not connected
                    Some(Command::Wake) => return true, // try now, not after the backoff
                    Some(Command::Quit(done)) => {
                        let _ = done.send(());
                        return false;
                    }
                },
            }
        }
    }

    /// After a refusal: keeps taking room changes (so the app's commands do not fail) until shutdown.
    async fn idle(&mut self) {
        while let Some(command) = self.commands.recv().await {
            match command {
                Command::Join(room) => {
                    self.wanted.insert(room);
                }
                Command::Leave(room) => {
                    self.wanted.remove(&room);
                }
                Command::Signal { .. } | Command::Push(_) | Command::Wake => {}
                Command::Quit(done) => {
                    let _ = done.send(());
                    return;
                }
            }
        }
    }

    /// One connection, from connect to drop.
    async fn connection(&mut self) -> Ended {
        let dropped = Ended::Dropped { welcomed: false };
        let connect = tokio_tungstenite::connect_async(self.config.url.as_str());
        let socket = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok((socket, _response))) => socket,
            Ok(Err(err)) => {
                tracing::info!(url = %self.config.url, %err, "signaling connect failed");
                return dropped;
            }
            Err(_) => {
                tracing::info!(url = %self.config.url, "signaling connect timed out");
                return dropped;
            }
        };
        let (mut sink, mut stream) = socket.split();
        let hello = self
            .tracker
            .hello(&self.config.name, self.config.token.as_deref());
        if send(&mut sink, &hello).await.is_err() {
            return dropped;
        }
        let mut welcomed = false;
        // Set by an `unauthorized` refusal of the session (not of one room): the server closes next.
        let mut refused = false;
        // Until the welcome says otherwise, wait this long for any frame; a wake shortens one wait.
        let mut heartbeat_limit = WELCOME_TIMEOUT;
        let mut silence_limit = heartbeat_limit;
        loop {
            tokio::select! {
                incoming = tokio::time::timeout(silence_limit, stream.next()) => {
                    let text = match incoming {
                        Ok(Some(Ok(Message::Text(text)))) => text,
                        Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => {
                            return if refused { Ended::Refused } else { Ended::Dropped { welcomed } };
                        }
                        Ok(Some(Ok(_))) => {
                            // ping/pong (answered by tungstenite), binary: the link is alive
                            silence_limit = heartbeat_limit;
                            continue;
                        }
                        Err(_) => {
                            tracing::info!("signaling connection silent; reconnecting");
                            return if refused { Ended::Refused } else { Ended::Dropped { welcomed } };
                        }
                    };
                    silence_limit = heartbeat_limit;
                    let frame = match ServerFrame::parse(&text) {
                        Ok(frame) => frame,
                        Err(err) => {
                            tracing::warn!(error = %err.message, "ignoring unparseable server frame");
                            continue;
                        }
                    };
                    if !self.tracker.accept(&frame) {
                        continue;
                    }
                    if is_refusal(&frame) {
                        tracing::info!("signaling server refused the token; not reconnecting with it");
                        refused = true;
                    }
                    if let ServerFrame::Welcome { resumed, heartbeat_ms, .. } = &frame {
                        welcomed = true;
                        // The server pings every heartbeat; three missed ones mean the link is dead.
                        heartbeat_limit = Duration::from_millis(heartbeat_ms.saturating_mul(3).max(300));
                        silence_limit = heartbeat_limit;
                        if !resumed {
                            self.joined.clear();
                        }
                        if !self.set_state(ConnectionState::Connected).await {
                            return Ended::Shutdown;
                        }
                        if self.events.send(ClientEvent::Frame(frame)).await.is_err() {
                            return Ended::Shutdown;
                        }
                        if self.reconcile_rooms(&mut sink).await.is_err() {
                            return Ended::Dropped { welcomed };
                        }
                        continue;
                    }
                    if self.events.send(ClientEvent::Frame(frame)).await.is_err() {
                        return Ended::Shutdown;
                    }
                }
                command = self.commands.recv() => {
                    let Some(command) = command else {
                        let _ = sink.send(Message::Close(None)).await;
                        return Ended::Shutdown;
                    };
                    let result = match command {
                        // Joining a room we are in asks again: the server repeats `joined`, which is how a
                        // UI that opens the room later learns who is there.
                        Command::Join(room) if welcomed && self.joined.contains(&room) => {
                            send(&mut sink, &ClientFrame::Join { room }).await
                        }
                        Command::Join(room) => {
                            self.wanted.insert(room);
                            if welcomed { self.reconcile_rooms(&mut sink).await } else { Ok(()) }
                        }
                        Command::Leave(room) => {
                            self.wanted.remove(&room);
                            if welcomed { self.reconcile_rooms(&mut sink).await } else { Ok(()) }
                        }
                        Command::Signal { room, to, data } if welcomed => {
                            send(&mut sink, &ClientFrame::Signal { room, to, data }).await
                        }
                        Command::Signal { .. } => Ok(()),
                        Command::Push(frame) if welcomed => send(&mut sink, &frame).await,
                        Command::Push(_) => Ok(()),
                        // The server answers a ping with a pong: silence until the probe ends means dead.
                        Command::Wake => {
                            silence_limit = silence_limit.min(WAKE_PROBE);
                            sink.send(Message::Ping(Default::default())).await.map_err(|_| SendError)
                        }
                        Command::Quit(done) => {
                            if welcomed {
                                for room in std::mem::take(&mut self.joined) {
                                    if send(&mut sink, &ClientFrame::Leave { room }).await.is_err() {
                                        break;
                                    }
                                }
                            }
                            let _ = sink.send(Message::Close(None)).await;
                            let _ = done.send(());
                            return Ended::Shutdown;
                        }
                    };
                    if result.is_err() {
                        return if refused { Ended::Refused } else { Ended::Dropped { welcomed } };
                    }
                }
            }
        }
    }

    /// Sends the joins and leaves that make the server's room set match what the app wants.
    async fn reconcile_rooms<S>(&mut self, sink: &mut S) -> Result<(), SendError>
    where
        S: SinkExt<Message> + Unpin,
    {
        let to_join: Vec<String> = self.wanted.difference(&self.joined).cloned().collect();
        let to_leave: Vec<String> = self.joined.difference(&self.wanted).cloned().collect();
        for room in to_join {
            send(sink, &ClientFrame::Join { room: room.clone() }).await?;
            self.joined.insert(room);
        }
        for room in to_leave {
            send(sink, &ClientFrame::Leave { room: room.clone() }).await?;
            self.joined.remove(&room);
        }
        Ok(())
    }
}

/// An `unauthorized` error that ends the session: a refused `hello` (missing, invalid or expired token)
/// or the token's expiry during the session (no `ref`). A room the token does not allow (`ref: "join"`)
/// leaves the connection open and is not one.
fn is_refusal(frame: &ServerFrame) -> bool {
    matches!(frame, ServerFrame::Error { code: ErrorCode::Unauthorized, r#ref, .. } if r#ref.as_deref() != Some("join"))
}

/// The socket could not take a frame; the connection is treated as dropped.
struct SendError;

async fn send<S>(sink: &mut S, frame: &ClientFrame) -> Result<(), SendError>
where
    S: SinkExt<Message> + Unpin,
{
    let text = serde_json::to_string(frame).map_err(|_| SendError)?;
    sink.send(Message::text(text)).await.map_err(|_| SendError)
}
