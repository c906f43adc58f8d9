//! Calls in the app where the webview has no `RTCPeerConnection` (the Linux app): the UI's call state
//! machine (ringing, mesh, hang-up) stays in the web UI, and these commands do what its `PeerLink` does
//! with the browser's media: one local capture (camera + microphone, GStreamer) shared by every peer
//! of the call, put on or taken off each peer's native link (`p2pchat_core::media::CallSession` over
//! the links' tracks), mute, camera off, per-peer stats. Pictures (our preview and every remote peer's)
//! reach the window as JPEG over one `tauri::ipc::Channel`; frames are dropped while the window has not
//! drawn the ones it was sent. What a pipeline reports mid-call (a device that fails, a stream that
//! ends) reaches the window as a `calls://media` event with the person's notice.
//! The person's choice of camera, microphone and speaker (`call_media_devices` lists them,
//! `call_media_use_devices` picks) applies to the next capture and, mid-call, restarts that branch;
//! `call_media_share_screen` sends the screen instead of the camera and back, in the same call.
//!
//! `P2PCHAT_TEST_MEDIA=1` captures GStreamer's test pattern and tone instead of a camera and
//! microphone (tests under Xvfb, which has neither); with it, `P2PCHAT_TEST_MEDIA_FAIL_AFTER=N` makes
//! the pattern fail after N frames (tests of a pipeline error mid-call).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use p2pchat_core::links::LinkManager;
use p2pchat_core::media::{
    AudioSource, CallSession, Capture, CaptureOptions, EncodingLimits, FULL_QUALITY, FrameSink,
    FrameSource, MediaDevices, MediaEvent, MediaEvents, MissingElement, PlaybackOptions,
    VideoFrame, VideoSource, list_devices, missing_elements, set_speaker,
};
use serde::Serialize;
use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::plugin::{Builder, TauriPlugin};
use tauri::{AppHandle, Manager, Runtime, State};

use crate::error::{CommandError, ErrorKind};
use crate::ipc::{
    AppEvent, CallMediaStats, CallMediaSupport, DeviceChoice, FrameChannel, LocalMediaInfo,
    MediaNotice, emit,
};
use crate::links::LinksExt;
use sfu::SfuCalls;

pub mod sfu;

type Result<T> = std::result::Result<T, CommandError>;

/// Environment switch: test sources instead of camera and microphone.
pub const TEST_MEDIA_ENV: &str = "P2PCHAT_TEST_MEDIA";
/// With test media: the test pattern fails with a GStreamer error after this many frames.
pub const TEST_MEDIA_FAIL_AFTER_ENV: &str = "P2PCHAT_TEST_MEDIA_FAIL_AFTER";
/// Frames sent to the window and not yet drawn, beyond which new ones are dropped (about one per
/// tile of a full call: a window that keeps up never hits it).
const MAX_FRAMES_IN_FLIGHT: usize = 8;

/// The calls plugin (`plugin:calls|<command>`): owns [`Calls`] (`CallsExt::calls()`), the call session
/// registered on the links plugin's links at setup (before any remote track can arrive; the links
/// plugin must be registered first), and the call media commands.
pub fn init<R: Runtime>() -> TauriPlugin<R> {
    Builder::new("calls")
        .invoke_handler(tauri::generate_handler![
            call_media_support,
            call_media_start,
            call_media_stop,
            call_media_attach,
            call_media_detach,
            call_media_limits,
            call_media_mute,
            call_media_camera_off,
            call_media_stats,
            call_media_devices,
            call_media_use_devices,
            call_media_share_screen,
            call_frames,
            call_frames_drawn,
            sfu::call_sfu_give_key,
            sfu::call_sfu_peer_key,
            sfu::call_sfu_join,
            sfu::call_sfu_publish,
            sfu::call_sfu_leave,
            sfu::call_sfu_status,
        ])
        .setup(|app, _api| {
            let links = app.links().gate.sink().clone();
            let frames = Arc::new(FrameHub::default());
            let sfu = SfuCalls::new(links.clone(), frames.clone(), media_events(app.clone()));
            let calls = Calls::new(app.clone(), links, frames);
            app.manage(calls);
            app.manage(sfu);
            Ok(())
        })
        .build()
}

