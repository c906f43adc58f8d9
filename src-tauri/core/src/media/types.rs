//! What callers of native media pass in and read back, on every platform (the pipelines themselves
//! exist only where GStreamer does: see `mod.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use serde::Serialize;
use ts_rs::TS;

use super::FrameSink;

/// Where the picture comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoSource {
    None,
    /// A moving test pattern (tests, the headless peer).
    Test,
    /// The moving test pattern at this size and rate (light enough for many peers on one machine).
    TestSized {
        width: u32,
        height: u32,
        fps: u32,
    },
    /// The test pattern, failing with a GStreamer error after this many frames (tests of a pipeline
    /// that breaks mid-call).
    TestFailingAfter(u32),
    /// A camera: a V4L2 device path, or `None` for the system's default.
    Camera(Option<String>),
    /// The whole screen of the X11 display in `DISPLAY` (`ximagesrc`), at its own size, 15 fps.
    Screen,
}

/// Where the sound comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioSource {
    None,
    /// A steady 440 Hz tone (tests, the headless peer).
    Test,
    /// A microphone: a PulseAudio source name, or `None` for the system's default.
    Microphone(Option<String>),
}

pub struct CaptureOptions {
    pub video: VideoSource,
    pub audio: AudioSource,
    /// Receives the local preview (320×240 JPEG, 15 fps), if any.
    pub preview: Option<Arc<dyn FrameSink>>,
    /// Cancel the far side's voice picked up by the microphone (needs the speaker's echo probe,
    /// which `Playback` adds when it plays to the speaker).
    pub echo_cancel: bool,
}

/// Where decoded media goes.
#[derive(Clone, Default)]
pub struct PlaybackOptions {
    /// Receives decoded pictures as JPEG (the app's window); without it frames are only counted.
    pub frames: Option<Arc<dyn FrameSink>>,
    /// Play sound on the speaker (the app); without it sound is only measured. Which speaker: the one
    /// chosen with [`set_speaker`](super::set_speaker) (a PulseAudio sink), else the system's default.
    pub speaker: bool,
}

/// Counters of one playback, read by the quality indicator and the headless peer.
#[derive(Debug, Default)]
pub struct PlaybackStats {
    pub(super) frames_decoded: AtomicU64,
    /// RMS of the decoded sound (0..1) as f32 bits, held: rises at once, falls over about a second.
    pub(super) audio_level: AtomicU32,
    pub(super) bytes_received: AtomicU64,
}

impl std::fmt::Debug for PlaybackOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybackOptions")
            .field("frames", &self.frames.is_some())
            .field("speaker", &self.speaker)
            .finish()
    }
}

impl PlaybackStats {
    pub fn frames_decoded(&self) -> u64 {
        self.frames_decoded.load(Ordering::Relaxed)
    }

    pub fn audio_level(&self) -> f32 {
        f32::from_bits(self.audio_level.load(Ordering::Relaxed))
    }

    pub fn bytes_received(&self) -> u64 {
        self.bytes_received.load(Ordering::Relaxed)
    }
}

/// Which of a call's pipelines something happened to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "media", rename_all = "kebab-case")]
pub enum MediaPipeline {
    /// Our picture from a camera (or the test pattern).
    Camera,
    /// Our picture from the shared screen.
    Screen,
    Microphone,
    /// The picture `peer` sends us.
    PeerVideo {
        room: String,
        peer: String,
    },
    /// The sound `peer` sends us.
    PeerAudio {
        room: String,
        peer: String,
    },
}

/// What a call's pipeline reported mid-call (its GStreamer bus), published by the call session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MediaEvent {
    /// The pipeline stopped with an error: its media is gone (until another device, a new share or
    /// the next call starts a new one).
    Error {
        pipeline: MediaPipeline,
        message: String,
    },
    /// A device misbehaves, and the pipeline goes on.
    Warning {
        pipeline: MediaPipeline,
        message: String,
    },
    /// The source ran out (end of stream).
    Ended { pipeline: MediaPipeline },
}

/// Where pipelines send their [`MediaEvent`]s (the call session's queue).
pub type MediaEvents = tokio::sync::mpsc::UnboundedSender<MediaEvent>;

impl MediaEvent {
    /// What it means for the person in the call, in words.
    pub fn notice(&self) -> String {
        let (pipeline, detail) = match self {
            MediaEvent::Error { pipeline, message } | MediaEvent::Warning { pipeline, message } => {
                (pipeline, format!(" ({message})"))
            }
            MediaEvent::Ended { pipeline } => (pipeline, String::new()),
        };
        let (what, consequence) = match pipeline {
            MediaPipeline::Camera => ("Your camera", ": the others no longer see you."),
            MediaPipeline::Screen => ("Screen sharing", ": the others no longer see your screen."),
            MediaPipeline::Microphone => ("Your microphone", ": the others no longer hear you."),
            MediaPipeline::PeerVideo { .. } => ("A participant's picture", "."),
            MediaPipeline::PeerAudio { .. } => ("A participant's sound", "."),
        };
        match self {
            MediaEvent::Error { .. } => format!("{what} stopped{detail}{consequence}"),
            MediaEvent::Ended { .. } => format!("{what} ended{consequence}"),
            MediaEvent::Warning { .. } => format!("{what} has a problem{detail}."),
        }
    }
}
