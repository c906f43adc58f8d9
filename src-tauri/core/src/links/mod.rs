//! Chat data channels run by Rust (webrtc-rs) where the webview has no `RTCPeerConnection` (Debian
//! 12's WebKitGTK). [`LinkManager`] keeps one link per remote peer and room, negotiated through
//! the protocol's `signal` frames exactly like the web UI's PeerLink, so browsers interoperate
//! without knowing. It only carries text: chat semantics (ids, acks, outbox, history) stay with its
//! owner (see `crate::chat`), except `peer-id` announcements, which re-key links here. The app wraps
//! it in a [`gate::FallbackGate`]; the `p2pchat-peer` example drives it directly.

mod files;
pub mod gate;
mod keyframes;
mod link;
mod media;

pub use media::MediaStats;
pub mod safety;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chat_protocol::{IceServer, ServerFrame, SignalData};
use serde::Serialize;
use tokio::sync::mpsc;
use ts_rs::TS;

pub use self::files::{
    DEFAULT_MAX_FILE_BYTES, FILE_CHANNEL_LABEL, FileControl, FileError, FileEvent, FileOptions,
};
use self::link::{Input, Link};
use crate::chat::ChannelMessage;
use crate::constants::{REKEY_CLAIM_TTL, REKEY_WAIT};
use crate::identity::DeviceIdentity;
use crate::media::{Capture, PlaybackOptions};
/// Bytes a channel may have handed to SCTP but not yet acknowledged before `send` waits. Kept small
/// because webrtc-rs's SCTP sends its window in one burst, unpaced: 1 MiB overflowed Chromium's 128 KiB
/// UDP receive buffer, and when Chromium then held the data after a lost packet, webrtc-rs recovered by
/// retransmission timeouts only, doubling each time (a 100 MB file took minutes instead of seconds).
/// 256 KiB still allows ≈ 100 Mbit/s per channel at 20 ms round-trip time (docs/fallback.md).
pub const DEFAULT_SEND_BUFFER: usize = 256 * 1024;

/// What the manager tells its owner, in order per link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LinkEvent {
    /// The chat channel to `peer` is open: flush what it has not acked. `safety` is the link's
    /// safety code (see [`safety`]), for the person to compare with the peer's; `fingerprints` the two
    /// certificates it is made of (ours, and the one the peer's DTLS handshake proved), so a contact
    /// verified once can be recognised on later links (the device identity keeps ours the same).
    Open {
        room: String,
        peer: String,
        safety: Option<String>,
        fingerprints: Option<safety::LinkFingerprints>,
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
    /// Where the peers' call media goes (pictures, speaker).
    pub playback: PlaybackOptions,
    /// The certificate every link presents (this device's identity, so safety codes stay the same
    /// across links and restarts); `None`: each connection makes its own, as webrtc-rs does.
    pub identity: Option<Arc<DeviceIdentity>>,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            relay_only: false,
            send_buffer: DEFAULT_SEND_BUFFER,
            playback: PlaybackOptions::default(),
            identity: None,
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
    /// File transfers over `file` channels (see [`files`]); off until the owner enables them.
    files: files::Files,
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
    /// `peer-id` announcements not accepted yet, by link id (one per link: bounded by the links).
    claims: HashMap<u64, Claim>,
}

/// A link's announcement that the person behind it now has peer id `to`.
struct Claim {
    to: String,
    at: Instant,
}