/// The calls of the app `Self` belongs to.
pub trait CallsExt<R: Runtime> {
    fn calls(&self) -> &Calls;
}

impl<R: Runtime, T: Manager<R>> CallsExt<R> for T {
    fn calls(&self) -> &Calls {
        self.state::<Calls>().inner()
    }
}

/// Where decoded pictures go: the window's channel, if it asked for frames.
#[derive(Default)]
pub struct FrameHub {
    channel: Mutex<Option<Channel<InvokeResponseBody>>>,
    in_flight: AtomicUsize,
}

#[derive(Serialize)]
struct FrameHeader<'a> {
    room: Option<&'a str>,
    peer: Option<&'a str>,
    width: u32,
    height: u32,
}

impl FrameHub {
    fn channel(&self) -> MutexGuard<'_, Option<Channel<InvokeResponseBody>>> {
        self.channel
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The window (re)subscribed: frames go to `channel` from now on.
    fn subscribe(&self, channel: Channel<InvokeResponseBody>) {
        *self.channel() = Some(channel);
        self.in_flight.store(0, Ordering::Relaxed);
    }

    /// The window drew `count` frames.
    fn drawn(&self, count: usize) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(count))
            });
    }

    /// One message of the channel (see [`FrameChannel`]).
    fn encode(frame: &VideoFrame) -> Vec<u8> {
        let (room, peer) = match &frame.source {
            FrameSource::Local => (None, None),
            FrameSource::Remote { room, peer } => (Some(room.as_str()), Some(peer.as_str())),
        };
        let header = serde_json::to_vec(&FrameHeader {
            room,
            peer,
            width: frame.width,
            height: frame.height,
        })
        .unwrap_or_default();
        let mut out = Vec::with_capacity(4 + header.len() + frame.jpeg.len());
        out.extend_from_slice(&u32::try_from(header.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&frame.jpeg);
        out
    }
}

impl FrameSink for FrameHub {
    fn frame(&self, frame: VideoFrame) {
        let channel = self.channel().clone();
        let Some(channel) = channel else { return };
        // The window is behind: drop this picture, the next one replaces it anyway.
        if self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < MAX_FRAMES_IN_FLIGHT).then_some(n + 1)
            })
            .is_err()
        {
            return;
        }
        if let Err(err) = channel.send(InvokeResponseBody::Raw(Self::encode(&frame))) {
            tracing::debug!(%err, "frame not delivered to the window");
            self.drawn(1);
        }
    }
}

/// The call's media in the app: the call session (capture, playbacks) and the frame hub (managed
/// Tauri state).
pub struct Calls {
    frames: Arc<FrameHub>,
    media: Arc<CallSession>,
    /// The speaker the person chose is not connected (said with the capture's notices).
    speaker_notice: Mutex<Option<String>>,
    /// The bitrate each peer's quality allows (adaptive bitrate, per peer as the browser does it); the
    /// one encoder every peer shares runs at the lowest, so the worst path is not flooded.
    bitrates: Mutex<HashMap<(String, String), u32>>,
    /// The devices the person chose, for the next capture.
    choice: Mutex<DeviceChoice>,
}

impl Calls {
    /// Calls over `links`: the peers' pictures go to `frames`, their sound to the speaker, and what
    /// the pipelines report mid-call to the window (`calls://media`).
    pub fn new<R: Runtime>(app: AppHandle<R>, links: LinkManager, frames: Arc<FrameHub>) -> Calls {
        let playback = PlaybackOptions {
            frames: Some(frames.clone() as Arc<dyn FrameSink>),
            speaker: true,
        };
        let (media, events) = CallSession::new(links, playback);
        forward_media_events(app, events);
        Calls {
            frames,
            media: Arc::new(media),
            speaker_notice: Mutex::new(None),
            bitrates: Mutex::new(HashMap::new()),
            choice: Mutex::new(DeviceChoice::default()),
        }
    }

    /// Records `peer`'s allowed bitrate (`None`: they left) and applies the lowest to the encoder.
    fn limit_bitrate(&self, room: &str, peer: &str, bitrate: Option<u32>) {
        let mut bitrates = self
            .bitrates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (room.to_owned(), peer.to_owned());
        match bitrate {
            Some(bitrate) => bitrates.insert(key, bitrate),
            None => bitrates.remove(&key),
        };
        let lowest = bitrates.values().copied().min();
        if let Some(capture) = self.media.capture() {
            capture.set_limits(EncodingLimits {
                max_bitrate: lowest.unwrap_or(FULL_QUALITY.max_bitrate),
                ..FULL_QUALITY
            });
        }
    }

