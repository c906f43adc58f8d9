//! Chat data channels run by Rust (webrtc-rs) where the webview has no `RTCPeerConnection` (Debian
//! 12's WebKitGTK). [`LinkManager`] keeps one link per remote peer and room, negotiated through
//! the protocol's `signal` frames exactly like the web UI's PeerLink, so browsers interoperate
//! without knowing. It only carries text: chat semantics (ids, acks, outbox, history) stay with its
//! owner (see `crate::chat`), except `peer-id` announcements, which re-key links here. The app wraps
//! it in a [`gate::FallbackGate`]; the `p2pchat-peer` example drives it directly.

pub mod gate;
mod link;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chat_protocol::{IceServer, ServerFrame, SignalData};
use serde::Serialize;
use tokio::sync::mpsc;
use ts_rs::TS;

use self::link::{Input, Link};
use crate::chat::ChannelMessage;
use crate::constants::REKEY_WAIT;
/// Bytes a channel may have handed to SCTP but not yet acknowledged before `send` waits.
pub const DEFAULT_SEND_BUFFER: usize = 1024 * 1024;

/// What the manager tells its owner, in order per link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LinkEvent {
    /// The chat channel to `peer` is open: flush what it has not acked.
    Open {
        room: String,
        peer: String,
    },
    /// A text message from `peer` (chat wire JSON; `peer-id` ones too, after which `Rekeyed` follows).
    Message {
        room: String,
        peer: String,
        text: String,
    },
    Closed {
        room: String,
        peer: String,
    },
    /// The person behind link `from` now has peer id `to`.
    Rekeyed {
        room: String,
        from: String,
        to: String,
    },
    /// ICE could not recover; the link is gone.
    Failed {
        room: String,
        peer: String,
        reason: String,
    },
}

impl LinkEvent {
    /// Every `kind`, in declaration order.
    pub const KINDS: [&'static str; 5] = ["open", "message", "closed", "rekeyed", "failed"];

    /// Short name, as in its `kind`: open, message, closed, rekeyed, failed.
    pub fn name(&self) -> &'static str {
        match self {
            LinkEvent::Open { .. } => "open",
            LinkEvent::Message { .. } => "message",
            LinkEvent::Closed { .. } => "closed",
            LinkEvent::Rekeyed { .. } => "rekeyed",
            LinkEvent::Failed { .. } => "failed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Only TURN relay candidates (`iceTransportPolicy: "relay"`).
    pub relay_only: bool,
    /// Per-channel bound on unacknowledged bytes (see [`DEFAULT_SEND_BUFFER`]).
    pub send_buffer: usize,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            relay_only: false,
            send_buffer: DEFAULT_SEND_BUFFER,
        }
    }
}

/// Why a send on an open channel failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("data channel: {0}")]
    Channel(#[from] webrtc::error::Error),
}

/// Sends `data` to peer `to` in `room` through the signaling server.
pub type SignalOut = dyn Fn(&str, &str, SignalData) + Send + Sync;

/// The fallback's links, cheap to clone (one shared state).
#[derive(Clone)]
pub struct LinkManager {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    signal_out: Box<SignalOut>,
    events: mpsc::Sender<LinkEvent>,
    options: LinkOptions,
    state: Mutex<State>,
    next_id: AtomicU64,
}

#[derive(Default)]
struct State {
    me: Option<String>,
    ice_servers: Vec<IceServer>,
    rooms: HashMap<String, Room>,
}

#[derive(Default)]
struct Room {
    /// Peers the server lists in the room.
    present: HashSet<String>,
    /// Links by the remote peer's current id.
    links: HashMap<String, Link>,
}

