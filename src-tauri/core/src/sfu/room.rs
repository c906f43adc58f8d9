//! Our membership of one Janus videoroom (an SFU call), as the web UI's ui/src/lib/call/sfu-janus.ts
//! keeps it: a publisher handle that joins with our peer id as display name and the signaling server's
//! token, and sends our capture once (VP8 + Opus) on a webrtc-rs connection; and one subscriber
//! connection that carries every other participant's streams (joined with the publisher's
//! `private_id`, then `update`d as publishers come and go). Each frame we send is sealed with our key
//! before webrtc-rs packetizes it; each frame received opens with its sender's key after
//! depacketization, before the decoder ([`super::frame`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chat_protocol::IceServer;
use rtc::media::Sample;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::task::AbortHandle;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceServer, RTCPeerConnectionIceEvent, RTCSessionDescription,
};
use webrtc::rtp_transceiver::RtpSender;

use super::frame::MediaKind;
use super::janus::JanusSession;
use super::keys::CallKeys;
use crate::links::{
    OutgoingMedia, RemoteTrack, RemoteTracks, TrackSink, codec, local_track, media_setup,
    negotiated_payload_type, receive,
};
use crate::media::{
    Capture, EncodedFrame, FrameSource, MediaEvents, MediaStats, Playback, PlaybackOptions,
    PlaybackStats,
};

/// Where the signaling server placed the call (its `sfu` frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SfuPlace {
    pub url: String,
    pub token: String,
    pub janus_room: u64,
}

/// What a frame lasts when the encoder did not say (30 fps video, 20 ms Opus).
fn default_duration(kind: MediaKind) -> Duration {
    match kind {
        MediaKind::Video => Duration::from_millis(33),
        MediaKind::Audio => Duration::from_millis(20),
    }
}

#[derive(Default)]
struct State {
    own_feed: u64,
    private_id: u64,
    /// Feeds in the room (not ours) → their display name (peer id).
    feeds: HashMap<u64, String>,
    subscribed: HashSet<u64>,
    /// The subscriber's media lines → whose media each carries now (Janus gives a line whose
    /// publisher left to the next one it adds).
    lines: HashMap<String, Carried>,
    /// Bumped whenever `lines` or a line's track changes: a playing line looks again.
    lines_version: u64,
    /// The media line → the serial of the track received on it now (a later track replaces it).
    line_tracks: HashMap<String, u64>,
    subscriber_handle: u64,
}

/// Subscriber changes, one after another (each is an offer/answer round with Janus).
enum Step {
    Subscribe(Vec<u64>),
    Answer(Value),
}

struct Inner {
    session: Arc<JanusSession>,
    place: SfuPlace,
    room: String,
    ice_servers: Vec<IceServer>,
    keys: Arc<CallKeys>,
    players: Arc<Players>,
    state: Mutex<State>,
    publisher: Mutex<Option<Arc<dyn PeerConnection>>>,
    /// What we publish: kept running for as long as we are in the videoroom.
    capture: Mutex<Option<Arc<Capture>>>,
    subscriber: tokio::sync::Mutex<Option<Arc<dyn PeerConnection>>>,
    steps: mpsc::UnboundedSender<Step>,
    tasks: Mutex<Vec<AbortHandle>>,
    lost: mpsc::UnboundedSender<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One SFU call's media: ours published once, everyone else's received on one connection.
pub struct VideoRoom {
    inner: Arc<Inner>,
}

impl VideoRoom {
    /// Joins the videoroom `place` names as `me` (our peer id) in `room`, publishes `capture` (if any)
    /// sealed with `keys`' key and plays everyone else's media, opened with their keys, as `playback`
    /// says. The receiver hears once why the call's media server is gone.
    #[allow(clippy::too_many_arguments)]
    pub async fn join(
        place: SfuPlace,
        room: &str,
        me: &str,
        capture: Option<Arc<Capture>>,
        ice_servers: Vec<IceServer>,
        keys: Arc<CallKeys>,
        playback: PlaybackOptions,
        events: MediaEvents,
    ) -> Result<(VideoRoom, mpsc::UnboundedReceiver<String>), String> {
        let (lost, lost_rx) = mpsc::unbounded_channel();
        let session = JanusSession::open(&place.url, &place.token, lost.clone()).await?;
        let (handle, publisher_events) = session.attach().await?;
        let joined = session
            .message(
                handle,
                json!({"request": "join", "ptype": "publisher", "room": place.janus_room,
                       "display": me, "token": place.token}),
                None,
            )
            .await?;
        let data = &joined["plugindata"]["data"];
        tracing::debug!(%data, "SFU joined");
        let (steps, steps_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            session,
            place,
            room: room.to_owned(),
            ice_servers,
            keys: keys.clone(),
            players: Arc::new(Players {
                room: room.to_owned(),
                options: playback,
                events,
                keys,
                playing: Mutex::default(),
            }),
            state: Mutex::new(State {
                own_feed: data["id"].as_u64().unwrap_or_default(),
                private_id: data["private_id"].as_u64().unwrap_or_default(),
                ..State::default()
            }),
            publisher: Mutex::new(None),
            capture: Mutex::new(capture.clone()),
            subscriber: tokio::sync::Mutex::new(None),
            steps,
            tasks: Mutex::default(),
            lost,
        });
        let steps_task = tokio::spawn(run_steps(Arc::downgrade(&inner), steps_rx));
        let events_task = tokio::spawn(handle_events(
            Arc::downgrade(&inner),
            publisher_events,
            on_publisher_event,
        ));
        lock(&inner.tasks).extend([steps_task.abort_handle(), events_task.abort_handle()]);
        if let Some(capture) = capture {
            inner.publish(handle, capture).await?;
        }
        inner.add_publishers(data["publishers"].as_array());
        Ok((VideoRoom { inner }, lost_rx))
    }

