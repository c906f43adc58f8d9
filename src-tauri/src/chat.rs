//! Chat over the native links by the core's rules (`p2pchat_core::chat::ChatSession`, the same rules as
//! the web UI's and held to the same vectors), so the window makes one call per message it sends
//! (`chat_send`) instead of driving acks and resends itself: a message goes to every open link of its
//! room and is kept per recipient until that recipient acks it, sent again when its link (re)opens; an
//! incoming message is acked (every copy), stored in the history once (notifying as `save_message`
//! does) and told to the window once as `chat://message`; acks and read receipts come as
//! `chat://status`. Typing and read receipts the window sends stay `fallback_send`. A peer's flood is
//! held to the same limit as in the web UI (`ChatRateLimit`) before anything is stored: beyond its burst,
//! messages wait their turn, and beyond the waiting line they are dropped unacked (the sender resends).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use p2pchat_core::chat::wire::now_ms;
use p2pchat_core::chat::{Admission, ChannelMessage, ChatRateLimit, ChatSession, Received};
use p2pchat_core::links::{LinkEvent, LinkManager};
use tauri::{AppHandle, Manager, Runtime};

use crate::dispatch::{self, MessageAlerts, Ui};
use crate::history::{History, MessageStatus, NewMessage};
use crate::ipc::{AppEvent, ChatDelivery, ChatIncoming, ChatStatus, CommandError, ErrorKind, emit};

/// The sender id the history keeps for our own messages (as the window stores them).
const ME: &str = "me";

/// The chat of every room over the native links.
pub struct NativeChat {
    links: LinkManager,
    history: Option<History>,
    ui: Arc<dyn Ui>,
    sessions: Mutex<HashMap<String, ChatSession>>,
    /// Each room's limit on what its peers send (a peer id may be in several rooms).
    limits: Mutex<HashMap<String, ChatRateLimit>>,
}

