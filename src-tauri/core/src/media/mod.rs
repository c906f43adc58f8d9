//! Native calls: camera and microphone captured and encoded by GStreamer (VP8 + Opus), sent as RTP on the
//! link's own webrtc-rs connection (one connection per peer, as the web UI keeps), and remote RTP
//! jitter-buffered, decoded and handed to a display and the speaker. Used where the webview has no
//! `RTCPeerConnection` (the Linux app) and by the headless peer; a browser at the other end cannot tell.
//! Media sits above the links: it uses their track hooks (`crate::links::OutgoingMedia`,
//! `RemoteTracks`), and the links never use media.
//!
//! | file | owns |
//! |---|---|
//! | `session.rs` | [`CallSession`]: the call's one capture put on and taken off peers' links, their tracks played, [`MediaStats`], the pipelines' [`MediaEvent`]s |
//! | `bus.rs` | a watcher per pipeline for its whole life: errors, device warnings and end of stream become [`MediaEvent`]s |
//! | `elements.rs` | the GStreamer elements a call needs, and which Debian package ships each |
//! | `capture.rs` | [`Capture`]: local sources (camera or screen, microphone) → one VP8 and one Opus RTP stream, shared by every peer of a call; a source switched mid-call continues the same stream |
//! | `devices.rs` | the cameras, microphones and speakers to choose from (GStreamer's device monitor), the chosen speaker |
//! | `playback.rs` | [`Playback`]: one remote track → decoded frames (to a [`FrameSink`]) or sound, with counters |
//! | `abr.rs` | the adaptive-bitrate rule (the web UI's `abr.ts`, same thresholds) |
//! | `types.rs` | what callers pass and read (sources, playback options, counters, events), on every platform |
//! | `unsupported.rs` | the same API elsewhere than Linux (those webviews have WebRTC): nothing starts |
//! | `ring.rs` | ringing without the web UI (the headless peer): the web UI's call signals as a state machine |

pub mod abr;
#[cfg(target_os = "linux")]
mod bus;
#[cfg(target_os = "linux")]
mod capture;
mod devices;
mod elements;
#[cfg(target_os = "linux")]
mod playback;
pub mod ring;
mod session;
#[cfg(all(test, target_os = "linux"))]
mod tests;
mod types;
/// Other systems' webviews have WebRTC: native media never runs there, and says so if asked.
#[cfg(not(target_os = "linux"))]
mod unsupported;

pub use abr::{EncodingLimits, FULL_QUALITY, QualitySample, next_limits};
#[cfg(target_os = "linux")]
pub use capture::{Capture, EncodedFrame};
pub use devices::{MediaDevice, MediaDevices, list_devices, set_speaker, speaker};
pub use elements::{MissingElement, missing_elements, prewarm};
#[cfg(target_os = "linux")]
pub use playback::Playback;
pub use session::{CallSession, MediaStats};
pub use types::{
    AudioSource, CaptureOptions, MediaEvent, MediaEvents, MediaPipeline, PlaybackOptions,
    PlaybackStats, VideoSource,
};
#[cfg(not(target_os = "linux"))]
pub use unsupported::{Capture, Playback};

/// Whose picture a frame is (or whose sound a playback plays).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FrameSource {
    /// Our own camera (the local preview).
    Local,
    /// A call participant.
    Remote { room: String, peer: String },
}

/// A decoded picture, JPEG-encoded for display in the webview.
#[derive(Debug, Clone)]
pub struct VideoFrame {
    pub source: FrameSource,
    pub width: u32,
    pub height: u32,
    pub jpeg: bytes::Bytes,
}

/// Where decoded pictures go (the app's window). Called on GStreamer's streaming threads: it must not
/// block (drop frames instead when the display is behind).
pub trait FrameSink: Send + Sync + 'static {
    fn frame(&self, frame: VideoFrame);
}

/// Why media could not start.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("GStreamer could not start: {0}")]
    Init(String),
    #[error("missing GStreamer elements: {}", describe_missing(.0))]
    MissingElements(Vec<MissingElement>),
    #[error("{0}")]
    Pipeline(String),
}

fn describe_missing(missing: &[MissingElement]) -> String {
    missing
        .iter()
        .map(|m| format!("{} (install {})", m.element, m.package))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Initialises GStreamer once per process.
#[cfg(target_os = "linux")]
pub(crate) fn init() -> Result<(), MediaError> {
    use std::sync::OnceLock;
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| gstreamer::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(MediaError::Init)
}