    /// Whose media we receive (their peer ids).
    pub fn peers(&self) -> Vec<String> {
        lock(&self.inner.state).feeds.values().cloned().collect()
    }

    /// Which of the subscriber's media lines (mids) carries whose media (their peer ids) now.
    pub fn media_lines(&self) -> HashMap<String, String> {
        lock(&self.inner.state)
            .lines
            .iter()
            .map(|(mid, carried)| (mid.clone(), carried.peer.clone()))
            .collect()
    }

    /// What we decoded of `peer`'s media so far.
    pub fn stats(&self, peer: &str) -> MediaStats {
        let mut stats = MediaStats {
            sending: lock(&self.inner.publisher).is_some(),
            ..MediaStats::default()
        };
        for (_, playing) in lock(&self.inner.players.playing)
            .get(peer)
            .into_iter()
            .flatten()
        {
            stats.frames_decoded += playing.frames_decoded();
            stats.audio_level = stats.audio_level.max(playing.audio_level());
            stats.bytes_received += playing.bytes_received();
        }
        stats
    }

    /// Leaves the videoroom: both connections close and the Janus session ends.
    pub async fn close(self) {
        for task in lock(&self.inner.tasks).drain(..) {
            task.abort();
        }
        lock(&self.inner.capture).take();
        let publisher = lock(&self.inner.publisher).take();
        if let Some(pc) = publisher {
            let _ = pc.close().await;
        }
        if let Some(pc) = self.inner.subscriber.lock().await.take() {
            let _ = pc.close().await;
        }
        lock(&self.inner.players.playing).clear();
    }
}

impl Inner {
    async fn publish(self: &Arc<Self>, handle: u64, capture: Arc<Capture>) -> Result<(), String> {
        let media = capture.clone() as Arc<dyn OutgoingMedia>;
        let pc = self.connection(handle, Some(&media), None).await?;
        *lock(&self.publisher) = Some(pc.clone());
        for video in [false, true] {
            let Some(frames) = capture.subscribe_frames(video) else {
                continue;
            };
            let ssrc = rand::random::<u32>();
            let track = Arc::new(
                TrackLocalStaticSample::new(Instant::now(), local_track(video, ssrc))
                    .map_err(|e| e.to_string())?,
            );
            let sender = pc
                .add_track(track.clone() as Arc<dyn TrackLocal>)
                .await
                .map_err(|e| e.to_string())?;
            let kind = if video {
                MediaKind::Video
            } else {
                MediaKind::Audio
            };
            let task = tokio::spawn(send_frames(
                track,
                sender,
                frames,
                ssrc,
                kind,
                self.keys.clone(),
            ));
            lock(&self.tasks).push(task.abort_handle());
        }
        let offer = pc.create_offer(None).await.map_err(|e| e.to_string())?;
        pc.set_local_description(offer)
            .await
            .map_err(|e| e.to_string())?;
        let sdp = pc
            .local_description()
            .await
            .ok_or("no local description")?
            .sdp;
        let answer = self
            .session
            .message(
                handle,
                json!({"request": "publish", "audiocodec": "opus", "videocodec": "vp8"}),
                Some(("offer", &sdp)),
            )
            .await?;
        let sdp = answer["jsep"]["sdp"]
            .as_str()
            .ok_or("the media server did not answer our media")?;
        pc.set_remote_description(
            RTCSessionDescription::answer(sdp.to_owned()).map_err(|e| e.to_string())?,
        )
        .await
        .map_err(|e| e.to_string())?;
        capture.request_keyframe();
        Ok(())
    }

