//! Chat data channels run by Rust (webrtc-rs) where the webview has no `RTCPeerConnection` (Debian
//! 12's WebKitGTK). [`LinkManager`] keeps one link per remote peer and room, negotiated through
//! the protocol's `signal` frames exactly like the web UI's PeerLink, so browsers interoperate
//! without knowing. It only carries text: chat semantics (ids, acks, outbox, history) stay with its
//! owner (see `crate::chat`), except `peer-id` announcements, which re-key links here. The app wraps
//! it in a [`gate::FallbackGate`]; the `p2pchat-peer` example drives it directly.

pub(crate) mod files;
pub mod gate;
mod keyframes;
mod link;
pub mod safety;
mod tracks;

pub use tracks::{
    OPUS_PAYLOAD_TYPE, OutgoingMedia, RemoteTrack, RemoteTracks, TrackSink, TrackStats,
    VP8_PAYLOAD_TYPE,
};
pub(crate) use tracks::{codec, local_track, media_setup, negotiated_payload_type, receive};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chat_protocol::{IceServer, ServerFrame, SignalData};
use serde::Serialize;
use tokio::sync::mpsc;
use ts_rs::TS;

pub use self::files::{
    DEFAULT_MAX_FILE_BYTES, FILE_CHANNEL_LABEL, FileControl, FileEnd, FileError, FileEvent,
    FileOptions,
};
use self::link::{Input, Link};
use crate::chat::ChannelMessage;
use crate::constants::{MAX_HELD_CHECKS, MAX_NONCE_CHARS, REKEY_CLAIM_TTL, REKEY_WAIT};
use crate::identity::DeviceIdentity;
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
    /// The certificate every link presents (this device's identity, so safety codes stay the same
    /// across links and restarts); `None`: each connection makes its own, as webrtc-rs does.
    pub identity: Option<Arc<DeviceIdentity>>,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            relay_only: false,
            send_buffer: DEFAULT_SEND_BUFFER,
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
    /// Who takes the peers' media tracks (the call session), if anyone.
    remote_tracks: Mutex<Option<Arc<dyn RemoteTracks>>>,
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
    /// `peer-id-check`s we could not answer yet (no link to or claiming their sender), by sender.
    held_checks: HashMap<String, HeldCheck>,
}

/// A link's announcement that the person behind it now has peer id `to`.
struct Claim {
    to: String,
    /// When it was announced: it waits for the server's word and the proof at most `REKEY_CLAIM_TTL`.
    at: Instant,
    /// The one `peer-id-check` sent to `to` once the claim held: its nonce and when.
    check: Option<(String, Instant)>,
    /// `to`'s session answered the check over this very link.
    proven: bool,
    /// The old id left while the proof was awaited: the link closes if the claim expires unproven.
    left: bool,
}

/// Checks from one sender that wait for a link to answer over.
struct HeldCheck {
    nonces: Vec<String>,
    at: Instant,
}

/// What applying claims asks of the manager once the state lock is released.
#[derive(Default)]
struct ClaimWork {
    events: Vec<LinkEvent>,
    /// `peer-id-check`s to send through the server: (to, nonce).
    checks: Vec<(String, String)>,
    /// `peer-id-proof`s to send: (link id, nonce).
    proofs: Vec<(u64, String)>,
    /// Links whose old id left and whose claim expired unproven: (peer, link).
    closes: Vec<(String, Link)>,
}

/// 128 random bits, base64url without padding: a `peer-id-check` nonce.
fn new_nonce() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes: [u8; 16] = rand::random();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

impl Room {
    /// Whether link `from`'s claim to be `to` holds by the server's word: `from` is no longer listed
    /// (the server said `peer-left`, or a fresh `joined` left it out), `to` is listed and has no link
    /// of its own (so ack state is never merged into a link that exists).
    fn holds(&self, from: &str, to: &str) -> bool {
        !self.present.contains(from) && self.present.contains(to) && !self.links.contains_key(to)
    }

