//! The headless peer's calls (`--call`, `--accept-calls`): ringing by `p2pchat_core::media::ring`,
//! GStreamer test sources (a moving pattern and a 440 Hz tone) or real devices, and JSON lines a test
//! can follow: `call-connected` once the peer's media arrives, `call-stats` every second, `call-ended`,
//! `media-notice` (a device left out, or a pipeline that failed mid-call). The media is
//! `p2pchat_core::media::CallSession`'s, on the links' tracks. A call that passes the server's mesh
//! size (`welcome.sfu.mesh_size`) moves to Janus as the web UI's does (`p2pchat_core::sfu`): `sfu-join`,
//! our media published once and everyone else's received through the videoroom, every frame sealed
//! with per-sender keys sent over the chat channel (`sfu-key`), ours replaced when someone leaves;
//! lines `sfu-move`, `sfu-joined`, `sfu-lost`, and `call-stats` with `"sfu": true` once a person's
//! picture comes through Janus (until then their mesh media goes on: nobody's picture stops at the
//! move). Room members outside the call are told we are in it (`in-call`) and when we no longer are
//! (`left-call`), as the web UI does, so their pages show the call in progress.
//! Typed commands: `/mute`, `/unmute`, `/camera-off`, `/camera-on`, `/share-screen`, `/stop-share`,
//! `/hangup`, and `/accept` or `/decline` for a call ringing us (without `--accept-calls`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_protocol::{IceServer, PeerInfo, SignalData};
use p2pchat_core::links::LinkManager;
use p2pchat_core::media::ring::{Ring, RingAction};
use p2pchat_core::media::{
    AudioSource, CallSession, Capture, CaptureOptions, EncodingLimits, FULL_QUALITY, MediaEvents,
    MediaStats, PlaybackOptions, QualitySample, VideoSource, next_limits,
};
use p2pchat_core::sfu::{
    CallKeys, SfuPlace, VideoRoom, above_mesh, key_message, parse_key_message,
};
use p2pchat_core::signaling::Client;
use serde_json::json;
use tokio::sync::mpsc;

use super::emit;

pub struct Calls {
    pub ring: Ring,
    room: String,
    video: VideoSource,
    audio: AudioSource,
    /// Our capture on the peers' links, and their tracks played (counted, no window, no speaker).
    media: CallSession,
    /// Participants we send our media to over their link (the mesh); in a call that moved to Janus,
    /// until their picture shows through it (see [`MESH_OVERLAP`]).
    mesh: HashSet<String>,
    connected: HashSet<String>,
    /// Per participant: quality samples for adaptive bitrate, and bytes seen at the last tick (and
    /// whether they were the SFU's).
    samples: HashMap<String, (Vec<QualitySample>, u64, bool)>,
    limits: EncodingLimits,
    muted: bool,
    camera_off: bool,
    /// The screen is shared instead of the camera (`/share-screen`).
    sharing: bool,
    /// The server's mesh size (`welcome.sfu`); `None`: it has no SFU and calls stay a mesh.
    pub mesh_size: Option<usize>,
    /// Our peer id (the display name in Janus) and the ICE servers, from `welcome`.
    pub me: String,
    pub ice_servers: Vec<IceServer>,
    links: LinkManager,
    /// Where the SFU's playbacks report what goes wrong.
    media_events: MediaEvents,
    /// The end-to-end keys of the call we are in: (call id, keys).
    keys: Option<(String, Arc<CallKeys>)>,
    /// Our call went past the mesh size: its media goes through Janus.
    sfu: Option<Sfu>,
    /// Where a videoroom join that finished reports (joins run apart from the call: see `on_sfu_place`).
    joins: mpsc::UnboundedSender<SfuJoin>,
    /// Who is in the room (its presence), to tell those outside our call about it.
    members: BTreeSet<String>,
    /// The call we told the room's members outside it we are in (`in-call`).
    announced: Option<String>,
}

/// A videoroom join that finished (see [`Calls::on_sfu_joined`]).
pub struct SfuJoin {
    call: String,
    attempt: u32,
    result: Result<(VideoRoom, mpsc::UnboundedReceiver<String>), String>,
}