    /// A connection to Janus for `handle`: our candidates trickle to it, remote tracks go to `tracks`.
    async fn connection(
        self: &Arc<Self>,
        handle: u64,
        media: Option<&Arc<dyn OutgoingMedia>>,
        tracks: Option<mpsc::UnboundedSender<Arc<dyn TrackRemote>>>,
    ) -> Result<Arc<dyn PeerConnection>, String> {
        let servers = self
            .ice_servers
            .iter()
            .map(|s| RTCIceServer {
                urls: s.urls.clone(),
                username: s.username.clone().unwrap_or_default(),
                credential: s.credential.clone().unwrap_or_default(),
            })
            .collect();
        let config = RTCConfigurationBuilder::new()
            .with_ice_servers(servers)
            .build();
        let (engine, registry) = media_setup(media).map_err(|e| e.to_string())?;
        let pc = PeerConnectionBuilder::new()
            .with_configuration(config)
            .with_media_engine(engine)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(Handler {
                session: Arc::downgrade(&self.session),
                handle,
                tracks,
            }))
            .with_udp_addrs(vec!["0.0.0.0:0".to_owned()])
            .build()
            .await
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(pc))
    }

    fn add_publishers(&self, publishers: Option<&Vec<Value>>) {
        let mut fresh = Vec::new();
        {
            let mut state = lock(&self.state);
            for publisher in publishers.into_iter().flatten() {
                let (Some(id), Some(display)) =
                    (publisher["id"].as_u64(), publisher["display"].as_str())
                else {
                    continue;
                };
                if id != state.own_feed && !state.feeds.contains_key(&id) {
                    state.feeds.insert(id, display.to_owned());
                    fresh.push(id);
                }
            }
        }
        if !fresh.is_empty() {
            let _ = self.steps.send(Step::Subscribe(fresh));
        }
    }

    fn remove_feed(&self, feed: u64) {
        let peer = {
            let mut state = lock(&self.state);
            state.subscribed.remove(&feed);
            state.feeds.remove(&feed)
        };
        // Janus drops its streams from our subscription itself and sends the new offer. The same
        // person may be back already under a new feed: only this feed's counters go.
        if let Some(peer) = peer {
            let mut playing = lock(&self.players.playing);
            if let Some(feeds) = playing.get_mut(&peer) {
                feeds.retain(|(of, _)| *of != feed);
                if feeds.is_empty() {
                    playing.remove(&peer);
                }
            }
        }
    }

    async fn subscribe(self: &Arc<Self>, feeds: Vec<u64>) -> Result<(), String> {
        let (wanted, handle, private_id) = {
            let mut state = lock(&self.state);
            let wanted: Vec<u64> = feeds
                .into_iter()
                .filter(|f| state.feeds.contains_key(f) && !state.subscribed.contains(f))
                .collect();
            state.subscribed.extend(&wanted);
            (wanted, state.subscriber_handle, state.private_id)
        };
        if wanted.is_empty() {
            return Ok(());
        }
        let streams: Vec<Value> = wanted.iter().map(|feed| json!({"feed": feed})).collect();
        let answer = if handle == 0 {
            let (handle, events) = self.session.attach().await?;
            lock(&self.state).subscriber_handle = handle;
            let task = tokio::spawn(handle_events(
                Arc::downgrade(self),
                events,
                on_subscriber_event,
            ));
            lock(&self.tasks).push(task.abort_handle());
            self.session
                .message(
                    handle,
                    json!({"request": "join", "ptype": "subscriber", "room": self.place.janus_room,
                           "private_id": private_id, "token": self.place.token, "streams": streams}),
                    None,
                )
                .await?
        } else {
            self.session
                .message(
                    handle,
                    json!({"request": "update", "subscribe": streams}),
                    None,
                )
                .await?
        };
        self.answer(answer).await
    }

    /// Takes Janus's description of our subscription (the media lines and whose each is) and answers
    /// its offer, if it made one.
    async fn answer(self: &Arc<Self>, message: Value) -> Result<(), String> {
        let data = &message["plugindata"]["data"];
        tracing::debug!(streams = %data["streams"], "SFU subscription");
        if let Some(streams) = data["streams"].as_array() {
            let lines = streams
                .iter()
                .filter_map(|s| {
                    let carried = Carried {
                        feed: s["feed_id"].as_u64()?,
                        peer: s["feed_display"].as_str()?.to_owned(),
                    };
                    Some((s["mid"].as_str()?.to_owned(), carried))
                })
                .collect();
            let mut state = lock(&self.state);
            state.lines = lines;
            state.lines_version += 1;
        }
        let jsep = &message["jsep"];
        let (Some("offer"), Some(sdp)) = (jsep["type"].as_str(), jsep["sdp"].as_str()) else {
            return Ok(());
        };
        let handle = lock(&self.state).subscriber_handle;
        let pc = {
            let mut subscriber = self.subscriber.lock().await;
            match subscriber.as_ref() {
                Some(pc) => pc.clone(),
                None => {
                    let (tracks, tracks_rx) = mpsc::unbounded_channel();
                    let pc = self.connection(handle, None, Some(tracks)).await?;
                    let task =
                        tokio::spawn(play_tracks(Arc::downgrade(self), pc.clone(), tracks_rx));
                    lock(&self.tasks).push(task.abort_handle());
                    *subscriber = Some(pc.clone());
                    pc
                }
            }
        };
        let err = |e: webrtc::error::Error| e.to_string();
        pc.set_remote_description(RTCSessionDescription::offer(sdp.to_owned()).map_err(err)?)
            .await
            .map_err(err)?;
        let answer = pc.create_answer(None).await.map_err(err)?;
        pc.set_local_description(answer).await.map_err(err)?;
        let sdp = pc
            .local_description()
            .await
            .ok_or("no local description")?
            .sdp;
        self.session
            .message(handle, json!({"request": "start"}), Some(("answer", &sdp)))
            .await?;
        Ok(())
    }
}

