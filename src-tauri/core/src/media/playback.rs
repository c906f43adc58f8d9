//! The remote side of a call: one received track (VP8 video or Opus audio) → jitter buffer → decoder →
//! a [`FrameSink`] (JPEG pictures for the window) or the speaker, with the counters a person and the
//! tests see: decoded frames, and the level of the decoded sound. Its bus is watched while it plays
//! (`bus.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::bus::BusWatch;
use super::capture::{jpeg_frame, quote};
use super::types::{MediaEvents, MediaPipeline, PlaybackOptions, PlaybackStats};
use super::{FrameSource, MediaError};

/// Jitter buffer depth: enough for loss recovery by retransmission on a LAN, small for lip sync.
const JITTER_MS: u32 = 60;

/// One remote track being played, until dropped.
pub struct Playback {
    pub(super) pipeline: gst::Pipeline,
    source: gst_app::AppSrc,
    stats: Arc<PlaybackStats>,
    /// Reports what goes wrong while it plays; `None` before it runs and while dropping.
    watch: Option<BusWatch>,
}

impl Drop for Playback {
    fn drop(&mut self) {
        drop(self.watch.take()); // stopping is not news
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Which pipeline plays `source`'s video (`true`) or sound.
fn role(source: &FrameSource, video: bool) -> MediaPipeline {
    match (source.clone(), video) {
        (FrameSource::Remote { room, peer }, true) => MediaPipeline::PeerVideo { room, peer },
        (FrameSource::Remote { room, peer }, false) => MediaPipeline::PeerAudio { room, peer },
        (FrameSource::Local, true) => MediaPipeline::Camera,
        (FrameSource::Local, false) => MediaPipeline::Microphone,
    }
}

impl Playback {
    /// Plays VP8 RTP with payload type `payload_type`; pictures go to `options.frames` as `source`,
    /// what goes wrong while it plays to `events`.
    pub fn video(
        payload_type: u8,
        source: FrameSource,
        options: &PlaybackOptions,
        events: &MediaEvents,
    ) -> Result<Playback, MediaError> {
        let tail = if options.frames.is_some() {
            "jpegenc quality=75 ! appsink name=out sync=false max-buffers=2 drop=true"
        } else {
            "appsink name=out sync=false max-buffers=2 drop=true"
        };
        let description = format!(
            "appsrc name=src is-live=true format=time do-timestamp=true max-bytes=4000000 \
             ! application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload={payload_type} \
             ! rtpjitterbuffer latency={JITTER_MS} drop-on-latency=true ! rtpvp8depay name=depay ! vp8dec \
             ! videoconvert ! {tail}"
        );
        let playback = Playback::build(&description)?;
        let stats = playback.stats.clone();
        let frames = options.frames.clone();
        let role = role(&source, true);
        playback.on_sample(move |sample| {
            stats.frames_decoded.fetch_add(1, Ordering::Relaxed);
            if let Some(sink) = &frames
                && let Some(frame) = jpeg_frame(sample, source.clone())
            {
                sink.frame(frame);
            }
        })?;
        playback.run(role, events)
    }

    /// Plays `source`'s Opus RTP with payload type `payload_type`, measuring its level (and to the
    /// speaker if asked); what goes wrong while it plays goes to `events`.
    pub fn audio(
        payload_type: u8,
        source: &FrameSource,
        options: &PlaybackOptions,
        events: &MediaEvents,
    ) -> Result<Playback, MediaError> {
        let speaker = |sink: &str| {
            format!(
                "tee name=t t. ! queue ! appsink name=out sync=false max-buffers=8 drop=true \
                 t. ! queue ! webrtcechoprobe ! audioconvert ! audioresample ! {sink}"
            )
        };
        let measure_only = "appsink name=out sync=false max-buffers=8 drop=true";
        let description = |tail: &str| {
            format!(
                "appsrc name=src is-live=true format=time do-timestamp=true max-bytes=1000000 \
                 ! application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload={payload_type} \
                 ! rtpjitterbuffer latency={JITTER_MS} drop-on-latency=true ! rtpopusdepay name=depay ! opusdec plc=true \
                 ! audioconvert ! audioresample ! audio/x-raw,format=F32LE,channels=1,rate=48000 ! {tail}"
            )
        };
        let start_with = |tail: &str| -> Result<Playback, MediaError> {
            let playback = Playback::build(&description(tail))?;
            let stats = playback.stats.clone();
            playback.on_sample(move |sample| {
                if let Some(rms) = rms_of(sample) {
                    // A level meter: rises at once, falls by 5 % per 20 ms buffer (to 8 % in a second),
                    // so a short sound (a browser's fake microphone beeps) still shows when read.
                    let previous = f32::from_bits(stats.audio_level.load(Ordering::Relaxed));
                    let level = rms.max(previous * 0.95);
                    stats.audio_level.store(level.to_bits(), Ordering::Relaxed);
                }
            })?;
            playback.run(role(source, false), events)
        };
        if options.speaker {
            // The chosen speaker; gone (unplugged): the default one.
            if let Some(device) = super::devices::speaker() {
                match start_with(&speaker(&format!("pulsesink device={}", quote(&device)))) {
                    Ok(playback) => return Ok(playback),
                    Err(err) => {
                        tracing::warn!(%err, %device, "chosen speaker unavailable; using the default")
                    }
                }
            }
            match start_with(&speaker("autoaudiosink")) {
                Ok(playback) => return Ok(playback),
                // No sound device (a server, a container): the call goes on, measured but silent.
                Err(err) => tracing::warn!(%err, "no speaker; playing the call's sound nowhere"),
            }
        }
        start_with(measure_only)
    }

    /// Hands one received RTP packet to the jitter buffer (dropped if the pipeline is behind).
    pub fn push(&self, rtp: Vec<u8>) {
        self.stats
            .bytes_received
            .fetch_add(rtp.len() as u64, Ordering::Relaxed);
        let _ = self.source.push_buffer(gst::Buffer::from_mut_slice(rtp));
    }

    /// Passes every depacketized frame through `open` before the decoder: its result replaces the
    /// frame, `None` drops it (an SFU call's sealed frames that do not open never reach the decoder).
    /// Call before the first packet is pushed.
    pub fn open_frames_with(
        &self,
        open: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Result<(), MediaError> {
        let pad = self
            .pipeline
            .by_name("depay")
            .and_then(|depay| depay.static_pad("src"))
            .ok_or_else(|| MediaError::Pipeline("no depayloader".into()))?;
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(gst::PadProbeData::Buffer(sealed)) = &info.data else {
                return gst::PadProbeReturn::Ok;
            };
            let opened = sealed
                .map_readable()
                .ok()
                .and_then(|map| open(map.as_slice()));
            // Dropped, the probe's data stays the sealed buffer (GStreamer unrefs it).
            let Some(opened) = opened else {
                return gst::PadProbeReturn::Drop;
            };
            let mut frame = gst::Buffer::from_mut_slice(opened);
            if let Some(meta) = frame.get_mut() {
                meta.set_pts(sealed.pts());
                meta.set_dts(sealed.dts());
                meta.set_duration(sealed.duration());
                meta.set_flags(sealed.flags());
            }
            info.data = Some(gst::PadProbeData::Buffer(frame));
            gst::PadProbeReturn::Ok
        });
        Ok(())
    }

    pub fn stats(&self) -> Arc<PlaybackStats> {
        self.stats.clone()
    }

    fn build(description: &str) -> Result<Playback, MediaError> {
        super::init()?;
        let pipeline = gst::parse_launch(description)
            .map_err(|e| MediaError::Pipeline(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| MediaError::Pipeline("not a pipeline".into()))?;
        let source = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| MediaError::Pipeline("no appsrc".into()))?;
        Ok(Playback {
            pipeline,
            source,
            stats: Arc::default(),
            watch: None,
        })
    }

    fn on_sample(
        &self,
        mut each: impl FnMut(&gst::Sample) + Send + 'static,
    ) -> Result<(), MediaError> {
        let out = self
            .pipeline
            .by_name("out")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| MediaError::Pipeline("no appsink".into()))?;
        out.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    each(&sample);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        Ok(())
    }

    /// Starts the pipeline without waiting for it to preroll: it prerolls on the first packet, which the
    /// caller pushes only after this returns (waiting held the caller, an async task, for the whole
    /// 3 s timeout, and the call's outgoing packets queued behind it). Failures to start (a missing
    /// device) are still returned; later ones go to `events` as `role`'s.
    fn run(mut self, role: MediaPipeline, events: &MediaEvents) -> Result<Playback, MediaError> {
        self.pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| MediaError::Pipeline(format!("cannot start: {e}")))?;
        self.watch = Some(BusWatch::start(&self.pipeline, false, role, events.clone()));
        Ok(self)
    }
}

/// Root mean square of an F32 mono buffer, 0..1.
fn rms_of(sample: &gst::Sample) -> Option<f32> {
    let map = sample.buffer()?.map_readable().ok()?;
    let samples: Vec<f32> = map
        .as_slice()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if samples.is_empty() {
        return None;
    }
    let mean_square = samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32;
    Some(mean_square.sqrt().min(1.0))
}