impl NativeChat {
    pub fn new(links: LinkManager, history: Option<History>, ui: Arc<dyn Ui>) -> NativeChat {
        NativeChat {
            links,
            history,
            ui,
            sessions: Mutex::default(),
            limits: Mutex::default(),
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, ChatSession>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn limits(&self) -> MutexGuard<'_, HashMap<String, ChatRateLimit>> {
        self.limits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `text` from `peer` is handled now: a new chat message within the peer's limit, or
    /// anything else. Beyond the limit it waits ([`NativeChat::release_due`]) or is dropped unacked.
    fn admit(&self, room: &str, peer: &str, text: &str) -> bool {
        let Some(ChannelMessage::Msg { id, .. }) = ChannelMessage::parse(text) else {
            return true;
        };
        let new = self
            .sessions()
            .get(room)
            .is_none_or(|s| s.is_new(peer, &id));
        if !new {
            return true; // a copy: acked again, not counted
        }
        let admission =
            self.limits()
                .entry(room.to_owned())
                .or_default()
                .admit(peer, text, now_ms());
        if admission == Admission::Dropped {
            tracing::debug!(room, peer, "chat flood: message dropped unacked");
        }
        admission == Admission::Now
    }

    /// Whether messages wait for their turn (the link loop then calls `release_due` every
    /// `RELEASE_EVERY_MS`).
    pub fn any_waiting(&self) -> bool {
        self.limits().values().any(ChatRateLimit::any_waiting)
    }

    /// Handles the waiting messages whose turn has come, each peer's in order.
    pub async fn release_due<R: Runtime>(&self, app: &AppHandle<R>) {
        let now = now_ms();
        let due: Vec<(String, String, String)> = self
            .limits()
            .iter_mut()
            .flat_map(|(room, limit)| {
                limit
                    .due(now)
                    .into_iter()
                    .map(|(peer, text)| (room.clone(), peer, text))
            })
            .collect();
        for (room, peer, text) in due {
            self.receive(app, &room, &peer, &text).await;
        }
    }

    /// Sends `message` (a `msg` the window wrote) to everyone linked in `room` now, keeping it for each
    /// until they ack it (nobody linked: for the next peer that links); stores it as pending. Returns
    /// the peers it went out to.
    pub async fn send<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        room: &str,
        message: ChannelMessage,
    ) -> Result<Vec<String>, CommandError> {
        let ChannelMessage::Msg {
            id,
            body,
            sent_at,
            name,
        } = &message
        else {
            return Err(CommandError::new(ErrorKind::Invalid, "not a chat message"));
        };
        let peers = self.links.open_peers(room);
        if let Some(history) = &self.history {
            let stored = NewMessage {
                id: id.clone(),
                room: room.to_owned(),
                sender: ME.into(),
                sender_name: name.clone(),
                outgoing: true,
                body: body.clone(),
                sent_at: *sent_at,
            };
            let alerts = app.state::<MessageAlerts>();
            dispatch::save_message(history, self.ui.as_ref(), &alerts, stored).await?;
        }
        let text = message.to_text();
        let id = id.clone();
        self.sessions()
            .entry(room.to_owned())
            .or_default()
            .queue(message, &peers);
        let mut sent = Vec::new();
        for peer in peers {
            if self.links.send(room, &peer, &text).await.unwrap_or(false) {
                self.status(app, room, &id, &peer, ChatDelivery::Sent);
                sent.push(peer);
            }
        }
        if !sent.is_empty() {
            self.store_status(&id, MessageStatus::Sent).await;
        }
        Ok(sent)
    }

    /// What a link event means for the chat: a text is interpreted (and acked), an open link gets
    /// what it has not acked, a re-keyed peer keeps its acks and pending messages.
    pub async fn on_link_event<R: Runtime>(&self, app: &AppHandle<R>, event: &LinkEvent) {
        match event {
            LinkEvent::Message { room, peer, text } => {
                if self.admit(room, peer, text) {
                    self.receive(app, room, peer, text).await;
                }
            }
            LinkEvent::Open { room, peer, .. } => {
                let unacked = self
                    .sessions()
                    .entry(room.clone())
                    .or_default()
                    .unacked_for(peer);
                for text in unacked {
                    let sent = self.links.send(room, peer, &text).await.unwrap_or(false);
                    if let (true, Some(ChannelMessage::Msg { id, .. })) =
                        (sent, ChannelMessage::parse(&text))
                    {
                        self.status(app, room, &id, peer, ChatDelivery::Sent);
                    }
                }
            }
            LinkEvent::Rekeyed { room, from, to } => {
                if let Some(session) = self.sessions().get_mut(room) {
                    session.peer_renamed(from, to);
                }
                if let Some(limit) = self.limits().get_mut(room) {
                    limit.peer_renamed(from, to);
                }
            }
            LinkEvent::Closed { .. } | LinkEvent::Failed { .. } => {}
        }
    }

    /// `peer` left `room` for good: it no longer holds up delivery.
    pub fn peer_left(&self, room: &str, peer: &str) {
        if let Some(session) = self.sessions().get_mut(room) {
            session.peer_left(peer);
        }
        if let Some(limit) = self.limits().get_mut(room) {
            limit.peer_gone(peer);
        }
    }

    async fn receive<R: Runtime>(&self, app: &AppHandle<R>, room: &str, peer: &str, text: &str) {
        let received = self
            .sessions()
            .entry(room.to_owned())
            .or_default()
            .receive(peer, text);
        match received {
            Received::New { message, ack } => {
                self.ack(room, peer, &ack).await;
                let ChannelMessage::Msg {
                    id, body, sent_at, ..
                } = &message
                else {
                    return;
                };
                // The name the signaling server knows for the peer, not the one the text claims.
                let name = match &self.history {
                    Some(history) => history.peer_name(peer).await.ok().flatten(),
                    None => None,
                };
                let name = name.unwrap_or_else(|| match &message {
                    ChannelMessage::Msg { name, .. } => name.clone(),
                    _ => String::new(),
                });
                if let Some(history) = &self.history {
                    let stored = NewMessage {
                        id: id.clone(),
                        room: room.to_owned(),
                        sender: peer.to_owned(),
                        sender_name: name.clone(),
                        outgoing: false,
                        body: body.clone(),
                        sent_at: *sent_at,
                    };
                    let alerts = app.state::<MessageAlerts>();
                    let saved = dispatch::save_message(history, self.ui.as_ref(), &alerts, stored);
                    if let Err(err) = saved.await {
                        tracing::warn!(%err, "cannot store a chat message");
                    }
                }
                let message = ChannelMessage::Msg {
                    id: id.clone(),
                    body: body.clone(),
                    sent_at: *sent_at,
                    name,
                };
                let incoming = ChatIncoming {
                    room: room.to_owned(),
                    peer: peer.to_owned(),
                    message,
                };
                emit(app, AppEvent::ChatMessage(&incoming));
            }
            Received::Duplicate { ack } => self.ack(room, peer, &ack).await,
            Received::Acked { id, first } => {
                if first {
                    // Stored before the window hears it: what it reads back is never behind.
                    self.delivered(room, &id).await;
                    self.status(app, room, &id, peer, ChatDelivery::Delivered);
                }
            }
            Received::Read { ids, .. } => {
                for id in ids {
                    self.delivered(room, &id).await;
                    self.status(app, room, &id, peer, ChatDelivery::Read);
                }
            }
            Received::PeerId { .. } | Received::Typing { .. } | Received::Other => {}
        }
    }

    async fn ack(&self, room: &str, peer: &str, ack: &str) {
        if let Err(err) = self.links.send(room, peer, ack).await {
            tracing::debug!(%err, "ack not sent");
        }
    }

    /// Stores `delivered` once everyone message `id` was for has it.
    async fn delivered(&self, room: &str, id: &str) {
        let all = self.sessions().get(room).is_some_and(|s| s.delivered(id));
        if all {
            self.store_status(id, MessageStatus::Delivered).await;
        }
    }

    async fn store_status(&self, id: &str, status: MessageStatus) {
        if let Some(history) = &self.history
            && let Err(err) = history.set_message_status(id, status, None).await
        {
            tracing::warn!(%err, "cannot store a message's status");
        }
    }

    fn status<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        room: &str,
        id: &str,
        peer: &str,
        status: ChatDelivery,
    ) {
        let status = ChatStatus {
            room: room.to_owned(),
            id: id.to_owned(),
            peer: peer.to_owned(),
            status,
        };
        emit(app, AppEvent::ChatStatus(&status));
    }
}
