//! The local side of a call: camera and microphone (or test sources), each in its own pipeline so a
//! missing camera still leaves a call with sound, encoded once and shared by every peer of the call
//! (a mesh of up to 6 costs one encode, not five). Each pipeline ends in an appsink whose RTP packets
//! go to a broadcast channel; every link forwards them on its own track (`crate::links::media`).

use std::sync::Arc;

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use tokio::sync::broadcast;

use super::types::{AudioSource, CaptureOptions, VideoSource};
use super::{
    EncodingLimits, FULL_QUALITY, FrameSink, FrameSource, MediaError, OPUS_PAYLOAD_TYPE,
    VP8_PAYLOAD_TYPE, VideoFrame,
};

/// RTP packets buffered per subscriber before a slow link starts skipping (≈ 2 s of video).
const RTP_QUEUE: usize = 512;

/// One running capture pipeline.
struct Branch {
    pipeline: gst::Pipeline,
    rtp: broadcast::Sender<Bytes>,
    /// `valve` (camera) or `volume` (microphone): switches the media off without renegotiating.
    switch: gst::Element,
    encoder: gst::Element,
    rtp_sink: gst_app::AppSink,
}

impl Drop for Branch {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Local media, running until dropped.
pub struct Capture {
    video: Option<Branch>,
    audio: Option<Branch>,
    /// Why a device is not in the call (missing, busy), in words for the person.
    pub notices: Vec<String>,
}

impl Capture {
    /// Starts the sources. A device that cannot start is left out with a notice (the call goes on
    /// audio-only, video-only or receive-only); only a GStreamer that cannot run at all is an error.
    pub fn start(options: CaptureOptions) -> Result<Capture, MediaError> {
        super::init()?;
        let mut notices = Vec::new();
        let video = match video_description(&options) {
            None => None,
            Some(description) => match start_branch(&description, "camera", "encoder") {
                Ok(branch) => {
                    if let Some(sink) = options.preview.clone() {
                        connect_preview(&branch.pipeline, sink);
                    }
                    Some(branch)
                }
                Err(err) => {
                    notices.push(format!(
                        "Camera unavailable ({err}): the others will not see you."
                    ));
                    None
                }
            },
        };
        let audio = match audio_description(&options) {
            None => None,
            Some(description) => match start_branch(&description, "mic", "encoder") {
                Ok(branch) => Some(branch),
                Err(err) => {
                    notices.push(format!(
                        "Microphone unavailable ({err}): the others will not hear you."
                    ));
                    None
                }
            },
        };
        Ok(Capture {
            video,
            audio,
            notices,
        })
    }

    pub fn has_video(&self) -> bool {
        self.video.is_some()
    }

    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// Mute sends silence (as a browser's disabled track does), so the far side's level drops.
    pub fn set_muted(&self, muted: bool) {
        if let Some(audio) = &self.audio {
            audio.switch.set_property("mute", muted);
        }
    }

    /// Camera off stops sending frames; on again starts with a key frame so the picture is back at once.
    pub fn set_camera_off(&self, off: bool) {
        if let Some(video) = &self.video {
            video.switch.set_property("drop", off);
            if !off {
                self.request_keyframe();
            }
        }
    }

    /// Applies the adaptive-bitrate limits to the encoder (bitrate; resolution and frame rate stay).
    pub fn set_limits(&self, limits: EncodingLimits) {
        if let Some(video) = &self.video {
            let bitrate = limits.max_bitrate.min(FULL_QUALITY.max_bitrate);
            video
                .encoder
                .set_property("target-bitrate", i32::try_from(bitrate).unwrap_or(i32::MAX));
        }
    }

    /// Asks the encoder for a key frame (a new peer, or one that lost the picture).
    pub fn request_keyframe(&self) {
        if let Some(video) = &self.video {
            let structure = gst::Structure::builder("GstForceKeyUnit")
                .field("all-headers", true)
                .build();
            video
                .rtp_sink
                .send_event(gst::event::CustomUpstream::new(structure));
        }
    }