impl LinkManager {
    /// `signal_out` relays negotiation; events arrive on `events` (a bounded queue: a slow reader
    /// slows the peers down rather than growing memory).
    pub fn new(
        signal_out: impl Fn(&str, &str, SignalData) + Send + Sync + 'static,
        events: mpsc::Sender<LinkEvent>,
        options: LinkOptions,
    ) -> LinkManager {
        LinkManager {
            inner: Arc::new(Inner {
                signal_out: Box::new(signal_out),
                events,
                options,
                state: Mutex::new(State::default()),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// Routes the server frames the fallback cares about; the rest are ignored.
    pub async fn on_frame(&self, frame: &ServerFrame) {
        match frame {
            ServerFrame::Welcome {
                peer,
                resumed,
                ice_servers,
                ..
            } => self.on_welcome(peer, ice_servers.clone(), *resumed).await,
            ServerFrame::Joined { room, peers, .. } => {
                let peers: Vec<String> = peers.iter().map(|p| p.peer.clone()).collect();
                self.on_joined(room, &peers);
            }
            ServerFrame::PeerJoined { room, peer, .. } => {
                let mut state = self.inner.state();
                state
                    .rooms
                    .entry(room.clone())
                    .or_default()
                    .present
                    .insert(peer.clone());
            }
            ServerFrame::PeerLeft { room, peer, .. } => self.on_peer_left(room, peer).await,
            ServerFrame::Signal {
                room, from, data, ..
            } => {
                // Data is free-form between peers; only the WebRTC kinds matter here.
                if let Ok(signal) = serde_json::from_str::<SignalData>(data.get()) {
                    self.on_signal(room, from, signal);
                }
            }
            _ => {}
        }
    }

    /// Our session's id and ICE servers. A fresh session with a new id (server restart) is announced
    /// on every open channel so peers re-key their links to us.
    pub async fn on_welcome(&self, me: &str, ice_servers: Vec<IceServer>, resumed: bool) {
        let channels = {
            let mut state = self.inner.state();
            let previous = state.me.replace(me.to_owned());
            state.ice_servers = ice_servers;
            let announce = !resumed && previous.is_some_and(|p| p != me);
            if !announce {
                return;
            }
            state
                .rooms
                .values()
                .flat_map(|r| r.links.values())
                .filter_map(Link::open_channel)
                .collect::<Vec<_>>()
        };
        let text = ChannelMessage::PeerId {
            peer: me.to_owned(),
        }
        .to_text();
        for channel in channels {
            if let Err(err) = channel.send_text(&text).await {
                tracing::debug!(%err, "cannot announce the new peer id");
            }
        }
    }

    /// We (re)joined `room`, where `peers` are: as the newcomer, link to each one not linked yet.
    pub fn on_joined(&self, room: &str, peers: &[String]) {
        let mut state = self.inner.state();
        let entry = state.rooms.entry(room.to_owned()).or_default();
        entry.present = peers.iter().cloned().collect();
        let orphans = entry.links.keys().any(|k| !entry.present.contains(k));
        for peer in peers {
            if orphans {
                let manager = self.clone();
                let (room, peer) = (room.to_owned(), peer.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(REKEY_WAIT).await;
                    let mut state = manager.inner.state();
                    if state
                        .rooms
                        .get(&room)
                        .is_some_and(|r| r.present.contains(&peer))
                    {
                        manager.inner.link(&mut state, &room, &peer, true);
                    }
                });
            } else {
                self.inner.link(&mut state, room, peer, true);
            }
        }
    }

    /// `peer` left `room`: its link closes.
    pub async fn on_peer_left(&self, room: &str, peer: &str) {
        let removed = {
            let mut state = self.inner.state();
            let Some(entry) = state.rooms.get_mut(room) else {
                return;
            };
            entry.present.remove(peer);
            entry.links.remove(peer)
        };
        if let Some(link) = removed {
            self.inner.closed(room, peer, link).await;
        }
    }

    /// A signal from `from`: offers, answers, candidates and restart requests drive its link (an
    /// offer from a peer we have no link to creates one); call signals are not ours.
    pub fn on_signal(&self, room: &str, from: &str, data: SignalData) {
        match data {
            SignalData::Offer { .. }
            | SignalData::Answer { .. }
            | SignalData::Candidate { .. }
            | SignalData::Restart => {
                let mut state = self.inner.state();
                if let Some(link) = self.inner.link(&mut state, room, from, false) {
                    link.input(Input::Signal(data));
                }
            }
            SignalData::DcFallback => tracing::debug!(room, from, "peer uses the native fallback"),
            _ => {}
        }
    }

    /// Sends `text` to `peer` in `room`, waiting while the channel's send buffer is full. `false`
    /// when there is no open channel (the owner's outbox sends it again on `Open`).
    pub async fn send(&self, room: &str, peer: &str, text: &str) -> Result<bool, LinkError> {
        let channel = {
            let state = self.inner.state();
            state
                .rooms
                .get(room)
                .and_then(|r| r.links.get(peer))
                .and_then(Link::open_channel)
        };
        let Some(channel) = channel else {
            return Ok(false);
        };
        match channel.send_text(text).await {
            Ok(()) => Ok(true),
            Err(webrtc::error::Error::ErrDataChannelClosed) => Ok(false),
            Err(err) => Err(LinkError::Channel(err)),
        }
    }

    /// Restarts ICE on the link to `peer` now (as a peer's `restart` signal does); false if none.
    pub fn restart_ice(&self, room: &str, peer: &str) -> bool {
        let state = self.inner.state();
        let link = state.rooms.get(room).and_then(|r| r.links.get(peer));
        link.inspect(|l| l.input(Input::Restart)).is_some()
    }

    /// Peers in `room` with an open channel.
    pub fn open_peers(&self, room: &str) -> Vec<String> {
        let state = self.inner.state();
        state.rooms.get(room).map_or_else(Vec::new, |r| {
            r.links
                .iter()
                .filter(|(_, l)| l.open_channel().is_some())
                .map(|(p, _)| p.clone())
                .collect()
        })
    }

    /// We left `room`: close its links.
    pub async fn leave_room(&self, room: &str) {
        let removed = self.inner.state().rooms.remove(room);
        for (peer, link) in removed.map(|r| r.links).unwrap_or_default() {
            self.inner.closed(room, &peer, link).await;
        }
    }

    /// Closes every link (the user disconnected).
    pub async fn close_all(&self) {
        let rooms: Vec<String> = self.inner.state().rooms.keys().cloned().collect();
        for room in rooms {
            self.leave_room(&room).await;
        }
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic mid-update of plain maps; keep going.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The link to `peer` in `room`, started if missing (needs our welcome first).
    fn link<'s>(
        self: &Arc<Self>,
        state: &'s mut State,
        room: &str,
        peer: &str,
        initiate: bool,
    ) -> Option<&'s Link> {
        state.me.as_ref()?;
        let ice_servers = state.ice_servers.clone();
        let entry = state.rooms.entry(room.to_owned()).or_default();
        let link = entry.links.entry(peer.to_owned()).or_insert_with(|| {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            Link::spawn(self.clone(), room.to_owned(), id, ice_servers, initiate)
        });
        Some(link)
    }

    /// The current peer id of link `id` in `room` (None once it was removed).
    fn key_of(&self, room: &str, id: u64) -> Option<String> {
        let state = self.state();
        let links = &state.rooms.get(room)?.links;
        links
            .iter()
            .find(|(_, l)| l.id == id)
            .map(|(k, _)| k.clone())
    }

    /// Polite side of the pair: the smaller peer id (string order), as in the web UI.
    fn polite(&self, room: &str, id: u64) -> bool {
        let me = self.state().me.clone().unwrap_or_default();
        self.key_of(room, id).is_some_and(|peer| me < peer)
    }

    fn signal(&self, room: &str, id: u64, data: SignalData) {
        if let Some(peer) = self.key_of(room, id) {
            (self.signal_out)(room, &peer, data);
        }
    }

    async fn emit(&self, event: LinkEvent) {
        let _ = self.events.send(event).await;
    }

    /// Link `id` now belongs to peer id `to`; a link already under `to` is replaced.
    async fn rekey(&self, room: &str, id: u64, to: &str) {
        let (from, displaced) = {
            let mut state = self.state();
            let Some(entry) = state.rooms.get_mut(room) else {
                return;
            };
            let Some(from) = entry
                .links
                .iter()
                .find(|(_, l)| l.id == id)
                .map(|(k, _)| k.clone())
            else {
                return;
            };
            let Some(link) = entry.links.remove(&from) else {
                return;
            };
            (from, entry.links.insert(to.to_owned(), link))
        };
        drop(displaced);
        let event = LinkEvent::Rekeyed {
            room: room.to_owned(),
            from,
            to: to.to_owned(),
        };
        self.emit(event).await;
    }

    /// Removes link `id` if it is still the one under `peer`.
    async fn remove_link(&self, room: &str, peer: &str, id: u64) {
        let removed = {
            let mut state = self.state();
            let Some(entry) = state.rooms.get_mut(room) else {
                return;
            };
            if entry.links.get(peer).is_none_or(|l| l.id != id) {
                return;
            }
            entry.links.remove(peer)
        };
        if let Some(link) = removed {
            self.closed(room, peer, link).await;
        }
    }

    /// A removed link closes (dropping it); `Closed` is reported if its channel was open.
    async fn closed(&self, room: &str, peer: &str, link: Link) {
        let was_open = link.shared.open.swap(false, Ordering::AcqRel);
        drop(link);
        if was_open {
            let event = LinkEvent::Closed {
                room: room.to_owned(),
                peer: peer.to_owned(),
            };
            self.emit(event).await;
        }
    }
}
