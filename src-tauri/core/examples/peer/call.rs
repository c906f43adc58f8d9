//! The headless peer's calls (`--call`, `--accept-calls`): ringing by `p2pchat_core::media::ring`,
//! GStreamer test sources (a moving pattern and a 440 Hz tone) or real devices, and JSON lines a test
//! can follow: `call-connected` once the peer's media arrives, `call-stats` every second, `call-ended`,
//! `media-notice` (a device left out, or a pipeline that failed mid-call). The media is
//! `p2pchat_core::media::CallSession`'s, on the links' tracks. A call that passes the server's mesh
//! size (`welcome.sfu.mesh_size`) moves to Janus as the web UI's does (`p2pchat_core::sfu`): `sfu-join`,
//! our media published once and everyone else's received through the videoroom, every frame sealed
//! with per-sender keys sent over the chat channel (`sfu-key`), ours replaced when someone leaves;
//! lines `sfu-move`, `sfu-joined`, `sfu-lost`, and `call-stats` with `"sfu": true`.
//! Typed commands: `/mute`, `/unmute`, `/camera-off`, `/camera-on`, `/share-screen`, `/stop-share`,
//! `/hangup`, and `/accept` or `/decline` for a call ringing us (without `--accept-calls`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_protocol::{IceServer, SignalData};
use p2pchat_core::links::LinkManager;
use p2pchat_core::media::ring::{Ring, RingAction};
use p2pchat_core::media::{
    AudioSource, CallSession, Capture, CaptureOptions, EncodingLimits, FULL_QUALITY, MediaEvents,
    PlaybackOptions, QualitySample, VideoSource, next_limits,
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
    connected: HashSet<String>,
    /// Per participant: quality samples for adaptive bitrate, and bytes seen at the last tick.
    samples: HashMap<String, (Vec<QualitySample>, u64)>,
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
}

/// Asking to be placed again after the SFU was lost: at most this often (the web UI's rule).
const SFU_RETRIES: u32 = 2;

/// The pause before asking again, times the attempt: a signaling server that just started refuses
/// until its first check of Janus (`--sfu-health-ms`, 2 s by default).
const SFU_RETRY_PAUSE: Duration = Duration::from_secs(2);

impl Calls {
    /// Calls in `room` over `links`' tracks.
    pub fn new(
        room: String,
        auto_accept: bool,
        video: VideoSource,
        audio: AudioSource,
        links: &LinkManager,
    ) -> Calls {
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
        Calls {
            ring: Ring::new(auto_accept),
            room,
            video,
            audio,
            media,
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
        }
    }

    /// Carries out what the ring decided, in order (an invite waits until the offer with our media
    /// is on its way).
    pub async fn apply(&mut self, actions: Vec<RingAction>, client: &Client) {
        for action in actions {
            match action {
                RingAction::Signal { to, data } => {
                    if let Ok(raw) = serde_json::value::to_raw_value(&data) {
                        let _ = client.signal(&self.room, &to, raw);
                    }
                }
                RingAction::Prepare { peer } => {
                    self.capture();
                    if let Some(offered) = self.media.attach(&self.room, &peer, false) {
                        let _ = tokio::time::timeout(Duration::from_secs(3), offered).await;
                    }
                }
                RingAction::Connect { peer } => {
                    self.capture();
                    if self.sfu.is_some() {
                        // Their media and ours go through Janus; they need our key.
                        self.send_key(&peer).await;
                    } else {
                        let _ = self.media.attach(&self.room, &peer, true);
                    }
                    self.samples.insert(peer, (Vec::new(), 0));
                }
                RingAction::Disconnect { peer, reason } => {
                    let _ = self.media.detach(&self.room, &peer);
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

    /// The call passed the server's mesh size: every participant's media moves to Janus (the mesh
    /// media stops) and we ask the server where (`sfu-join`).
    async fn move_to_sfu_if_due(&mut self, client: &Client) {
        let people = self.ring.participants().count() + 1;
        if self.sfu.is_some() || !self.ring.in_call() || !above_mesh(people, self.mesh_size) {
            return;
        }
        let Some(call) = self.ring.call_id().map(str::to_owned) else {
            return;
        };
        let peers: Vec<String> = self.ring.participants().cloned().collect();
        self.sfu = Some(Sfu {
            call: call.clone(),
            place: None,
            room: None,
            lost: None,
            retries: 0,
            retry_at: None,
        });
        for peer in &peers {
            let _ = self.media.detach(&self.room, peer);
            self.send_key(peer).await;
        }
        emit(json!({"event": "sfu-move", "call": call, "people": people}));
        if let Err(err) = client.sfu(&self.room, &call, true) {
            emit(
                json!({"event": "media-notice", "notice": format!("cannot ask for the SFU: {err}")}),
            );
        }
    }

    async fn leave_sfu(&mut self, client: &Client) {
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
    /// in already changes nothing; a new one (our new session's token) replaces it.
    pub async fn on_sfu_place(&mut self, call: &str, place: SfuPlace, client: &Client) {
        let Some(sfu) = self.sfu.as_mut().filter(|s| s.call == call) else {
            return;
        };
        if sfu.place.as_ref() == Some(&place) {
            return;
        }
        let rejoining = sfu.place.is_some();
        sfu.place = Some(place.clone());
        sfu.lost = None;
        if let Some(room) = sfu.room.take() {
            room.close().await;
        }
        let capture = self.capture();
        let Some(keys) = self.call_keys() else {
            return;
        };
        let joined = VideoRoom::join(
            place,
            &self.room,
            &self.me,
            capture,
            self.ice_servers.clone(),
            keys,
            PlaybackOptions::default(),
            self.media_events.clone(),
        )
        .await;
        match joined {
            Ok((room, lost)) => {
                emit(json!({"event": "sfu-joined", "call": call}));
                if let Some(sfu) = self.sfu.as_mut() {
                    sfu.room = Some(room);
                    sfu.lost = Some(lost);
                }
                if rejoining {
                    // The others know us by our new id now.
                    let peers: Vec<String> = self.ring.participants().cloned().collect();
                    for peer in peers {
                        self.send_key(&peer).await;
                    }
                }
            }
            Err(err) => self.on_sfu_lost(call, &err, client).await,
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

    /// Once a second during a call: `call-connected` when a peer's media first arrives, `call-stats`,
    /// and adaptive bitrate from the worst participant's loss and RTT.
    pub async fn tick(&mut self, client: &Client) {
        self.check_sfu_connection(client).await;
        let peers: Vec<String> = self.ring.participants().cloned().collect();
        let mut limits = FULL_QUALITY;
        let sfu = self.sfu.is_some();
        for peer in peers {
            let stats = match self.sfu.as_ref() {
                Some(sfu) => match &sfu.room {
                    Some(room) => Some(room.stats(&peer)),
                    None => continue, // moving: not placed yet
                },
                None => self.media.stats(&self.room, &peer).await,
            };
            let Some(stats) = stats else {
                continue;
            };
            if stats.bytes_received > 0 && self.connected.insert(peer.clone()) {
                emit(json!({"event": "call-connected", "peer": peer}));
            }
            let (samples, last_bytes) = self.samples.entry(peer.clone()).or_default();
            let kbit_s = stats.bytes_received.saturating_sub(*last_bytes) * 8 / 1000;
            *last_bytes = stats.bytes_received;
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