    /// A new receiver of the video (`true`) or audio RTP stream, if that source runs.
    pub(crate) fn subscribe(&self, video: bool) -> Option<broadcast::Receiver<Bytes>> {
        let branch = if video { &self.video } else { &self.audio };
        branch.as_ref().map(|b| b.rtp.subscribe())
    }
}

fn video_description(options: &CaptureOptions) -> Option<String> {
    let source = match &options.video {
        VideoSource::None => return None,
        VideoSource::Test => "videotestsrc is-live=true pattern=ball".to_owned(),
        VideoSource::Camera(None) => "autovideosrc".to_owned(),
        VideoSource::Camera(Some(device)) => format!("v4l2src device={}", quote(device)),
    };
    let preview = if options.preview.is_some() {
        " t. ! queue max-size-buffers=1 leaky=downstream ! videorate drop-only=true ! videoscale \
         ! video/x-raw,width=320,height=240,framerate=15/1 ! jpegenc quality=70 \
         ! appsink name=preview sync=false max-buffers=2 drop=true"
    } else {
        ""
    };
    // Real-time VP8 (deadline 1 µs = fastest), a key frame at least every 2 s so a lost one heals.
    Some(format!(
        "{source} ! videoconvert ! videoscale ! videorate ! video/x-raw,width=640,height=480,framerate=30/1 \
         ! tee name=t t. ! queue max-size-buffers=2 leaky=downstream ! valve name=camera \
         ! vp8enc name=encoder deadline=1 cpu-used=8 end-usage=cbr target-bitrate={bitrate} \
           keyframe-max-dist=60 lag-in-frames=0 threads=2 \
         ! rtpvp8pay pt={VP8_PAYLOAD_TYPE} mtu=1200 picture-id-mode=15-bit \
         ! appsink name=rtp sync=false max-buffers=64 drop=true{preview}",
        bitrate = FULL_QUALITY.max_bitrate,
    ))
}

fn audio_description(options: &CaptureOptions) -> Option<String> {
    let source = match &options.audio {
        AudioSource::None => return None,
        AudioSource::Test => "audiotestsrc is-live=true wave=sine freq=440 volume=0.4".to_owned(),
        AudioSource::Microphone(None) => "autoaudiosrc".to_owned(),
        AudioSource::Microphone(Some(device)) => format!("pulsesrc device={}", quote(device)),
    };
    let echo = if options.echo_cancel {
        "webrtcdsp ! "
    } else {
        ""
    };
    Some(format!(
        "{source} ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 ! {echo}\
         volume name=mic ! opusenc name=encoder bitrate=32000 frame-size=20 ! rtpopuspay pt={OPUS_PAYLOAD_TYPE} \
         ! appsink name=rtp sync=false max-buffers=64 drop=true"
    ))
}

/// Quotes a device name for a pipeline description.
fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Builds and starts a pipeline; `Err` says why its source cannot run (missing, busy, denied).
fn start_branch(description: &str, switch: &str, encoder: &str) -> Result<Branch, String> {
    let pipeline = gst::parse_launch(description)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_owned())?;
    let by_name = |name: &str| {
        pipeline
            .by_name(name)
            .ok_or_else(|| format!("pipeline has no {name}"))
    };
    let switch = by_name(switch)?;
    let encoder = by_name(encoder)?;
    let rtp_sink = by_name("rtp")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| "rtp is not an appsink".to_owned())?;
    let (rtp, _) = broadcast::channel(RTP_QUEUE);
    let sender = rtp.clone();
    rtp_sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(buffer) = sample.buffer()
                    && let Ok(map) = buffer.map_readable()
                {
                    // No subscriber yet is fine: nobody is in the call.
                    let _ = sender.send(Bytes::copy_from_slice(map.as_slice()));
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    start(&pipeline)?;
    Ok(Branch {
        pipeline,
        rtp,
        switch,
        encoder,
        rtp_sink,
    })
}

/// Sets `pipeline` playing and waits (briefly) until it runs; on failure returns the first error the
/// pipeline posted, which names the cause (e.g. "Cannot identify device '/dev/video0'").
pub(super) fn start(pipeline: &gst::Pipeline) -> Result<(), String> {
    let started = pipeline
        .set_state(gst::State::Playing)
        .and_then(|_| pipeline.state(gst::ClockTime::from_seconds(3)).0);
    let bus_error = pipeline.bus().and_then(|bus| {
        bus.pop_filtered(&[gst::MessageType::Error])
            .and_then(|message| match message.view() {
                gst::MessageView::Error(err) => Some(err.error().to_string()),
                _ => None,
            })
    });
    match (started, bus_error) {
        (_, Some(error)) => {
            let _ = pipeline.set_state(gst::State::Null);
            Err(error)
        }
        (Err(err), None) => {
            let _ = pipeline.set_state(gst::State::Null);
            Err(err.to_string())
        }
        (Ok(_), None) => Ok(()),
    }
}

fn connect_preview(pipeline: &gst::Pipeline, sink: Arc<dyn FrameSink>) {
    let Some(preview) = pipeline
        .by_name("preview")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
    else {
        return;
    };
    preview.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |appsink| {
                let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(frame) = jpeg_frame(&sample, FrameSource::Local) {
                    sink.frame(frame);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
}

/// A JPEG sample as a frame for display (size from the caps before the encoder).
pub(super) fn jpeg_frame(sample: &gst::Sample, source: FrameSource) -> Option<VideoFrame> {
    let structure = sample.caps()?.structure(0)?.to_owned();
    let width = structure.get::<i32>("width").ok()?;
    let height = structure.get::<i32>("height").ok()?;
    let map = sample.buffer()?.map_readable().ok()?;
    Some(VideoFrame {
        source,
        width: u32::try_from(width).ok()?,
        height: u32::try_from(height).ok()?,
        jpeg: Bytes::copy_from_slice(map.as_slice()),
    })
}