struct Sfu {
    call: String,
    /// Where we joined (or are joining) it: the token of our signaling session.
    place: Option<SfuPlace>,
    room: Option<VideoRoom>,
    lost: Option<mpsc::UnboundedReceiver<String>>,
    /// How many times we asked to be placed again after losing Janus.
    retries: u32,
    /// When to ask again.
    retry_at: Option<Instant>,
    /// Joins started: only the latest one's result is taken.
    attempt: u32,
    /// When we got into the videoroom.
    joined_at: Option<Instant>,
    /// When each participant's picture first came through Janus.
    through: HashMap<String, Instant>,
}

/// Asking to be placed again after the SFU was lost: at most this often (the web UI's rule).
const SFU_RETRIES: u32 = 2;

/// The pause before asking again, times the attempt: a signaling server that just started refuses
/// until its first check of Janus (`--sfu-health-ms`, 2 s by default).
const SFU_RETRY_PAUSE: Duration = Duration::from_secs(2);

/// How long a participant's mesh media goes on after their picture first comes through Janus: their
/// side switches when ours comes through there, which may be a moment later, and until then they still
/// show what the mesh brings them.
const MESH_OVERLAP: Duration = Duration::from_secs(2);

/// At most this long after we got into the videoroom the mesh media goes on with someone whose picture
/// does not come through it (no camera, camera off, or a feed that never comes).
const MESH_FALLBACK: Duration = Duration::from_secs(15);