    fn speaker_notice(&self) -> MutexGuard<'_, Option<String>> {
        self.speaker_notice
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn choice(&self) -> MutexGuard<'_, DeviceChoice> {
        self.choice
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The call's capture, while one is open.
    pub fn capture(&self) -> Option<Arc<Capture>> {
        self.media.capture()
    }

    fn current(&self) -> Result<Arc<Capture>> {
        self.media.capture().ok_or_else(|| {
            CommandError::new(ErrorKind::Unavailable, "no camera or microphone is open")
        })
    }
}

/// What the pipelines report mid-call reaches the window as `calls://media`, with the person's notice.
fn forward_media_events<R: Runtime>(
    app: AppHandle<R>,
    mut events: tokio::sync::mpsc::UnboundedReceiver<MediaEvent>,
) {
    tauri::async_runtime::spawn(async move {
        while let Some(event) = events.recv().await {
            let notice = MediaNotice {
                notice: event.notice(),
                event,
            };
            emit(&app, AppEvent::Media(&notice));
        }
    });
}

/// A sender whose reports reach the window as [`forward_media_events`] says (the SFU's playbacks).
fn media_events<R: Runtime>(app: AppHandle<R>) -> MediaEvents {
    let (events, rx) = tokio::sync::mpsc::unbounded_channel();
    forward_media_events(app, rx);
    events
}

fn test_media() -> bool {
    std::env::var(TEST_MEDIA_ENV).is_ok_and(|v| v.trim() == "1")
}

fn missing_message(missing: &[MissingElement]) -> String {
    let mut packages: Vec<&str> = missing.iter().map(|m| m.package.as_str()).collect();
    packages.dedup();
    let elements: Vec<&str> = missing.iter().map(|m| m.element.as_str()).collect();
    format!(
        "calls need GStreamer elements that are not installed ({}): install {}",
        elements.join(", "),
        packages.join(" ")
    )
}

/// Whether native calls can run (all GStreamer elements present) and what is missing.
#[tauri::command]
pub fn call_media_support() -> CallMediaSupport {
    let missing = missing_elements();
    // A room that can call natively: load the plugins now, so the first call starts at once.
    static PREWARM: std::sync::Once = std::sync::Once::new();
    if missing.is_empty() {
        PREWARM.call_once(|| {
            tauri::async_runtime::spawn_blocking(p2pchat_core::media::prewarm);
        });
    }
    CallMediaSupport {
        available: missing.is_empty(),
        missing,
        test_media: test_media(),
    }
}

/// Opens the camera and microphone (once per call; every peer shares them). No camera: audio only,
/// with a notice. Already open: returns what is open.
#[tauri::command]
pub async fn call_media_start(calls: State<'_, Calls>) -> Result<LocalMediaInfo> {
    let describe = |c: &Capture| LocalMediaInfo {
        video: c.has_video(),
        audio: c.has_audio(),
        notices: c
            .notices
            .iter()
            .chain(calls.speaker_notice().as_ref())
            .cloned()
            .collect(),
    };
    if let Some(capture) = calls.media.capture() {
        return Ok(describe(&capture));
    }
    let missing = missing_elements();
    if !missing.is_empty() {
        return Err(CommandError::new(
            ErrorKind::Unavailable,
            missing_message(&missing),
        ));
    }
    let choice = calls.choice().clone();
    let (video, audio) = sources(&choice);
    let options = CaptureOptions {
        video,
        audio,
        preview: Some(calls.frames.clone() as Arc<dyn FrameSink>),
        echo_cancel: !test_media(),
    };
    // Starting pipelines waits on devices: off the async runtime's threads.
    let media = calls.media.clone();
    let (capture, speaker_notice) = tauri::async_runtime::spawn_blocking(move || {
        let speaker_notice = apply_speaker(choice.speaker.as_deref());
        media.start_capture(options).map(|c| (c, speaker_notice))
    })
    .await
    .map_err(|e| CommandError::new(ErrorKind::Unavailable, e.to_string()))?
    .map_err(|e| CommandError::new(ErrorKind::Unavailable, e.to_string()))?;
    *calls.speaker_notice() = speaker_notice;
    let info = describe(&capture);
    tracing::info!(video = info.video, audio = info.audio, "call media started");
    Ok(info)
}