/// Seals each encoded frame of one kind with our current key and hands it to webrtc-rs's packetizer.
async fn send_frames(
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    mut frames: broadcast::Receiver<EncodedFrame>,
    ssrc: u32,
    kind: MediaKind,
    keys: Arc<CallKeys>,
) {
    let mime = codec(kind == MediaKind::Video).mime_type;
    let mut payload_type = None;
    loop {
        let frame = match frames.recv().await {
            Ok(frame) => frame,
            // A slow connection skips frames (the next key frame repairs the picture).
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if payload_type.is_none() {
            payload_type = negotiated_payload_type(&sender, &mime).await;
        }
        let Some(pt) = payload_type else {
            continue;
        };
        let sample = Sample {
            data: Bytes::from(keys.sealing_key().seal(kind, &frame.data)),
            duration: frame.duration.unwrap_or_else(|| default_duration(kind)),
            ..Sample::new(Instant::now())
        };
        if track
            .sample_writer(ssrc, pt)
            .write_sample(&sample)
            .await
            .is_err()
        {
            payload_type = None;
        }
    }
}

async fn run_steps(inner: Weak<Inner>, mut steps: mpsc::UnboundedReceiver<Step>) {
    while let Some(step) = steps.recv().await {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let done = match step {
            Step::Subscribe(feeds) => inner.subscribe(feeds).await,
            Step::Answer(message) => inner.answer(message).await,
        };
        if let Err(err) = done {
            let _ = inner
                .lost
                .send(format!("the media server refused a subscription ({err})"));
            return;
        }
    }
}

fn hung_up(message: &Value) -> bool {
    matches!(message["janus"].as_str(), Some("hangup" | "detached"))
}

/// Reads a handle's events until the room is gone or Janus hangs up on the handle (the room is lost).
async fn handle_events(
    inner: Weak<Inner>,
    mut events: mpsc::UnboundedReceiver<Value>,
    each: fn(&Inner, Value),
) {
    while let Some(message) = events.recv().await {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if hung_up(&message) {
            let _ = inner.lost.send("the media server hung up".into());
            return;
        }
        each(&inner, message);
    }
}

/// Publishers come (we subscribe to them) and go.
fn on_publisher_event(inner: &Inner, message: Value) {
    let data = &message["plugindata"]["data"];
    if !data.is_null() {
        tracing::debug!(%data, "SFU publisher event");
    }
    inner.add_publishers(data["publishers"].as_array());
    for gone in [&data["leaving"], &data["unpublished"]] {
        if let Some(feed) = gone.as_u64() {
            inner.remove_feed(feed);
        }
    }
}

/// Janus renegotiates the subscription on its own too (a publisher left): answer those offers.
fn on_subscriber_event(inner: &Inner, message: Value) {
    if message["jsep"]["type"] == "offer" {
        let _ = inner.steps.send(Step::Answer(message));
    }
}

/// Plays each track the subscriber connection receives, as the person its media line is for now.
async fn play_tracks(
    inner: Weak<Inner>,
    pc: Arc<dyn PeerConnection>,
    mut tracks: mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
) {
    let mut serial = 0;
    while let Some(track) = tracks.recv().await {
        let Some(room) = inner.upgrade() else {
            return;
        };
        let Some(mid) = mid_of(&pc, &track).await else {
            tracing::debug!("an SFU track on no media line");
            continue;
        };
        serial += 1;
        {
            let mut state = lock(&room.state);
            state.line_tracks.insert(mid.clone(), serial);
            state.lines_version += 1;
        }
        tracing::debug!(%mid, "SFU track");
        let line = Arc::new(LineTracks {
            inner: inner.clone(),
            mid: mid.clone(),
            serial,
        }) as Arc<dyn RemoteTracks>;
        let name = room.room.clone();
        drop(room);
        tokio::spawn(receive(track, Some(line), move |video, payload_type| {
            RemoteTrack {
                room: name,
                peer: mid,
                link: 0,
                video,
                payload_type,
            }
        }));
    }
}

/// One track of the subscriber connection, on media line `mid`: a [`LineSink`] plays it.
struct LineTracks {
    inner: Weak<Inner>,
    mid: String,
    serial: u64,
}

impl RemoteTracks for LineTracks {
    fn on_track(&self, track: RemoteTrack) -> Option<Box<dyn TrackSink>> {
        Some(Box::new(LineSink {
            inner: self.inner.clone(),
            mid: self.mid.clone(),
            serial: self.serial,
            video: track.video,
            payload_type: track.payload_type,
            playing: Mutex::new(LinePlayback {
                version: u64::MAX,
                person: None,
            }),
        }))
    }
}

/// Plays a media line's packets as the person Janus says the line carries now: when Janus gives the
/// line to someone else (its publisher left, another joined), the next packet starts a playback for
/// the newcomer, opened with the newcomer's keys; while the line carries nobody (or a later track
/// took the line over), its packets are dropped.
struct LineSink {
    inner: Weak<Inner>,
    mid: String,
    serial: u64,
    video: bool,
    payload_type: u8,
    playing: Mutex<LinePlayback>,
}

/// What a media line plays: looked at for `version` of the lines, `person`'s playback (whose, sink).
struct LinePlayback {
    version: u64,
    person: Option<(Carried, Box<dyn TrackSink>)>,
}

/// Whose media a subscriber's media line carries: a publisher's feed (a person who leaves and comes
/// back is a new feed) and its display name, their peer id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Carried {
    feed: u64,
    peer: String,
}

