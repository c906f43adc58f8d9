//! The headless peer's calls (`--call`, `--accept-calls`): ringing by `p2pchat_core::media::ring`,
//! GStreamer test sources (a moving pattern and a 440 Hz tone) or real devices, and JSON lines a test
//! can follow: `call-connected` once the peer's media arrives, `call-stats` every second, `call-ended`,
//! `media-notice` (a device left out, or a pipeline that failed mid-call). The media is
//! `p2pchat_core::media::CallSession`'s, on the links' tracks.
//! Typed commands: `/mute`, `/unmute`, `/camera-off`, `/camera-on`, `/share-screen`, `/stop-share`,
//! `/hangup`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chat_protocol::SignalData;
use p2pchat_core::links::LinkManager;
use p2pchat_core::media::ring::{Ring, RingAction};
use p2pchat_core::media::{
    AudioSource, CallSession, Capture, CaptureOptions, EncodingLimits, FULL_QUALITY,
    PlaybackOptions, QualitySample, VideoSource, next_limits,
};
use p2pchat_core::signaling::Client;
use serde_json::json;

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
}

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
                    let _ = self.media.attach(&self.room, &peer, true);
                    self.samples.insert(peer, (Vec::new(), 0));
                }
                RingAction::Disconnect { peer, reason } => {
                    let _ = self.media.detach(&self.room, &peer);
                    self.connected.remove(&peer);
                    self.samples.remove(&peer);
                    emit(json!({"event": "call-ended", "peer": peer, "reason": reason}));
                    if !self.ring.in_call() {
                        self.media.stop_capture(); // camera and microphone off
                        self.sharing = false;
                    }
                }
            }
        }
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
            _ => return false,
        }
        emit(json!({"event": "command", "command": line}));
        true
    }

    /// Once a second during a call: `call-connected` when a peer's media first arrives, `call-stats`,
    /// and adaptive bitrate from the worst participant's loss and RTT.
    pub async fn tick(&mut self) {
        let peers: Vec<String> = self.ring.participants().cloned().collect();
        let mut limits = FULL_QUALITY;
        for peer in peers {
            let Some(stats) = self.media.stats(&self.room, &peer).await else {
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
                "sending": stats.sending,
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

/// `--video`: test (pattern), camera[=/dev/videoN], screen (X11), none.
pub fn video_source(value: &str) -> Result<VideoSource, String> {
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