/// What a capture opens for `choice` (test sources under `P2PCHAT_TEST_MEDIA=1`).
fn sources(choice: &DeviceChoice) -> (VideoSource, AudioSource) {
    if test_media() {
        let fail_after = std::env::var(TEST_MEDIA_FAIL_AFTER_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok());
        let video = fail_after.map_or(VideoSource::Test, VideoSource::TestFailingAfter);
        (video, AudioSource::Test)
    } else {
        (
            VideoSource::Camera(choice.camera.clone()),
            AudioSource::Microphone(choice.microphone.clone()),
        )
    }
}

/// Plays calls on `speaker` from now on; one that is not connected: the default, with a notice.
/// Blocking (lists the devices).
fn apply_speaker(speaker: Option<&str>) -> Option<String> {
    let Some(speaker) = speaker else {
        set_speaker(None);
        return None;
    };
    let present = list_devices().is_ok_and(|d| d.has_speaker(speaker));
    if present {
        set_speaker(Some(speaker.to_owned()));
        None
    } else {
        set_speaker(None);
        Some(format!(
            "The chosen speaker {speaker} is not connected: using the default speaker."
        ))
    }
}

/// The cameras, microphones and speakers present now (empty lists where there are none, e.g. no
/// PulseAudio).
#[tauri::command]
pub async fn call_media_devices() -> Result<MediaDevices> {
    let devices = tauri::async_runtime::spawn_blocking(list_devices)
        .await
        .map_err(|e| CommandError::new(ErrorKind::Unavailable, e.to_string()))?
        .map_err(|e| CommandError::new(ErrorKind::Unavailable, e.to_string()))?;
    tracing::info!(
        cameras = devices.cameras.len(),
        microphones = devices.microphones.len(),
        speakers = devices.speakers.len(),
        "call devices listed"
    );
    Ok(devices)
}

/// Chooses the camera, microphone and speaker for calls. During a call a changed camera or
/// microphone restarts that source at once (the peers keep the same stream); the speaker applies
/// to the next call. Returns notices (a chosen device that is gone: the default is used).
#[tauri::command]
pub async fn call_media_use_devices(
    calls: State<'_, Calls>,
    choice: DeviceChoice,
) -> Result<Vec<String>> {
    let previous = std::mem::replace(&mut *calls.choice(), choice.clone());
    let Some(capture) = calls.media.capture() else {
        return Ok(Vec::new());
    };
    if test_media() {
        return Ok(Vec::new());
    }
    let (video, audio) = sources(&choice);
    let camera = (choice.camera != previous.camera).then_some(video);
    let microphone = (choice.microphone != previous.microphone).then_some(audio);
    let speaker_changed = choice.speaker != previous.speaker;
    tauri::async_runtime::spawn_blocking(move || {
        let mut notices = capture.use_devices(camera, microphone);
        if speaker_changed {
            notices.extend(apply_speaker(choice.speaker.as_deref()));
        }
        notices
    })
    .await
    .map_err(|e| CommandError::new(ErrorKind::Unavailable, e.to_string()))
}

/// Sends the screen (X11) instead of the camera to everyone in the call (`on`), or the camera again,
/// without a new call. An `unavailable` error says why the screen cannot be shared (no X11 display,
/// e.g. a Wayland session); the camera goes on then.
#[tauri::command]
pub async fn call_media_share_screen(calls: State<'_, Calls>, on: bool) -> Result<Vec<String>> {
    let capture = calls.current()?;
    tauri::async_runtime::spawn_blocking(move || capture.share_screen(on))
        .await
        .map_err(|e| CommandError::new(ErrorKind::Unavailable, e.to_string()))?
        .map_err(|notice| CommandError::new(ErrorKind::Unavailable, notice))
}

/// Closes the camera and microphone (the call ended); links keep whatever was detached from them.
#[tauri::command]
pub fn call_media_stop(calls: State<'_, Calls>) {
    if calls.media.stop_capture() {
        tracing::info!("call media stopped");
    }
    calls
        .bitrates
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
}