impl LineSink {
    /// The feed the line carries now, if this track is still the line's.
    fn carries(&self, inner: &Inner) -> (u64, Option<Carried>) {
        let state = lock(&inner.state);
        let ours = state.line_tracks.get(&self.mid) == Some(&self.serial);
        let peer = state.lines.get(&self.mid).filter(|_| ours).cloned();
        (state.lines_version, peer)
    }
}

impl TrackSink for LineSink {
    fn push(&self, rtp: Vec<u8>) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let mut playing = lock(&self.playing);
        let version = lock(&inner.state).lines_version;
        if version != playing.version {
            let (version, peer) = self.carries(&inner);
            playing.version = version;
            if peer.as_ref() != playing.person.as_ref().map(|(p, _)| p) {
                tracing::debug!(mid = %self.mid, ?peer, "SFU media line plays");
                playing.person = None; // the previous person's playback stops first
                playing.person = peer.and_then(|carried| {
                    let track = RemoteTrack {
                        room: inner.room.clone(),
                        peer: carried.peer.clone(),
                        link: 0,
                        video: self.video,
                        payload_type: self.payload_type,
                    };
                    let sink = inner.players.play(track, carried.feed)?;
                    Some((carried, sink))
                });
            }
        }
        if let Some((_, sink)) = &playing.person {
            sink.push(rtp);
        }
    }

    fn awaiting_picture(&self) -> bool {
        lock(&self.playing)
            .person
            .as_ref()
            .is_some_and(|(_, sink)| sink.awaiting_picture())
    }
}