impl Calls {
    /// Calls in `room` over `links`' tracks; the receiver hears of videoroom joins that finished, for
    /// [`Calls::on_sfu_joined`].
    pub fn new(
        room: String,
        auto_accept: bool,
        video: VideoSource,
        audio: AudioSource,
        links: &LinkManager,
    ) -> (Calls, mpsc::UnboundedReceiver<SfuJoin>) {
        let (media, mut events) = CallSession::new(links.clone(), PlaybackOptions::default());
        let (media_events, mut sfu_events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(event) = sfu_events.recv().await {
                let event: p2pchat_core::media::MediaEvent = event;
                emit(json!({"event": "media-notice", "notice": event.notice(), "media": event}));
            }
        });
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                emit(json!({"event": "media-notice", "notice": event.notice(), "media": event}));
            }
        });
        let (joins, joined) = mpsc::unbounded_channel();
        let calls = Calls {
            ring: Ring::new(auto_accept),
            room,
            video,
            audio,
            media,
            mesh: HashSet::new(),
            connected: HashSet::new(),
            samples: HashMap::new(),
            limits: FULL_QUALITY,
            muted: false,
            camera_off: false,
            sharing: false,
            mesh_size: None,
            me: String::new(),
            ice_servers: Vec::new(),
            links: links.clone(),
            media_events,
            keys: None,
            sfu: None,
            joins,
            members: BTreeSet::new(),
            announced: None,
        };
        (calls, joined)
    }

    /// Carries out what the ring decided, in order (an invite waits until the offer with our media
    /// is on its way).
    pub async fn apply(&mut self, actions: Vec<RingAction>, client: &Client) {
        let before: BTreeSet<String> = self.ring.participants().cloned().collect();
        for action in actions {
            match action {
                RingAction::Signal { to, data } => self.signal(&to, &data, client),
                RingAction::Prepare { peer } => {
                    self.capture();
                    if let Some(offered) = self.media.attach(&self.room, &peer, false) {
                        let _ = tokio::time::timeout(Duration::from_secs(3), offered).await;
                    }
                }
                RingAction::Connect { peer } => {
                    self.capture();
                    // Whoever makes the call outgrow the mesh never gets mesh media: the call moves
                    // first (which gives everyone in it our key), as in the web UI.
                    let moved_now = self.move_to_sfu_if_due(client).await;
                    if self.sfu.is_none() {
                        let _ = self.media.attach(&self.room, &peer, true);
                        self.mesh.insert(peer.clone());
                    } else if !moved_now {
                        // Their media and ours go through Janus; they need our key.
                        self.send_key(&peer).await;
                    }
                    self.samples.insert(peer, (Vec::new(), 0, false));
                }
                RingAction::Disconnect { peer, reason } => {
                    let _ = self.media.detach(&self.room, &peer);
                    self.mesh.remove(&peer);
                    if let Some(sfu) = self.sfu.as_mut() {
                        sfu.through.remove(&peer);
                    }
                    self.key_after_leaving(&peer).await;
                    self.connected.remove(&peer);
                    self.samples.remove(&peer);
                    emit(json!({"event": "call-ended", "peer": peer, "reason": reason}));
                    if !self.ring.in_call() {
                        self.leave_sfu(client).await;
                        self.media.stop_capture(); // camera and microphone off
                        self.sharing = false;
                    }
                }
            }
        }
        self.move_to_sfu_if_due(client).await;
        self.tell_the_room(&before, client);
    }

    /// Tells the room's members outside our call that we are in it, once someone else is (`in-call`),
    /// and that we no longer are once it ended for us (`left-call`), as the web UI does (docs/ui.md,
    /// "Joining a call in progress"): their pages show the call in progress and can ask to join it.
    /// `before`: the participants before the last step (they heard of its end from the call itself).
    fn tell_the_room(&mut self, before: &BTreeSet<String>, client: &Client) {
        let call = self.ring.call_id().map(str::to_owned);
        if let Some(left) = self
            .announced
            .take_if(|announced| call.as_ref() != Some(announced))
        {
            let data = SignalData::LeftCall { call: left };
            for peer in self.members.iter().filter(|p| !before.contains(*p)) {
                self.signal(peer, &data, client);
            }
        }
        let Some(call) = call else {
            return;
        };
        if self.announced.is_none() && self.ring.participants().next().is_some() {
            let data = SignalData::InCall { call: call.clone() };
            for peer in self.outsiders() {
                self.signal(&peer, &data, client);
            }
            self.announced = Some(call);
        }
    }

    /// Room members not in our call.
    fn outsiders(&self) -> Vec<String> {
        let inside: HashSet<&String> = self.ring.participants().collect();
        self.members
            .iter()
            .filter(|p| !inside.contains(p))
            .cloned()
            .collect()
    }

    fn signal(&self, to: &str, data: &SignalData, client: &Client) {
        if let Ok(raw) = serde_json::value::to_raw_value(data) {
            let _ = client.signal(&self.room, to, raw);
        }
    }

    /// We are in the room (again) with these members: back with a new session (a new peer id), a call
    /// we are in is told to them again.
    pub fn room_joined(&mut self, peers: &[PeerInfo], client: &Client) {
        self.members = peers.iter().map(|p| p.peer.clone()).collect();
        if let Some(call) = self.announced.clone() {
            let data = SignalData::InCall { call };
            for peer in self.outsiders() {
                self.signal(&peer, &data, client);
            }
        }
    }

    /// Someone entered the room: a call we are in is theirs to join, so they hear of it (`in-call`).
    pub fn peer_arrived(&mut self, peer: &str, client: &Client) {
        self.members.insert(peer.to_owned());
        if let Some(call) = &self.announced
            && !self.ring.participants().any(|p| p == peer)
        {
            self.signal(peer, &SignalData::InCall { call: call.clone() }, client);
        }
    }

    /// `peer` left the room: out of the call too.
    pub async fn peer_left(&mut self, peer: &str, client: &Client) {
        self.members.remove(peer);
        let actions = self.ring.peer_gone(peer);
        self.apply(actions, client).await;
    }

    /// The keys of the call we are in (new ones for a new call).
    fn call_keys(&mut self) -> Option<Arc<CallKeys>> {
        let call = self.ring.call_id()?.to_owned();
        if self.keys.as_ref().is_none_or(|(id, _)| *id != call) {
            self.keys = Some((call.clone(), Arc::new(CallKeys::new())));
        }
        self.keys.as_ref().map(|(_, keys)| keys.clone())
    }

    /// Gives `peer` our current key over the chat channel.
    async fn send_key(&mut self, peer: &str) {
        let (Some(keys), Some(call)) = (self.call_keys(), self.ring.call_id()) else {
            return;
        };
        let text = key_message(call, &keys.announced_key());
        let _ = self.links.send(&self.room, peer, &text).await;
    }

    /// `peer` left our SFU call: their keys go, and those who stay get a new key of ours, which they
    /// need before our frames use it (whoever left cannot read what follows).
    async fn key_after_leaving(&mut self, peer: &str) {
        if self.sfu.is_none() {
            return;
        }
        let Some(keys) = self.call_keys() else {
            return;
        };
        keys.forget(peer);
        keys.rotate();
        let stay: Vec<String> = self.ring.participants().cloned().collect();
        for peer in stay {
            self.send_key(&peer).await;
        }
    }

    /// The call passed the server's mesh size: every participant's media moves to Janus and we ask
    /// the server where (`sfu-join`). The mesh media goes on with each participant until their picture
    /// comes through Janus (`leave_mesh_when_through`). True if the call moved now.
    async fn move_to_sfu_if_due(&mut self, client: &Client) -> bool {
        let people = self.ring.participants().count() + 1;
        if self.sfu.is_some() || !self.ring.in_call() || !above_mesh(people, self.mesh_size) {
            return false;
        }
        let Some(call) = self.ring.call_id().map(str::to_owned) else {
            return false;
        };
        let peers: Vec<String> = self.ring.participants().cloned().collect();
        self.sfu = Some(Sfu {
            call: call.clone(),
            place: None,
            room: None,
            lost: None,
            retries: 0,
            retry_at: None,
            attempt: 0,
            joined_at: None,
            through: HashMap::new(),
        });
        for peer in &peers {
            if !self.mesh.contains(peer) {
                // Negotiated while it rang, never sent: it will not be.
                let _ = self.media.detach(&self.room, peer);
            }
            self.send_key(peer).await;
        }
        emit(json!({"event": "sfu-move", "call": call, "people": people}));
        if let Err(err) = client.sfu(&self.room, &call, true) {
            emit(
                json!({"event": "media-notice", "notice": format!("cannot ask for the SFU: {err}")}),
            );
        }
        true
    }

    /// Our mesh media to each participant whose picture came through Janus stops [`MESH_OVERLAP`]
    /// later (or [`MESH_FALLBACK`] after we got into the videoroom, whatever came through), as the web
    /// UI stops it once their SFU media shows. Their mesh media to us is theirs to stop.
    fn leave_mesh_when_through(&mut self, now: Instant) {
        let Some(sfu) = self.sfu.as_mut() else {
            return;
        };
        let (Some(room), Some(joined_at)) = (sfu.room.as_ref(), sfu.joined_at) else {
            return;
        };
        let leaving: Vec<String> = self
            .mesh
            .iter()
            .filter(|peer| {
                if room.stats(peer).frames_decoded > 0 {
                    let since = *sfu.through.entry((*peer).clone()).or_insert(now);
                    now - since >= MESH_OVERLAP
                } else {
                    now - joined_at >= MESH_FALLBACK
                }
            })
            .cloned()
            .collect();
        for peer in leaving {
            self.mesh.remove(&peer);
            let _ = self.media.detach(&self.room, &peer);
        }
    }

    async fn leave_sfu(&mut self, client: &Client) {
        self.mesh.clear();
        let Some(sfu) = self.sfu.take() else {
            return;
        };
        let _ = client.sfu(&self.room, &sfu.call, false);
        if let Some(room) = sfu.room {
            room.close().await;
        }
        self.keys = None;
    }

    /// Our signaling session resumed (maybe on another server sharing Redis), or started afresh and
    /// joined the room again: ask for our SFU place again (docs/protocol.md, "SFU calls"). A resumed
    /// session gets the same place back; a fresh one a new token, and we join Janus again under our
    /// new peer id.
    pub fn ask_sfu_again(&self, client: &Client) {
        if let Some(sfu) = &self.sfu {
            let _ = client.sfu(&self.room, &sfu.call, true);
        }
    }

    /// The server placed our call (`sfu`): join the videoroom, publish, subscribe. The place we are
    /// in already changes nothing; a new one (our new session's token) replaces it. The join runs on
    /// its own task and ends in [`Calls::on_sfu_joined`]: meanwhile the call goes on (its mesh media,
    /// its stats, the keys the others send).
    pub async fn on_sfu_place(&mut self, call: &str, place: SfuPlace) {
        let Some(sfu) = self.sfu.as_mut().filter(|s| s.call == call) else {
            return;
        };
        if sfu.place.as_ref() == Some(&place) {
            return;
        }
        sfu.place = Some(place.clone());
        sfu.lost = None;
        sfu.joined_at = None;
        sfu.attempt += 1;
        let attempt = sfu.attempt;
        if let Some(room) = sfu.room.take() {
            room.close().await;
        }
        let capture = self.capture();
        let Some(keys) = self.call_keys() else {
            return;
        };
        let room = self.room.clone();
        let me = self.me.clone();
        let ice_servers = self.ice_servers.clone();
        let events = self.media_events.clone();
        let joins = self.joins.clone();
        let call = call.to_owned();
        tokio::spawn(async move {
            let playback = PlaybackOptions::default();
            let result = VideoRoom::join(
                place,
                &room,
                &me,
                capture,
                ice_servers,
                keys,
                playback,
                events,
            )
            .await;
            let joined = SfuJoin {
                call,
                attempt,
                result,
            };
            if let Err(unwanted) = joins.send(joined)
                && let Ok((room, _)) = unwanted.0.result
            {
                room.close().await;
            }
        });
    }

    /// A join of the videoroom finished: we are in it (a join since replaced, or of a call since
    /// left, is left at once), or Janus refused us.
    pub async fn on_sfu_joined(&mut self, joined: SfuJoin, client: &Client) {
        let SfuJoin {
            call,
            attempt,
            result,
        } = joined;
        let current = self
            .sfu
            .as_mut()
            .filter(|s| s.call == call && s.attempt == attempt && s.place.is_some());
        let Some(sfu) = current else {
            if let Ok((room, _)) = result {
                room.close().await;
            }
            return;
        };
        match result {
            Ok((room, lost)) => {
                emit(json!({"event": "sfu-joined", "call": call}));
                sfu.room = Some(room);
                sfu.lost = Some(lost);
                sfu.joined_at = Some(Instant::now());
                if attempt > 1 {
                    // Joined again: the others may know us by a new id now.
                    let peers: Vec<String> = self.ring.participants().cloned().collect();
                    for peer in peers {
                        self.send_key(&peer).await;
                    }
                }
            }
            Err(err) => self.on_sfu_lost(&call, &err, client).await,
        }
    }

    /// Janus is gone (the server's `sfu-lost`, our connection to it, or it refused us): ask to be
    /// placed again, at most [`SFU_RETRIES`] times; then the call ends with a notice.
    pub async fn on_sfu_lost(&mut self, call: &str, reason: &str, client: &Client) {
        let Some(sfu) = self.sfu.as_mut().filter(|s| s.call == call) else {
            return;
        };
        emit(json!({"event": "sfu-lost", "call": call, "reason": reason}));
        sfu.place = None;
        let room = sfu.room.take();
        sfu.lost = None;
        sfu.joined_at = None;
        sfu.through.clear();
        sfu.retries += 1;
        let retry = sfu.retries <= SFU_RETRIES;
        if let Some(room) = room {
            room.close().await;
        }
        if retry {
            sfu.retry_at = Some(Instant::now() + SFU_RETRY_PAUSE * sfu.retries);
            return;
        }
        emit(
            json!({"event": "media-notice", "notice": format!("The call ended: its media server is unreachable ({reason}).")}),
        );
        let actions = self.ring.hangup();
        Box::pin(self.apply(actions, client)).await;
    }

    /// Our own connection to Janus went (checked once a second); a pause before asking again is over.
    async fn check_sfu_connection(&mut self, client: &Client) {
        let Some(sfu) = self.sfu.as_mut() else {
            return;
        };
        if sfu.retry_at.is_some_and(|at| Instant::now() >= at) {
            sfu.retry_at = None;
            if client.sfu(&self.room, &sfu.call, true).is_err() {
                sfu.retry_at = Some(Instant::now() + SFU_RETRY_PAUSE);
            }
        }
        let Some(reason) = sfu.lost.as_mut().and_then(|lost| lost.try_recv().ok()) else {
            return;
        };
        let call = sfu.call.clone();
        self.on_sfu_lost(&call, &reason, client).await;
    }

    /// The same person under a new peer id (their new signaling session, proven by their link): the
    /// call, their keys and counters follow them; in an SFU call they get our key again.
    pub async fn peer_renamed(&mut self, from: &str, to: &str) {
        self.ring.rename(from, to);
        if let Some((_, keys)) = &self.keys {
            keys.rename(from, to);
        }
        if self.connected.remove(from) {
            self.connected.insert(to.to_owned());
        }
        if self.mesh.remove(from) {
            self.mesh.insert(to.to_owned());
        }
        if let Some(sfu) = self.sfu.as_mut()
            && let Some(since) = sfu.through.remove(from)
        {
            sfu.through.insert(to.to_owned(), since);
        }
        if let Some(samples) = self.samples.remove(from) {
            self.samples.insert(to.to_owned(), samples);
        }
        if self.sfu.is_some() && self.ring.participants().any(|p| p == to) {
            self.send_key(to).await;
        }
    }

    /// A chat channel text that is an `sfu-key` (true: it was one, not a chat message): kept when it
    /// is for the call we are in.
    pub fn on_channel_text(&mut self, peer: &str, text: &str) -> bool {
        let Some((call, key)) = parse_key_message(text) else {
            return false;
        };
        if self.ring.call_id() == Some(call.as_str())
            && let Some(keys) = self.call_keys()
        {
            keys.set_peer_key(peer, key);
        }
        true
    }

    /// A call signal from a peer (`room`: who an accept goes to).
    pub async fn on_signal(
        &mut self,
        from: &str,
        data: &SignalData,
        room: &[String],
        client: &Client,
    ) {
        let actions = self.ring.on_signal(from, data, room);
        self.apply(actions, client).await;
    }

    /// A typed `/command`; false if it is not one.
    pub async fn command(&mut self, line: &str, client: &Client) -> bool {
        match line {
            "/mute" | "/unmute" => {
                self.muted = line == "/mute";
                if let Some(c) = self.media.capture() {
                    c.set_muted(self.muted);
                }
            }
            "/camera-off" | "/camera-on" => {
                self.camera_off = line == "/camera-off";
                if let Some(c) = self.media.capture() {
                    c.set_camera_off(self.camera_off);
                }
            }
            "/share-screen" | "/stop-share" => {
                self.sharing = line == "/share-screen";
                if let Some(c) = self.media.capture() {
                    let notices = match c.share_screen(self.sharing) {
                        Ok(notices) => notices,
                        Err(notice) => {
                            self.sharing = false;
                            vec![notice]
                        }
                    };
                    for notice in notices {
                        emit(json!({"event": "media-notice", "notice": notice}));
                    }
                }
            }
            "/hangup" => {
                let actions = self.ring.hangup();
                self.apply(actions, client).await;
            }
            // The call ringing us (without --accept-calls), answered when the test says.
            "/accept" | "/decline" => {
                let actions = if line == "/accept" {
                    self.ring.accept()
                } else {
                    self.ring.decline()
                };
                self.apply(actions, client).await;
            }
            _ => return false,
        }
        emit(json!({"event": "command", "command": line}));
        true
    }

    /// What we receive of `peer` now, and whether it comes through Janus: the mesh's until their
    /// picture has come through Janus since a tick before `tick` (so the SFU's counter starts with
    /// what it decoded meanwhile), then the SFU's; `None` while the call moves and there is no mesh
    /// media with them.
    async fn peer_stats(&self, peer: &str, tick: Instant) -> Option<(MediaStats, bool)> {
        let sfu = self.sfu.as_ref();
        let on_mesh = self.mesh.contains(peer);
        let through = sfu
            .and_then(|sfu| sfu.through.get(peer))
            .is_some_and(|at| *at < tick);
        if let Some(room) = sfu.and_then(|sfu| sfu.room.as_ref())
            && (through || !on_mesh)
        {
            return Some((room.stats(peer), true));
        }
        if sfu.is_none() || on_mesh {
            return Some((self.media.stats(&self.room, peer).await?, false));
        }
        None
    }

    /// Once a second during a call: `call-connected` when a peer's media first arrives, `call-stats`,
    /// and adaptive bitrate from the worst participant's loss and RTT.
    pub async fn tick(&mut self, client: &Client) {
        self.check_sfu_connection(client).await;
        let now = Instant::now();
        self.leave_mesh_when_through(now);
        let peers: Vec<String> = self.ring.participants().cloned().collect();
        let mut limits = FULL_QUALITY;
        for peer in peers {
            let Some((stats, sfu)) = self.peer_stats(&peer, now).await else {
                continue;
            };
            if stats.bytes_received > 0 && self.connected.insert(peer.clone()) {
                emit(json!({"event": "call-connected", "peer": peer}));
            }
            let (samples, last_bytes, last_sfu) = self.samples.entry(peer.clone()).or_default();
            // The first figures of the other path: no bitrate from the difference to the last path's.
            let kbit_s = if *last_sfu == sfu {
                stats.bytes_received.saturating_sub(*last_bytes) * 8 / 1000
            } else {
                0
            };
            *last_bytes = stats.bytes_received;
            *last_sfu = sfu;
            samples.push(QualitySample {
                loss: stats.loss,
                rtt_ms: stats.rtt_ms,
            });
            if samples.len() > 10 {
                samples.remove(0);
            }
            let peer_limits = next_limits(samples, self.limits);
            if peer_limits.max_bitrate < limits.max_bitrate {
                limits = peer_limits;
            }
            emit(json!({
                "event": "call-stats", "peer": peer,
                "video_frames_decoded": stats.frames_decoded,
                "audio_level": stats.audio_level,
                "rtt_ms": stats.rtt_ms, "loss": stats.loss, "kbit_s": kbit_s,
                "sending": stats.sending, "sfu": sfu,
            }));
        }
        if limits != self.limits {
            self.limits = limits;
            if let Some(c) = self.media.capture() {
                c.set_limits(limits);
            }
        }
    }

    /// The running capture, started on first use (a missing device is reported, not fatal).
    fn capture(&mut self) -> Option<Arc<Capture>> {
        if self.media.capture().is_none() {
            let options = CaptureOptions {
                video: self.video.clone(),
                audio: self.audio.clone(),
                preview: None,
                echo_cancel: false,
            };
            match self.media.start_capture(options) {
                Ok(capture) => {
                    for notice in &capture.notices {
                        emit(json!({"event": "media-notice", "notice": notice}));
                    }
                    capture.set_muted(self.muted);
                    capture.set_camera_off(self.camera_off);
                    if self.sharing
                        && let Err(notice) = capture.share_screen(true)
                    {
                        self.sharing = false;
                        emit(json!({"event": "media-notice", "notice": notice}));
                    }
                }
                Err(err) => emit(json!({"event": "media-notice", "notice": err.to_string()})),
            }
        }
        self.media.capture()
    }
}