/// Puts the open capture on the link to `peer` in `room`, sending at once when `live` (false: the call
/// still rings, media is negotiated but not sent). Resolves once the link sent its offer, if one was
/// needed; false when there is no link to `peer`.
#[tauri::command(rename_all = "snake_case")]
pub async fn call_media_attach(
    calls: State<'_, Calls>,
    room: String,
    peer: String,
    live: bool,
) -> Result<bool> {
    calls.current()?;
    let Some(applied) = calls.media.attach(&room, &peer, live) else {
        return Ok(false);
    };
    let _ = applied.await;
    Ok(true)
}

/// Takes our media off the link to `peer` (they left the call, or it ended); false when no link.
#[tauri::command(rename_all = "snake_case")]
pub async fn call_media_detach(
    calls: State<'_, Calls>,
    room: String,
    peer: String,
) -> Result<bool> {
    calls.limit_bitrate(&room, &peer, None);
    let Some(applied) = calls.media.detach(&room, &peer) else {
        return Ok(false);
    };
    let _ = applied.await;
    Ok(true)
}

/// Mutes (sends silence) or unmutes the microphone for everyone in the call.
#[tauri::command]
pub fn call_media_mute(calls: State<'_, Calls>, muted: bool) -> Result<()> {
    calls.current()?.set_muted(muted);
    Ok(())
}

/// Stops or resumes sending the camera's picture for everyone in the call.
#[tauri::command(rename_all = "snake_case")]
pub fn call_media_camera_off(calls: State<'_, Calls>, off: bool) -> Result<()> {
    calls.current()?.set_camera_off(off);
    Ok(())
}

/// The video bitrate (bit/s) adaptive bitrate allows for `peer` (the web UI's rule, from this link's
/// quality): the shared encoder runs at the lowest of the call's peers.
#[tauri::command(rename_all = "snake_case")]
pub fn call_media_limits(calls: State<'_, Calls>, room: String, peer: String, max_bitrate: u32) {
    calls.limit_bitrate(&room, &peer, Some(max_bitrate));
}

/// Call quality of the link to `peer` (null when there is no link).
#[tauri::command(rename_all = "snake_case")]
pub async fn call_media_stats(
    calls: State<'_, Calls>,
    room: String,
    peer: String,
) -> Result<Option<CallMediaStats>> {
    let stats = calls.media.stats(&room, &peer).await;
    Ok(stats.map(|s| CallMediaStats {
        frames_decoded: s.frames_decoded as f64,
        audio_level: f64::from(s.audio_level),
        bytes_received: s.bytes_received as f64,
        rtt_ms: s.rtt_ms,
        loss: s.loss,
        sending: s.sending,
    }))
}

/// Sends every call picture (preview and peers) to `frames` from now on (see [`FrameChannel`]).
#[tauri::command]
pub fn call_frames(calls: State<'_, Calls>, frames: FrameChannel) {
    calls.frames.subscribe(frames.0);
}

/// The window drew `count` of the frames it was sent (it is not behind).
#[tauri::command]
pub fn call_frames_drawn(calls: State<'_, Calls>, count: u32) {
    calls.frames.drawn(count as usize);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame message carries whose picture it is before the JPEG, so the window routes it to a tile.
    #[test]
    fn frame_message_is_header_then_jpeg() {
        let frame = VideoFrame {
            source: FrameSource::Remote {
                room: "r".into(),
                peer: "p".into(),
            },
            width: 320,
            height: 240,
            jpeg: vec![0xff, 0xd8, 0xff].into(),
        };
        let message = FrameHub::encode(&frame);
        let len = u32::from_be_bytes(message[..4].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&message[4..4 + len]).unwrap();
        assert_eq!(header["room"], "r");
        assert_eq!(header["peer"], "p");
        assert_eq!(header["width"], 320);
        assert_eq!(&message[4 + len..], &[0xff, 0xd8, 0xff]);
    }

    /// The message names the Debian package of each missing element.
    #[test]
    fn missing_elements_name_their_package() {
        let text = missing_message(&[MissingElement {
            element: "vp8enc".into(),
            package: "gstreamer1.0-plugins-good".into(),
        }]);
        assert!(text.contains("vp8enc") && text.contains("install gstreamer1.0-plugins-good"));
    }
}