    /// Re-keys the links whose claims are proven and hold, checks the ones that hold now, and forgets
    /// stale ones. The server's word is not enough: a member can claim the id of a newcomer (listed, not
    /// linked yet), of someone whose link failed, or an id another link claims too, and then leave. So
    /// once a claim holds, one `peer-id-check` goes to `to` through the server, which delivers it only to
    /// the session holding `to`; that session answers with a `peer-id-proof` only over its own link to us
    /// (see [`Room::answer_target`]), and only a proof with this claim's nonce over this very link
    /// re-keys it. A link whose old id left while it waited closes when its claim expires.
    fn apply_claims(&mut self, room: &str) -> ClaimWork {
        let now = Instant::now();
        let mut work = ClaimWork::default();
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
                let left = claim.left;
                self.claims.remove(&id);
                if left
                    && !self.present.contains(&from)
                    && let Some(link) = self.links.remove(&from)
                {
                    work.closes.push((from, link));
                }
                continue;
            }
            if !self.holds(&from, &claim.to) {
                continue;
            }
            if claim.proven {
                let Some(Claim { to, .. }) = self.claims.remove(&id) else {
                    continue;
                };
                if let Some(link) = self.links.remove(&from) {
                    self.links.insert(to.clone(), link);
                    work.events.push(LinkEvent::Rekeyed {
                        room: room.to_owned(),
                        from,
                        to,
                    });
                }
            } else if let Some(claim) = self.claims.get_mut(&id)
                && claim.check.is_none()
            {
                let nonce = new_nonce();
                claim.check = Some((nonce.clone(), now));
                work.checks.push((claim.to.clone(), nonce));
            }
        }
        self.answer_held_checks(now, &mut work);
        work
    }

    /// The link to answer `from`'s check over: the one to `from`, or else the one link that claims
    /// to be `from` with a claim that holds (both sides got new ids in one server restart). Never any
    /// other link, and none when two links claim `from` (one of them is not who it says).
    fn answer_target(&self, from: &str) -> Option<u64> {
        if let Some(link) = self.links.get(from) {
            return Some(link.id);
        }
        let mut claiming = self.links.iter().filter(|(key, link)| {
            self.claims
                .get(&link.id)
                .is_some_and(|c| c.to == from && self.holds(key, from))
        });
        let (_, link) = claiming.next()?;
        claiming.next().is_none().then_some(link.id)
    }

    /// Session `from` checks that we hold our id: answer now, or hold the check for a while.
    fn answer_check(&mut self, from: &str, nonce: &str, work: &mut ClaimWork) {
        if nonce.is_empty() || nonce.len() > MAX_NONCE_CHARS {
            return;
        }
        if let Some(id) = self.answer_target(from) {
            work.proofs.push((id, nonce.to_owned()));
            return;
        }
        if !self.held_checks.contains_key(from) && self.held_checks.len() >= MAX_HELD_CHECKS {
            let oldest = self
                .held_checks
                .iter()
                .min_by_key(|(_, h)| h.at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.held_checks.remove(&oldest);
            }
        }
        let held = self
            .held_checks
            .entry(from.to_owned())
            .or_insert_with(|| HeldCheck {
                nonces: Vec::new(),
                at: Instant::now(),
            });
        if !held.nonces.iter().any(|n| n == nonce) {
            if held.nonces.len() >= 4 {
                held.nonces.remove(0);
            }
            held.nonces.push(nonce.to_owned());
        }
    }

    /// Answers the held checks that now have a link to go over; drops expired ones.
    fn answer_held_checks(&mut self, now: Instant, work: &mut ClaimWork) {
        self.held_checks
            .retain(|_, h| now.duration_since(h.at) <= REKEY_CLAIM_TTL);
        let senders: Vec<String> = self.held_checks.keys().cloned().collect();
        for from in senders {
            let Some(id) = self.answer_target(&from) else {
                continue;
            };
            if let Some(held) = self.held_checks.remove(&from) {
                work.proofs
                    .extend(held.nonces.into_iter().map(|nonce| (id, nonce)));
            }
        }
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
                remote_tracks: Mutex::new(None),
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
                let work = {
                    let mut state = self.inner.state();
                    let entry = state.rooms.entry(room.clone()).or_default();
                    entry.present.insert(peer.clone());
                    entry.apply_claims(room)
                };
                self.inner.finish(room, work).await;
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
        let work = self.joined(room, peers);
        self.inner.finish(room, work).await;
    }

    fn joined(&self, room: &str, peers: &[String]) -> ClaimWork {
        let mut state = self.inner.state();
        let entry = state.rooms.entry(room.to_owned()).or_default();
        entry.present = peers.iter().cloned().collect();
        let work = entry.apply_claims(room);
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
        work
    }

    /// `peer` left `room`: its link closes, unless it already announced the person's new (listed,
    /// unlinked) id: then it waits for that session's proof (the check goes out now) and is re-keyed
    /// to that id, or closes when the claim expires unproven.
    pub async fn on_peer_left(&self, room: &str, peer: &str) {
        let (work, removed, expires) = {
            let mut state = self.inner.state();
            let Some(entry) = state.rooms.get_mut(room) else {
                return;
            };
            entry.present.remove(peer);
            let work = entry.apply_claims(room);
            let waiting = entry
                .links
                .get(peer)
                .and_then(|l| entry.claims.get_mut(&l.id))
                .filter(|c| c.check.is_some());
            match waiting {
                Some(claim) => {
                    claim.left = true;
                    (work, None, Some(claim.at + REKEY_CLAIM_TTL))
                }
                None => (work, entry.links.remove(peer), None),
            }
        };
        self.inner.finish(room, work).await;
        if let Some(link) = removed {
            self.inner.closed(room, peer, link).await;
        }
        if let Some(at) = expires {
            let inner = self.inner.clone();
            let room = room.to_owned();
            tokio::spawn(async move {
                let at = tokio::time::Instant::from_std(at) + std::time::Duration::from_millis(10);
                tokio::time::sleep_until(at).await;
                inner.reapply_claims(&room).await;
            });
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
            SignalData::PeerIdCheck { nonce } => {
                let mut work = ClaimWork::default();
                {
                    let mut state = self.inner.state();
                    if let Some(entry) = state.rooms.get_mut(room) {
                        entry.answer_check(from, &nonce, &mut work);
                    }
                }
                let inner = self.inner.clone();
                let room = room.to_owned();
                tokio::spawn(async move { inner.finish(&room, work).await });
            }
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

    /// The peers' media tracks go to `handler` from now on (tracks that arrive without one are read
    /// and dropped).
    pub fn set_remote_tracks(&self, handler: Arc<dyn RemoteTracks>) {
        *self
            .inner
            .remote_tracks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(handler);
    }

    /// Puts `media` on the link to `peer` (`None`: takes it off, they left the call), sending only
    /// when `live` (a call that still rings negotiates its media early, so accepting does not race the
    /// callee's own renegotiation). The receiver hears once the link has sent its offer, if the change
    /// needed one; `None` if there is no link to `peer`.
    pub fn set_tracks(
        &self,
        room: &str,
        peer: &str,
        media: Option<Arc<dyn OutgoingMedia>>,
        live: bool,
    ) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let state = self.inner.state();
        let link = state.rooms.get(room).and_then(|r| r.links.get(peer))?;
        let (done, applied) = tokio::sync::oneshot::channel();
        link.input(Input::Media { media, live, done });
        Some(applied)
    }

    /// The connection's side of the call quality of the link to `peer`, if there is one.
    pub async fn track_stats(&self, room: &str, peer: &str) -> Option<TrackStats> {
        let (id, shared) = {
            let state = self.inner.state();
            let link = state.rooms.get(room).and_then(|r| r.links.get(peer))?;
            (link.id, link.shared.clone())
        };
        Some(shared.tracks.stats(id, shared.pc.get().cloned()).await)
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
    /// Who takes the peers' media tracks now.
    fn remote_tracks(&self) -> Option<Arc<dyn RemoteTracks>> {
        self.remote_tracks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

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
    /// id `to`. Accepted once the server's word makes it hold and `to`'s session proved it over this
    /// link (see `Room::apply_claims`); never by displacing another link. A renewed claim replaces the
    /// pending one and gets its own check, except that the same id announced again right after its
    /// check keeps that check (a flood of claims is not a flood of checks).
    async fn claim_rekey(&self, room: &str, id: u64, to: &str) {
        let work = {
            let mut state = self.state();
            let Some(entry) = state.rooms.get_mut(room) else {
                return;
            };
            let now = Instant::now();
            match entry.claims.get_mut(&id) {
                Some(claim)
                    if claim.to == to
                        && claim
                            .check
                            .as_ref()
                            .is_some_and(|(_, at)| now.duration_since(*at) < REKEY_WAIT) =>
                {
                    claim.at = now;
                }
                pending => {
                    let left = pending.is_some_and(|c| c.left);
                    let claim = Claim {
                        to: to.to_owned(),
                        at: now,
                        check: None,
                        proven: false,
                        left,
                    };
                    entry.claims.insert(id, claim);
                }
            }
            entry.apply_claims(room)
        };
        self.finish(room, work).await;
    }

    /// A `peer-id-proof` came over link `id`: it counts only for the nonce of that link's own claim.
    async fn proof(&self, room: &str, id: u64, nonce: &str) {
        let work = {
            let mut state = self.state();
            let Some(entry) = state.rooms.get_mut(room) else {
                return;
            };
            let Some(claim) = entry.claims.get_mut(&id) else {
                return;
            };
            if claim.check.as_ref().is_none_or(|(n, _)| n != nonce) {
                return;
            }
            claim.proven = true;
            entry.apply_claims(room)
        };
        self.finish(room, work).await;
    }

    /// Applies the claims of `room` again (a claim whose old id left expired).
    async fn reapply_claims(&self, room: &str) {
        let work = {
            let mut state = self.state();
            let Some(entry) = state.rooms.get_mut(room) else {
                return;
            };
            entry.apply_claims(room)
        };
        self.finish(room, work).await;
    }

    /// Does what applying claims asked for: reports re-keys, sends checks through the server and
    /// proofs over their links, and closes links whose claim expired.
    async fn finish(&self, room: &str, work: ClaimWork) {
        let ClaimWork {
            events,
            checks,
            proofs,
            closes,
        } = work;
        self.emit_all(events).await;
        for (to, nonce) in checks {
            (self.signal_out)(room, &to, SignalData::PeerIdCheck { nonce });
        }
        for (id, nonce) in proofs {
            let channel = {
                let state = self.state();
                let link = state
                    .rooms
                    .get(room)
                    .and_then(|r| r.links.values().find(|l| l.id == id));
                link.and_then(Link::open_channel)
            };
            let text = ChannelMessage::PeerIdProof { nonce }.to_text();
            if let Some(channel) = channel
                && let Err(err) = channel.send_text(&text).await
            {
                tracing::debug!(%err, "cannot send a peer-id proof");
            }
        }
        for (peer, link) in closes {
            self.closed(room, &peer, link).await;
        }
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
    //! gathering, no network), which is all the manager's bookkeeping needs. The signals the manager
    //! sends are recorded (`checks_to`), and proofs are handed to `Inner::proof` as a channel would.
    use super::*;

    const ROOM: &str = "team";

    type Sent = Arc<Mutex<Vec<(String, SignalData)>>>;

    async fn manager() -> (LinkManager, mpsc::Receiver<LinkEvent>) {
        let (m, rx, _) = recording_manager().await;
        (m, rx)
    }

    async fn recording_manager() -> (LinkManager, mpsc::Receiver<LinkEvent>, Sent) {
        let (tx, rx) = mpsc::channel(64);
        let sent = Sent::default();
        let out = sent.clone();
        let m = LinkManager::new(
            move |_, to, data| out.lock().unwrap().push((to.to_owned(), data)),
            tx,
            LinkOptions::default(),
        );
        m.on_welcome("me", Vec::new(), false).await;
        m.on_joined(ROOM, &[]).await;
        (m, rx, sent)
    }

    /// The nonces of the `peer-id-check`s sent to `peer`.
    fn checks_to(sent: &Sent, peer: &str) -> Vec<String> {
        let sent = sent.lock().unwrap();
        sent.iter()
            .filter_map(|(to, data)| match data {
                SignalData::PeerIdCheck { nonce } if to == peer => Some(nonce.clone()),
                _ => None,
            })
            .collect()
    }

    /// The session `peer` answers every check it got from us, over link `id`.
    async fn prove(m: &LinkManager, sent: &Sent, peer: &str, id: u64) {
        for nonce in checks_to(sent, peer) {
            m.inner.proof(ROOM, id, &nonce).await;
        }
    }

    /// The link our answer to `from`'s check would go over.
    fn answer_target(m: &LinkManager, from: &str) -> Option<u64> {
        m.inner.state().rooms.get(ROOM)?.answer_target(from)
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
        let (m, mut rx, sent) = recording_manager().await;
        let bob = linked_peer(&m, "bob").await;
        m.inner.claim_rekey(ROOM, bob, "bob-2").await;
        assert_eq!(link_id(&m, "bob"), Some(bob), "bob is still listed");
        assert_eq!(checks_to(&sent, "bob-2"), Vec::<String>::new());
        m.on_joined(ROOM, &["bob-2".to_owned()]).await; // our fresh session's list
        let checks = checks_to(&sent, "bob-2");
        assert_eq!(checks.len(), 1, "one check, once the claim holds");
        assert_eq!(checks[0].len(), 22);
        assert!(
            checks[0]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(link_id(&m, "bob"), Some(bob), "not before the proof");
        m.inner.proof(ROOM, bob, "a guess").await;
        assert_eq!(link_id(&m, "bob"), Some(bob));
        prove(&m, &sent, "bob-2", bob).await;
        assert_eq!(link_id(&m, "bob-2"), Some(bob));
        assert_eq!(link_id(&m, "bob"), None);
        assert_eq!(rekeys(&mut rx), [("bob".to_owned(), "bob-2".to_owned())]);
    }

    /// Race 1 of issue 22 N6: a member (linked, listed) claims a newcomer's id (listed, not linked
    /// yet) and then leaves; her link must not become the newcomer's.
    #[tokio::test]
    async fn a_member_who_claims_a_newcomers_id_and_leaves_does_not_become_the_newcomer() {
        let (m, mut rx, sent) = recording_manager().await;
        let mallory = linked_peer(&m, "mallory").await;
        joins(&m, "x").await;
        m.inner.claim_rekey(ROOM, mallory, "x").await;
        m.on_peer_left(ROOM, "mallory").await;
        assert_ne!(link_id(&m, "x"), Some(mallory));
        assert_eq!(rekeys(&mut rx), []);
        // The check goes to x's session; mallory's guesses over her own link do nothing.
        assert_eq!(checks_to(&sent, "x").len(), 1);
        m.inner.proof(ROOM, mallory, "AAAAAAAAAAAAAAAAAAAAAA").await;
        m.inner.proof(ROOM, mallory, "").await;
        assert_eq!(link_id(&m, "x"), None);
        // x's own link arrives and stays x's.
        let x = linked_peer(&m, "x").await;
        assert_ne!(x, mallory);
        assert_eq!(rekeys(&mut rx), []);
    }

    /// Race 2: a member whose link failed (`give_up` removes it; the server still lists them) is
    /// not a free id for another member's claim.
    #[tokio::test]
    async fn a_member_whose_link_failed_cannot_be_taken_over() {
        let (m, mut rx, sent) = recording_manager().await;
        let mallory = linked_peer(&m, "mallory").await;
        let victim = linked_peer(&m, "victim").await;
        m.inner.remove_link(ROOM, "victim", victim).await; // what give_up does
        m.inner.claim_rekey(ROOM, mallory, "victim").await;
        m.on_peer_left(ROOM, "mallory").await;
        assert_ne!(link_id(&m, "victim"), Some(mallory));
        assert_eq!(rekeys(&mut rx), []);
        assert_eq!(checks_to(&sent, "victim").len(), 1);
        // The victim's session has no link to us and no claim naming us: it answers nothing.
        assert_eq!(link_id(&m, "victim"), None);
    }

    /// Race 3: after a server restart two links claim the same new id; the first one whose old id
    /// is no longer listed must not win by that alone.
    #[tokio::test]
    async fn of_two_links_claiming_one_id_neither_wins_without_the_proof() {
        let (m, mut rx, sent) = recording_manager().await;
        let mallory = linked_peer(&m, "mallory").await;
        let bob = linked_peer(&m, "bob").await;
        m.inner.claim_rekey(ROOM, mallory, "bob-2").await;
        m.inner.claim_rekey(ROOM, bob, "bob-2").await;
        m.on_joined(ROOM, &["bob-2".to_owned()]).await;
        assert_ne!(link_id(&m, "bob-2"), Some(mallory));
        assert_eq!(rekeys(&mut rx), []);
        assert_eq!(checks_to(&sent, "bob-2").len(), 2, "one per claim");
        // Bob's session answers both checks over its own link: only that link moves.
        prove(&m, &sent, "bob-2", bob).await;
        assert_eq!(link_id(&m, "bob-2"), Some(bob));
        prove(&m, &sent, "bob-2", mallory).await;
        assert_eq!(link_id(&m, "bob-2"), Some(bob));
        assert_eq!(link_id(&m, "mallory"), Some(mallory));
        assert_eq!(rekeys(&mut rx), [("bob".to_owned(), "bob-2".to_owned())]);
    }

    /// Both sides got new ids in one server restart: a check from the other's new id is answered
    /// over the one link that claims that id (and holds), never over another link; a check from a
    /// linked id over that link; none when two links claim the id or the claimer is still listed.
    #[tokio::test]
    async fn a_check_is_answered_only_over_the_link_of_its_sender() {
        let (m, mut rx, sent) = recording_manager().await;
        let bob = linked_peer(&m, "bob").await;
        let dave = linked_peer(&m, "dave").await;
        let mallory = linked_peer(&m, "mallory").await;
        m.on_welcome("me-2", Vec::new(), false).await;
        m.inner.claim_rekey(ROOM, bob, "bob-2").await;
        m.inner.claim_rekey(ROOM, mallory, "eve-2").await; // mallory is still listed
        m.on_joined(
            ROOM,
            &["bob-2", "dave", "mallory", "eve-2"].map(str::to_owned),
        )
        .await;
        assert_eq!(answer_target(&m, "bob-2"), Some(bob));
        assert_eq!(answer_target(&m, "dave"), Some(dave));
        assert_eq!(answer_target(&m, "eve-2"), None);
        assert_eq!(answer_target(&m, "nobody"), None);
        // A check that comes before the claim it needs is held, then answered over that link.
        let frank = linked_peer(&m, "frank").await;
        m.on_frame(&ServerFrame::PeerJoined {
            seq: 2,
            room: ROOM.into(),
            peer: "frank-2".into(),
            name: "frank".into(),
        })
        .await;
        m.on_signal(
            ROOM,
            "frank-2",
            SignalData::PeerIdCheck {
                nonce: "held".into(),
            },
        );
        tokio::task::yield_now().await;
        assert!(
            m.inner.state().rooms[ROOM]
                .held_checks
                .contains_key("frank-2")
        );
        m.inner.claim_rekey(ROOM, frank, "frank-2").await;
        assert!(
            m.inner.state().rooms[ROOM]
                .held_checks
                .contains_key("frank-2")
        );
        m.on_peer_left(ROOM, "frank").await; // now frank's claim holds
        assert_eq!(link_id(&m, "frank"), Some(frank));
        assert!(
            !m.inner.state().rooms[ROOM]
                .held_checks
                .contains_key("frank-2")
        );
        // Two links claiming one id: neither gets the answer.
        m.inner.claim_rekey(ROOM, dave, "bob-2").await;
        m.on_peer_left(ROOM, "dave").await;
        assert_eq!(answer_target(&m, "bob-2"), None);
        // Our check of bob's claim, answered over bob's link, re-keys it.
        prove(&m, &sent, "bob-2", bob).await;
        assert_eq!(link_id(&m, "bob-2"), Some(bob));
        assert_eq!(rekeys(&mut rx), [("bob".to_owned(), "bob-2".to_owned())]);
    }

    /// The old session ends after the new one joined: `peer-left` re-keys instead of closing.
    #[tokio::test]
    async fn peer_left_of_the_old_id_completes_a_pending_claim() {
        let (m, mut rx, sent) = recording_manager().await;
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
        assert_eq!(
            link_id(&m, "carol"),
            Some(carol),
            "kept while the proof is awaited"
        );
        prove(&m, &sent, "carol-2", carol).await;
        assert_eq!(link_id(&m, "carol-2"), Some(carol));
        assert_eq!(
            rekeys(&mut rx),
            [("carol".to_owned(), "carol-2".to_owned())]
        );
    }
}