impl Room {
    /// Re-keys the links whose claims hold now, and forgets stale ones. A claim holds when the link's
    /// old id is no longer listed (the server said `peer-left`, or a fresh `joined` left it out) and `to`
    /// is listed and has no link of its own. Its proof is where it came from: only the old connection's
    /// own channel can carry it. So a member who is listed (or anyone naming a linked peer) cannot take
    /// over another person's link, and ack state is never merged into a link that exists.
    fn apply_claims(&mut self, room: &str) -> Vec<LinkEvent> {
        let now = Instant::now();
        let mut events = Vec::new();
        let ids: Vec<u64> = self.claims.keys().copied().collect();
        for id in ids {
            let from = self
                .links
                .iter()
                .find(|(_, l)| l.id == id)
                .map(|(k, _)| k.clone());
            let Some((from, claim)) = from.zip(self.claims.get(&id)) else {
                self.claims.remove(&id);
                continue;
            };
            if claim.to == from || now.duration_since(claim.at) > REKEY_CLAIM_TTL {
                self.claims.remove(&id);
                continue;
            }
            if self.present.contains(&from)
                || !self.present.contains(&claim.to)
                || self.links.contains_key(&claim.to)
            {
                continue;
            }
            let Some(Claim { to, .. }) = self.claims.remove(&id) else {
                continue;
            };
            if let Some(link) = self.links.remove(&from) {
                self.links.insert(to.clone(), link);
                events.push(LinkEvent::Rekeyed {
                    room: room.to_owned(),
                    from,
                    to,
                });
            }
        }
        events
    }
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
                files: files::Files::default(),
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
                self.on_joined(room, &peers).await;
            }
            ServerFrame::PeerJoined { room, peer, .. } => {
                let events = {
                    let mut state = self.inner.state();
                    let entry = state.rooms.entry(room.clone()).or_default();
                    entry.present.insert(peer.clone());
                    entry.apply_claims(room)
                };
                self.inner.emit_all(events).await;
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

    /// We (re)joined `room`, where `peers` are: as the newcomer, link to each one not linked yet
    /// (after re-keying the links whose `peer-id` claims now hold).
    pub async fn on_joined(&self, room: &str, peers: &[String]) {
        let events = self.joined(room, peers);
        self.inner.emit_all(events).await;
    }

    fn joined(&self, room: &str, peers: &[String]) -> Vec<LinkEvent> {
        let mut state = self.inner.state();
        let entry = state.rooms.entry(room.to_owned()).or_default();
        entry.present = peers.iter().cloned().collect();
        let events = entry.apply_claims(room);
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
        events
    }

    /// `peer` left `room`: its link closes, unless it already announced the person's new (listed,
    /// unlinked) id, then it is re-keyed to that id.
    pub async fn on_peer_left(&self, room: &str, peer: &str) {
        let (events, removed) = {
            let mut state = self.inner.state();
            let Some(entry) = state.rooms.get_mut(room) else {
                return;
            };
            entry.present.remove(peer);
            let events = entry.apply_claims(room);
            (events, entry.links.remove(peer))
        };
        self.inner.emit_all(events).await;
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

    /// Puts `capture`'s camera and microphone on the link to `peer` (`None`: takes them off, they
    /// left the call), sending only when `live` (a call that still rings negotiates its media early, so
    /// accepting does not race the callee's own renegotiation). The receiver hears once the link has
    /// sent its offer, if the change needed one; `None` if there is no link to `peer`.
    pub fn set_call_media(
        &self,
        room: &str,
        peer: &str,
        capture: Option<Arc<Capture>>,
        live: bool,
    ) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let state = self.inner.state();
        let link = state.rooms.get(room).and_then(|r| r.links.get(peer))?;
        let (done, applied) = tokio::sync::oneshot::channel();
        link.input(Input::Media {
            capture,
            live,
            done,
        });
        Some(applied)
    }

    /// Call quality and media counters of the link to `peer`, if there is one.
    pub async fn media_stats(&self, room: &str, peer: &str) -> Option<MediaStats> {
        let shared = {
            let state = self.inner.state();
            let link = state.rooms.get(room).and_then(|r| r.links.get(peer))?;
            link.shared.clone()
        };
        Some(shared.media.stats(shared.pc.get().cloned()).await)
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
        // Link lifecycle is rare and worth a line in the log; messages are not logged.
        if !matches!(event, LinkEvent::Message { .. }) {
            tracing::info!(?event, "link");
        }
        let _ = self.events.send(event).await;
    }

    async fn emit_all(&self, events: Vec<LinkEvent>) {
        for event in events {
            self.emit(event).await;
        }
    }

    /// Link `id` says (a `peer-id` message on its own channel) that the person behind it now has peer
    /// id `to`. Accepted at once or once the server's word makes it hold (see `Room::apply_claims`);
    /// never by displacing another link.
    async fn claim_rekey(&self, room: &str, id: u64, to: &str) {
        let events = {
            let mut state = self.state();
            let Some(entry) = state.rooms.get_mut(room) else {
                return;
            };
            let claim = Claim {
                to: to.to_owned(),
                at: Instant::now(),
            };
            entry.claims.insert(id, claim);
            entry.apply_claims(room)
        };
        self.emit_all(events).await;
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

#[cfg(test)]
mod tests {
    //! Re-keying on `peer-id`, on links that never connect: they only wait for an offer (no ICE
    //! gathering, no network), which is all the manager's bookkeeping needs.
    use super::*;

    const ROOM: &str = "team";

    async fn manager() -> (LinkManager, mpsc::Receiver<LinkEvent>) {
        let (tx, rx) = mpsc::channel(64);
        let m = LinkManager::new(|_, _, _| {}, tx, LinkOptions::default());
        m.on_welcome("me", Vec::new(), false).await;
        m.on_joined(ROOM, &[]).await;
        (m, rx)
    }

    /// `peer` joins and sends us a signal: a link to it exists (waiting for its offer).
    async fn linked_peer(m: &LinkManager, peer: &str) -> u64 {
        joins(m, peer).await;
        let end_of_candidates = SignalData::Candidate {
            candidate: serde_json::Value::Null,
        };
        m.on_signal(ROOM, peer, end_of_candidates);
        link_id(m, peer).expect("linked")
    }

    async fn joins(m: &LinkManager, peer: &str) {
        let frame = ServerFrame::PeerJoined {
            seq: 1,
            room: ROOM.into(),
            peer: peer.into(),
            name: peer.into(),
        };
        m.on_frame(&frame).await;
    }

    fn link_id(m: &LinkManager, peer: &str) -> Option<u64> {
        let state = m.inner.state();
        state.rooms.get(ROOM)?.links.get(peer).map(|l| l.id)
    }

    fn rekeys(rx: &mut mpsc::Receiver<LinkEvent>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        while let Ok(event) = rx.try_recv() {
            if let LinkEvent::Rekeyed { from, to, .. } = event {
                out.push((from, to));
            }
        }
        out
    }

    /// Finding 1 of issue 12: a member's `peer-id` naming another member must not move its link
    /// over the victim's (which closed it and routed the victim's messages to the attacker).
    #[tokio::test]
    async fn a_member_cannot_take_over_another_members_link() {
        let (m, mut rx) = manager().await;
        let mallory = linked_peer(&m, "mallory").await;
        let victim = linked_peer(&m, "victim").await;
        m.inner.claim_rekey(ROOM, mallory, "victim").await;
        assert_eq!(link_id(&m, "victim"), Some(victim));
        assert_eq!(link_id(&m, "mallory"), Some(mallory));
        // Not either once mallory's own id is no longer listed: the victim's id has a link.
        m.on_joined(ROOM, &["victim".to_owned()]).await;
        assert_eq!(link_id(&m, "victim"), Some(victim));
        assert_eq!(rekeys(&mut rx), []);
    }

    /// After a server restart: the claim waits until the server no longer lists the old id and
    /// lists the new one (in either order), then the same link carries on under the new id.
    #[tokio::test]
    async fn a_claim_waits_for_the_server_then_re_keys_the_link() {
        let (m, mut rx) = manager().await;
        let bob = linked_peer(&m, "bob").await;
        m.inner.claim_rekey(ROOM, bob, "bob-2").await;
        assert_eq!(link_id(&m, "bob"), Some(bob), "bob is still listed");
        m.on_joined(ROOM, &["bob-2".to_owned()]).await; // our fresh session's list
        assert_eq!(link_id(&m, "bob-2"), Some(bob));
        assert_eq!(link_id(&m, "bob"), None);
        assert_eq!(rekeys(&mut rx), [("bob".to_owned(), "bob-2".to_owned())]);
    }

    /// The old session ends after the new one joined: `peer-left` re-keys instead of closing.
    #[tokio::test]
    async fn peer_left_of_the_old_id_completes_a_pending_claim() {
        let (m, mut rx) = manager().await;
        let carol = linked_peer(&m, "carol").await;
        m.inner.claim_rekey(ROOM, carol, "carol-2").await;
        assert_eq!(
            link_id(&m, "carol"),
            Some(carol),
            "carol-2 is not listed yet"
        );
        joins(&m, "carol-2").await;
        assert_eq!(link_id(&m, "carol"), Some(carol), "carol is still listed");
        m.on_peer_left(ROOM, "carol").await;
        assert_eq!(link_id(&m, "carol-2"), Some(carol));
        assert_eq!(
            rekeys(&mut rx),
            [("carol".to_owned(), "carol-2".to_owned())]
        );
    }
}