/// `--video`: test (pattern), test=WxH@FPS (the pattern at that size and rate), camera[=/dev/videoN],
/// screen (X11), none.
pub fn video_source(value: &str) -> Result<VideoSource, String> {
    if let Some(sized) = value.strip_prefix("test=") {
        return sized_test_pattern(sized)
            .ok_or_else(|| format!("--video test=WxH@FPS, e.g. test=320x240@10, not {value:?}"));
    }
    match value {
        "test" => Ok(VideoSource::Test),
        "none" => Ok(VideoSource::None),
        "camera" => Ok(VideoSource::Camera(None)),
        "screen" => Ok(VideoSource::Screen),
        v => v
            .strip_prefix("camera=")
            .map(|d| VideoSource::Camera(Some(d.to_owned())))
            .ok_or_else(|| {
                format!("--video must be test, none, screen, camera or camera=DEVICE, not {v:?}")
            }),
    }
}

/// `WxH@FPS` → the test pattern at that size and rate (all above zero).
fn sized_test_pattern(value: &str) -> Option<VideoSource> {
    let (size, fps) = value.split_once('@')?;
    let (width, height) = size.split_once('x')?;
    let [width, height, fps] =
        [width, height, fps].map(|n| n.parse::<u32>().ok().filter(|&n| n > 0));
    Some(VideoSource::TestSized {
        width: width?,
        height: height?,
        fps: fps?,
    })
}

/// `--audio`: test (tone), mic[=SOURCE], none.
pub fn audio_source(value: &str) -> Result<AudioSource, String> {
    match value {
        "test" => Ok(AudioSource::Test),
        "none" => Ok(AudioSource::None),
        "mic" => Ok(AudioSource::Microphone(None)),
        v => v
            .strip_prefix("mic=")
            .map(|d| AudioSource::Microphone(Some(d.to_owned())))
            .ok_or_else(|| format!("--audio must be test, none, mic or mic=SOURCE, not {v:?}")),
    }
}