/// The media line of a remote track.
async fn mid_of(pc: &Arc<dyn PeerConnection>, track: &Arc<dyn TrackRemote>) -> Option<String> {
    for transceiver in pc.get_transceivers().await {
        let Ok(Some(receiver)) = transceiver.receiver().await else {
            continue;
        };
        if std::ptr::addr_eq(Arc::as_ptr(receiver.track()), Arc::as_ptr(track)) {
            return transceiver.mid().await.ok().flatten();
        }
    }
    None
}

/// Forwards a connection's candidates to Janus and its remote tracks to the player.
struct Handler {
    session: Weak<JanusSession>,
    handle: u64,
    tracks: Option<mpsc::UnboundedSender<Arc<dyn TrackRemote>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let (Some(session), Ok(mut init)) = (self.session.upgrade(), event.candidate.to_json())
        else {
            return;
        };
        // With BUNDLE the first media line is right for every candidate.
        init.sdp_mid = None;
        init.sdp_mline_index = Some(0);
        if let Ok(candidate) = serde_json::to_value(init) {
            session.trickle(self.handle, Some(candidate));
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if let Some(tracks) = &self.tracks {
            let _ = tracks.send(track);
        }
    }
}

/// Plays the others' tracks, each frame opened with its sender's key, and keeps their counters by person.
struct Players {
    room: String,
    options: PlaybackOptions,
    events: MediaEvents,
    keys: Arc<CallKeys>,
    /// Per person: each playback's counters, with the feed it plays.
    playing: Mutex<HashMap<String, Vec<FeedStats>>>,
}

/// A playback's counters and the publisher feed it plays.
type FeedStats = (u64, Arc<PlaybackStats>);

impl Players {
    /// Plays `track` of publisher `feed`.
    fn play(&self, track: RemoteTrack, feed: u64) -> Option<Box<dyn TrackSink>> {
        let source = FrameSource::Remote {
            room: self.room.clone(),
            peer: track.peer.clone(),
        };
        let (started, kind) = if track.video {
            (
                Playback::video(track.payload_type, source, &self.options, &self.events),
                MediaKind::Video,
            )
        } else {
            (
                Playback::audio(track.payload_type, &source, &self.options, &self.events),
                MediaKind::Audio,
            )
        };
        let playback = match started {
            Ok(playback) => playback,
            Err(err) => {
                tracing::warn!(%err, video = track.video, "cannot play an SFU participant's media");
                return None;
            }
        };
        let keys = self.keys.clone();
        let peer = track.peer.clone();
        if let Err(err) = playback.open_frames_with(move |sealed| keys.open(&peer, kind, sealed)) {
            tracing::warn!(%err, "cannot open an SFU participant's frames");
            return None;
        }
        lock(&self.playing)
            .entry(track.peer)
            .or_default()
            .push((feed, playback.stats()));
        Some(Box::new(PlayingTrack {
            playback,
            video: track.video,
        }))
    }
}

struct PlayingTrack {
    playback: Playback,
    video: bool,
}

impl TrackSink for PlayingTrack {
    fn push(&self, rtp: Vec<u8>) {
        self.playback.push(rtp);
    }

    fn awaiting_picture(&self) -> bool {
        self.video && self.playback.stats().frames_decoded() == 0
    }
}
