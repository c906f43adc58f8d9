//! Native media where the app's webview has WebRTC of its own (macOS, Windows, Android, iOS): the same
//! API as the GStreamer pipelines of Linux, but nothing can start, so a call says why instead of failing
//! to build.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast;

use super::types::{
    AudioSource, CaptureOptions, MediaEvents, PlaybackOptions, PlaybackStats, VideoSource,
};
use super::{EncodingLimits, FrameSource, MediaError};

fn unsupported() -> MediaError {
    MediaError::Init(
        "native calls run only on Linux; this system's webview makes calls itself".into(),
    )
}

/// Never running: [`Capture::start`] always fails here.
pub struct Capture {
    pub notices: Vec<String>,
}

impl Capture {
    pub fn start(_options: CaptureOptions, _events: MediaEvents) -> Result<Capture, MediaError> {
        Err(unsupported())
    }

    pub fn has_video(&self) -> bool {
        false
    }

    pub fn has_audio(&self) -> bool {
        false
    }

    pub fn set_muted(&self, _muted: bool) {}

    pub fn set_camera_off(&self, _off: bool) {}

    pub fn set_limits(&self, _limits: EncodingLimits) {}

    pub fn request_keyframe(&self) {}

    pub fn is_sharing_screen(&self) -> bool {
        false
    }

    pub fn share_screen(&self, _on: bool) -> Result<Vec<String>, String> {
        Err(unsupported().to_string())
    }

    pub fn use_devices(
        &self,
        _camera: Option<VideoSource>,
        _microphone: Option<AudioSource>,
    ) -> Vec<String> {
        Vec::new()
    }

    pub fn subscribe(&self, _video: bool) -> Option<broadcast::Receiver<Bytes>> {
        None
    }
}

impl crate::links::OutgoingMedia for Capture {
    fn subscribe(&self, _video: bool) -> Option<broadcast::Receiver<Bytes>> {
        None
    }

    fn request_keyframe(&self) {}
}

/// Never running: remote tracks are not played natively here.
pub struct Playback {
    stats: Arc<PlaybackStats>,
}

impl Playback {
    pub fn video(
        _payload_type: u8,
        _source: FrameSource,
        _options: &PlaybackOptions,
        _events: &MediaEvents,
    ) -> Result<Playback, MediaError> {
        Err(unsupported())
    }

    pub fn audio(
        _payload_type: u8,
        _source: &FrameSource,
        _options: &PlaybackOptions,
        _events: &MediaEvents,
    ) -> Result<Playback, MediaError> {
        Err(unsupported())
    }

    pub fn push(&self, _rtp: Vec<u8>) {}

    pub fn stats(&self) -> Arc<PlaybackStats> {
        self.stats.clone()
    }
}
