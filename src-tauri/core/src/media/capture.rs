//! The local side of a call: camera and microphone (or test sources), each in its own pipeline so a
//! missing camera still leaves a call with sound, encoded once and shared by every peer of the call
//! (a mesh of up to 6 costs one encode, not five). Each pipeline ends in an appsink whose RTP packets
//! go to a broadcast channel; every link forwards them on its own track (`crate::links`, through
//! [`OutgoingMedia`]). Each pipeline's bus is watched while it runs (`bus.rs`).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use tokio::sync::broadcast;

use super::bus::BusWatch;
use super::types::{AudioSource, CaptureOptions, MediaEvents, MediaPipeline, VideoSource};
use super::{EncodingLimits, FULL_QUALITY, FrameSink, FrameSource, MediaError, VideoFrame};
use crate::links::{OPUS_PAYLOAD_TYPE, OutgoingMedia, VP8_PAYLOAD_TYPE};

/// RTP packets buffered per subscriber before a slow link starts skipping (≈ 2 s of video).
const RTP_QUEUE: usize = 512;
/// Encoded frames buffered per subscriber before a slow one starts skipping (≈ 2 s of video).
const FRAME_QUEUE: usize = 64;
/// The shared screen's frame rate (text stays sharp; motion matters less than for a face).
const SCREEN_FPS: u32 = 15;

/// One encoded frame (a VP8 picture or an Opus packet) as the encoder made it, before the payloader.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    pub data: Bytes,
    /// How long it lasts (from the encoder; `None` if it did not say).
    pub duration: Option<std::time::Duration>,
}

/// One running capture pipeline.
struct Branch {
    pipeline: gst::Pipeline,
    /// `valve` (camera) or `volume` (microphone): switches the media off without renegotiating.
    switch: gst::Element,
    encoder: gst::Element,
    rtp_sink: gst_app::AppSink,
    /// Reports what goes wrong while it runs; `None` only while dropping.
    watch: Option<BusWatch>,
}

impl Drop for Branch {
    fn drop(&mut self) {
        drop(self.watch.take()); // stopping is not news
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Where the last RTP packet of a stream left off, so a restarted branch (another camera, the screen)
/// continues the same stream: same SSRC, the next sequence number, a later timestamp and the next VP8
/// picture id. The far side's jitter buffer then sees one stream, whose next frame is a key frame.
#[derive(Default)]
struct Position {
    seen: AtomicBool,
    ssrc: AtomicU32,
    /// Sequence number (low 16 bits) and VP8 picture id (next 16 bits).
    seq_and_picture: AtomicU32,
    timestamp: AtomicU32,
    /// When the last packet left, in µs since `epoch`.
    at_us: AtomicU64,
    epoch: Mutex<Option<Instant>>,
}

impl Position {
    fn record(&self, rtp: &[u8], video: bool) {
        if rtp.len() < 12 {
            return;
        }
        let seq = u32::from(u16::from_be_bytes([rtp[2], rtp[3]]));
        let picture = if video { vp8_picture_id(rtp) } else { None };
        let previous = self.seq_and_picture.load(Ordering::Relaxed);
        let picture = picture.map_or(previous >> 16, u32::from);
        self.seq_and_picture
            .store(seq | (picture << 16), Ordering::Relaxed);
        self.timestamp.store(
            u32::from_be_bytes([rtp[4], rtp[5], rtp[6], rtp[7]]),
            Ordering::Relaxed,
        );
        self.ssrc.store(
            u32::from_be_bytes([rtp[8], rtp[9], rtp[10], rtp[11]]),
            Ordering::Relaxed,
        );
        let epoch = *self
            .epoch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_or_insert_with(Instant::now);
        self.at_us.store(
            u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.seen.store(true, Ordering::Release);
    }

    /// Sets the payloader of a new branch to continue where the last one stopped.
    fn continue_on(&self, payloader: &gst::Element, clock_rate: u64, video: bool) {
        if !self.seen.load(Ordering::Acquire) {
            return;
        }
        let seq_and_picture = self.seq_and_picture.load(Ordering::Relaxed);
        let next_seq = (seq_and_picture & 0xffff).wrapping_add(1) & 0xffff;
        let epoch = *self
            .epoch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let since_us = epoch.map_or(0, |e| {
            u64::try_from(e.elapsed().as_micros())
                .unwrap_or(u64::MAX)
                .saturating_sub(self.at_us.load(Ordering::Relaxed))
        });
        let ticks = u32::try_from(since_us.saturating_mul(clock_rate) / 1_000_000)
            .unwrap_or(u32::MAX)
            .max(1);
        payloader.set_property("ssrc", self.ssrc.load(Ordering::Relaxed));
        payloader.set_property("seqnum-offset", i32::try_from(next_seq).unwrap_or(0));
        payloader.set_property(
            "timestamp-offset",
            self.timestamp.load(Ordering::Relaxed).wrapping_add(ticks),
        );
        if video {
            let next_picture = ((seq_and_picture >> 16) + 1) & 0x7fff;
            payloader.set_property(
                "picture-id-offset",
                i32::try_from(next_picture).unwrap_or(0),
            );
        }
    }
}

/// The VP8 picture id of an RTP packet (RFC 7741 payload descriptor), if it carries one.
fn vp8_picture_id(rtp: &[u8]) -> Option<u16> {
    let csrc = usize::from(rtp[0] & 0x0f);
    let mut at = 12 + 4 * csrc;
    if rtp[0] & 0x10 != 0 {
        let words = usize::from(u16::from_be_bytes([*rtp.get(at + 2)?, *rtp.get(at + 3)?]));
        at += 4 + 4 * words;
    }
    let descriptor = *rtp.get(at)?;
    if descriptor & 0x80 == 0 {
        return None;
    }
    let extension = *rtp.get(at + 1)?;
    if extension & 0x80 == 0 {
        return None;
    }
    let first = *rtp.get(at + 2)?;
    if first & 0x80 != 0 {
        Some(u16::from_be_bytes([first & 0x7f, *rtp.get(at + 3)?]))
    } else {
        Some(u16::from(first))
    }
}

/// One kind of media (video or audio): the running branch, restartable with another source, and the
/// RTP stream every peer's link subscribes to, which outlives the branches that feed it.
struct Stream {
    video: bool,
    rtp: broadcast::Sender<Bytes>,
    /// The encoder's frames before packetization, for an SFU call that seals each one first.
    frames: broadcast::Sender<EncodedFrame>,
    branch: Mutex<Option<Branch>>,
    position: Arc<Position>,
    /// Serialises restarts (the branch lock is not held while a pipeline starts).
    restart: Mutex<()>,
}

impl Stream {
    fn new(video: bool) -> Stream {
        Stream {
            video,
            rtp: broadcast::channel(RTP_QUEUE).0,
            frames: broadcast::channel(FRAME_QUEUE).0,
            branch: Mutex::new(None),
            position: Arc::default(),
            restart: Mutex::new(()),
        }
    }

    fn branch(&self) -> MutexGuard<'_, Option<Branch>> {
        self.branch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn running(&self) -> bool {
        self.branch().is_some()
    }

    /// Stops the running branch (if any) and starts `description` (whose media is `role`) in its place
    /// on the same stream; its bus events go to `events`.
    fn replace(
        &self,
        description: Option<&str>,
        role: MediaPipeline,
        events: &MediaEvents,
    ) -> Result<(), String> {
        drop(self.branch().take());
        let Some(description) = description else {
            return Ok(());
        };
        let branch = start_branch(description, self, role, events)?;
        *self.branch() = Some(branch);
        Ok(())
    }
}

/// What the capture is asked to send, kept so a restarted branch gets it back.
struct Settings {
    camera: VideoSource,
    microphone: AudioSource,
    sharing: bool,
}

/// Local media, running until dropped.
pub struct Capture {
    video: Stream,
    audio: Stream,
    settings: Mutex<Settings>,
    preview: Option<Arc<dyn FrameSink>>,
    echo_cancel: bool,
    muted: AtomicBool,
    camera_off: AtomicBool,
    bitrate: AtomicU32,
    /// Why a device is not in the call (missing, busy), in words for the person.
    pub notices: Vec<String>,
    /// Where the pipelines report what goes wrong mid-call.
    events: MediaEvents,
}

impl Capture {
    /// Starts the sources. A device that cannot start is left out with a notice (the call goes on
    /// audio-only, video-only or receive-only); a chosen device that is gone falls back to the system's
    /// default, with a notice; only a GStreamer that cannot run at all is an error. What goes wrong
    /// later (a device that fails mid-call) goes to `events`.
    pub fn start(options: CaptureOptions, events: MediaEvents) -> Result<Capture, MediaError> {
        super::init()?;
        let mut capture = Capture {
            video: Stream::new(true),
            audio: Stream::new(false),
            settings: Mutex::new(Settings {
                camera: options.video.clone(),
                microphone: options.audio.clone(),
                sharing: options.video == VideoSource::Screen,
            }),
            preview: options.preview.clone(),
            echo_cancel: options.echo_cancel,
            muted: AtomicBool::new(false),
            camera_off: AtomicBool::new(false),
            bitrate: AtomicU32::new(FULL_QUALITY.max_bitrate),
            notices: Vec::new(),
            events,
        };
        let mut notices = capture.restart_video(&options.video);
        notices.extend(capture.start_audio(&options.audio));
        capture.notices = notices;
        Ok(capture)
    }

    /// Whether a picture is being sent (camera or screen).
    pub fn has_video(&self) -> bool {
        self.video.running()
    }

    pub fn has_audio(&self) -> bool {
        self.audio.running()
    }

    /// Whether the screen is shared instead of the camera.
    pub fn is_sharing_screen(&self) -> bool {
        self.settings().sharing && self.video.running()
    }

    /// Mute sends silence (as a browser's disabled track does), so the far side's level drops.
    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
        if let Some(audio) = self.audio.branch().as_ref() {
            audio.switch.set_property("mute", muted);
        }
    }

    /// Camera off stops sending frames; on again starts with a key frame so the picture is back at once.
    /// While the screen is shared it holds for when the camera is back.
    pub fn set_camera_off(&self, off: bool) {
        self.camera_off.store(off, Ordering::Relaxed);
        // The shared screen is not the camera: it keeps going (as a browser's screen track does).
        let sharing = self.settings().sharing;
        if let Some(video) = self.video.branch().as_ref() {
            video.switch.set_property("drop", off && !sharing);
        }
        if !off {
            self.request_keyframe();
        }
    }

    /// Applies the adaptive-bitrate limits to the encoder (bitrate; resolution and frame rate stay).
    pub fn set_limits(&self, limits: EncodingLimits) {
        let bitrate = limits.max_bitrate.min(FULL_QUALITY.max_bitrate);
        self.bitrate.store(bitrate, Ordering::Relaxed);
        if let Some(video) = self.video.branch().as_ref() {
            video
                .encoder
                .set_property("target-bitrate", i32::try_from(bitrate).unwrap_or(i32::MAX));
        }
    }

    /// Asks the encoder for a key frame (a new peer, or one that lost the picture).
    pub fn request_keyframe(&self) {
        if let Some(video) = self.video.branch().as_ref() {
            let structure = gst::Structure::builder("GstForceKeyUnit")
                .field("all-headers", true)
                .build();
            video
                .rtp_sink
                .send_event(gst::event::CustomUpstream::new(structure));
        }
    }

    /// Shares the screen instead of the camera (`true`) or goes back to the camera, in the same call:
    /// the video branch restarts on the same RTP stream, and its first frame is a key frame. `Err`
    /// says why the screen cannot be shared (no X11 display); the camera is back then.
    pub fn share_screen(&self, on: bool) -> Result<Vec<String>, String> {
        let _restarting = self.video.restart.lock();
        let camera = {
            let mut settings = self.settings();
            if settings.sharing == on && self.video.running() {
                return Ok(Vec::new());
            }
            settings.sharing = on;
            settings.camera.clone()
        };
        if !on {
            return Ok(self.restart_video(&camera));
        }
        let screen = video_description(&VideoSource::Screen, self.preview.is_some());
        match self
            .video
            .replace(Some(&screen), MediaPipeline::Screen, &self.events)
        {
            Ok(()) => {
                self.after_video_restart();
                Ok(Vec::new())
            }
            Err(err) => {
                self.settings().sharing = false;
                let mut notices = vec![format!("Screen sharing unavailable ({err}).")];
                notices.extend(self.restart_video(&camera));
                Err(notices.join(" "))
            }
        }
    }

    /// Switches to another camera and/or microphone mid-call (each `None` stays). A camera chosen
    /// while the screen is shared is used when sharing stops. Returns notices (a chosen device that
    /// cannot start: the default is used).
    pub fn use_devices(
        &self,
        camera: Option<VideoSource>,
        microphone: Option<AudioSource>,
    ) -> Vec<String> {
        let mut notices = Vec::new();
        if let Some(camera) = camera {
            let _restarting = self.video.restart.lock();
            let sharing = {
                let mut settings = self.settings();
                settings.camera = camera.clone();
                settings.sharing
            };
            if !sharing {
                notices.extend(self.restart_video(&camera));
            }
        }
        if let Some(microphone) = microphone {
            let _restarting = self.audio.restart.lock();
            self.settings().microphone = microphone.clone();
            notices.extend(self.start_audio(&microphone));
        }
        notices
    }

    /// A new receiver of the video (`true`) or audio encoder's frames before packetization (an SFU call
    /// seals each before handing it to its own packetizer), if that kind of media was asked for.
    pub fn subscribe_frames(&self, video: bool) -> Option<broadcast::Receiver<EncodedFrame>> {
        self.subscribe(video)?;
        let stream = if video { &self.video } else { &self.audio };
        Some(stream.frames.subscribe())
    }

    /// A new receiver of the video (`true`) or audio RTP stream, if that kind of media was asked for
    /// (a camera that failed to start still has a stream: sharing the screen later feeds it).
    pub fn subscribe(&self, video: bool) -> Option<broadcast::Receiver<Bytes>> {
        let stream = if video { &self.video } else { &self.audio };
        let asked = {
            let settings = self.settings();
            if video {
                settings.camera != VideoSource::None || settings.sharing
            } else {
                settings.microphone != AudioSource::None
            }
        };
        (asked || stream.running()).then(|| stream.rtp.subscribe())
    }

    fn settings(&self) -> MutexGuard<'_, Settings> {
        self.settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// (Re)starts the video branch with `source`; notices say what could not start.
    fn restart_video(&self, source: &VideoSource) -> Vec<String> {
        let preview = self.preview.is_some();
        let mut notices = Vec::new();
        let role = if *source == VideoSource::Screen {
            MediaPipeline::Screen
        } else {
            MediaPipeline::Camera
        };
        let Some(description) = description_of_video(source, preview) else {
            let _ = self.video.replace(None, role, &self.events);
            return notices;
        };
        let result = match self
            .video
            .replace(Some(&description), role.clone(), &self.events)
        {
            Err(err) if matches!(source, VideoSource::Camera(Some(_))) => {
                let VideoSource::Camera(Some(device)) = source else {
                    unreachable!()
                };
                notices.push(format!(
                    "The chosen camera {device} is unavailable ({err}): using the default camera."
                ));
                let default = description_of_video(&VideoSource::Camera(None), preview);
                self.video.replace(default.as_deref(), role, &self.events)
            }
            other => other,
        };
        match result {
            Ok(()) => self.after_video_restart(),
            Err(err) => {
                let what = if *source == VideoSource::Screen {
                    "Screen"
                } else {
                    "Camera"
                };
                notices.push(format!(
                    "{what} unavailable ({err}): the others will not see you."
                ));
            }
        }
        notices
    }

    /// A new video branch gets the call's state back: preview, camera off, bitrate.
    fn after_video_restart(&self) {
        let sharing = self.settings().sharing; // (never the settings lock inside the branch lock)
        if let Some(video) = self.video.branch().as_ref() {
            if let Some(sink) = self.preview.clone() {
                connect_preview(&video.pipeline, sink);
            }
            video
                .switch
                .set_property("drop", self.camera_off.load(Ordering::Relaxed) && !sharing);
            video.encoder.set_property(
                "target-bitrate",
                i32::try_from(self.bitrate.load(Ordering::Relaxed)).unwrap_or(i32::MAX),
            );
        }
    }

    fn start_audio(&self, source: &AudioSource) -> Vec<String> {
        let mut notices = Vec::new();
        let role = MediaPipeline::Microphone;
        let Some(description) = audio_description(source, self.echo_cancel) else {
            let _ = self.audio.replace(None, role, &self.events);
            return notices;
        };
        let result = match self
            .audio
            .replace(Some(&description), role.clone(), &self.events)
        {
            Err(err) if matches!(source, AudioSource::Microphone(Some(_))) => {
                let AudioSource::Microphone(Some(device)) = source else {
                    unreachable!()
                };
                notices.push(format!(
                    "The chosen microphone {device} is unavailable ({err}): using the default microphone."
                ));
                let default = audio_description(&AudioSource::Microphone(None), self.echo_cancel);
                self.audio.replace(default.as_deref(), role, &self.events)
            }
            other => other,
        };
        match result {
            Ok(()) => {
                if let Some(audio) = self.audio.branch().as_ref() {
                    audio
                        .switch
                        .set_property("mute", self.muted.load(Ordering::Relaxed));
                }
            }
            Err(err) => notices.push(format!(
                "Microphone unavailable ({err}): the others will not hear you."
            )),
        }
        notices
    }
}

impl OutgoingMedia for Capture {
    fn subscribe(&self, video: bool) -> Option<broadcast::Receiver<Bytes>> {
        Capture::subscribe(self, video)
    }

    fn request_keyframe(&self) {
        Capture::request_keyframe(self);
    }
}

fn description_of_video(source: &VideoSource, preview: bool) -> Option<String> {
    (*source != VideoSource::None).then(|| video_description(source, preview))
}

fn video_description(source: &VideoSource, preview: bool) -> String {
    const TEST_PATTERN: &str = "videotestsrc is-live=true pattern=ball ! videoconvert ! videoscale \
         ! videorate ! video/x-raw,width=640,height=480,framerate=30/1";
    let source = match source {
        VideoSource::None | VideoSource::Test => TEST_PATTERN.to_owned(),
        VideoSource::TestSized { width, height, fps } => format!(
            "videotestsrc is-live=true pattern=ball ! videoconvert ! videoscale ! videorate \
             ! video/x-raw,width={width},height={height},framerate={fps}/1"
        ),
        // `identity error-after` posts a real element error, as a failing device does.
        VideoSource::TestFailingAfter(frames) => {
            format!("{TEST_PATTERN} ! identity error-after={frames}")
        }
        VideoSource::Camera(None) => "autovideosrc ! videoconvert ! videoscale ! videorate \
             ! video/x-raw,width=640,height=480,framerate=30/1"
            .to_owned(),
        VideoSource::Camera(Some(device)) => format!(
            "v4l2src device={} ! videoconvert ! videoscale ! videorate \
             ! video/x-raw,width=640,height=480,framerate=30/1",
            quote(device)
        ),
        // The screen at its own size (even, as the encoder needs); damage tracking off, as it
        // sends partial frames.
        VideoSource::Screen => format!(
            "ximagesrc use-damage=false show-pointer=true ! video/x-raw,framerate={SCREEN_FPS}/1 \
             ! videoconvert ! video/x-raw,format=I420"
        ),
    };
    let preview = if preview {
        " t. ! queue max-size-buffers=1 leaky=downstream ! videorate drop-only=true ! videoscale \
         ! video/x-raw,width=320,height=240,framerate=15/1 ! videoconvert ! jpegenc quality=70 \
         ! appsink name=preview sync=false max-buffers=2 drop=true"
    } else {
        ""
    };
    // Real-time VP8 (deadline 1 µs = fastest), a key frame at least every 60 frames so a lost one heals.
    format!(
        "{source} ! tee name=t t. ! queue max-size-buffers=2 leaky=downstream ! valve name=camera \
         ! vp8enc name=encoder deadline=1 cpu-used=8 end-usage=cbr target-bitrate={bitrate} \
           keyframe-max-dist=60 lag-in-frames=0 threads=2 \
         ! rtpvp8pay name=pay pt={VP8_PAYLOAD_TYPE} mtu=1200 picture-id-mode=15-bit \
         ! appsink name=rtp sync=false max-buffers=64 drop=true{preview}",
        bitrate = FULL_QUALITY.max_bitrate,
    )
}

fn audio_description(source: &AudioSource, echo_cancel: bool) -> Option<String> {
    let source = match source {
        AudioSource::None => return None,
        AudioSource::Test => "audiotestsrc is-live=true wave=sine freq=440 volume=0.4".to_owned(),
        AudioSource::Microphone(None) => "autoaudiosrc".to_owned(),
        AudioSource::Microphone(Some(device)) => format!("pulsesrc device={}", quote(device)),
    };
    let echo = if echo_cancel { "webrtcdsp ! " } else { "" };
    Some(format!(
        "{source} ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 ! {echo}\
         volume name=mic ! opusenc name=encoder bitrate=32000 frame-size=20 \
         ! rtpopuspay name=pay pt={OPUS_PAYLOAD_TYPE} \
         ! appsink name=rtp sync=false max-buffers=64 drop=true"
    ))
}

/// Quotes a device name for a pipeline description.
pub(super) fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Builds and starts a pipeline feeding `stream`, watched as `role` once it runs; `Err` says why its
/// source cannot run (missing, busy, denied).
fn start_branch(
    description: &str,
    stream: &Stream,
    role: MediaPipeline,
    events: &MediaEvents,
) -> Result<Branch, String> {
    let pipeline = gst::parse_launch(description)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_owned())?;
    let by_name = |name: &str| {
        pipeline
            .by_name(name)
            .ok_or_else(|| format!("pipeline has no {name}"))
    };
    let switch = by_name(if stream.video { "camera" } else { "mic" })?;
    let encoder = by_name("encoder")?;
    let clock_rate = if stream.video { 90_000 } else { 48_000 };
    let payloader = by_name("pay")?;
    stream
        .position
        .continue_on(&payloader, clock_rate, stream.video);
    tap_frames(&payloader, stream.frames.clone());
    let rtp_sink = by_name("rtp")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| "rtp is not an appsink".to_owned())?;
    let sender = stream.rtp.clone();
    let position = stream.position.clone();
    let video = stream.video;
    rtp_sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(buffer) = sample.buffer()
                    && let Ok(map) = buffer.map_readable()
                {
                    position.record(map.as_slice(), video);
                    // No subscriber yet is fine: nobody is in the call.
                    let _ = sender.send(Bytes::copy_from_slice(map.as_slice()));
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    start(&pipeline)?;
    let watch = BusWatch::start(&pipeline, true, role, events.clone());
    Ok(Branch {
        pipeline,
        switch,
        encoder,
        rtp_sink,
        watch: Some(watch),
    })
}

/// Copies every frame entering `payloader` to `frames` while anyone listens (an SFU call).
fn tap_frames(payloader: &gst::Element, frames: broadcast::Sender<EncodedFrame>) {
    let Some(pad) = payloader.static_pad("sink") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if frames.receiver_count() > 0
            && let Some(buffer) = info.buffer()
            && let Ok(map) = buffer.map_readable()
        {
            let _ = frames.send(EncodedFrame {
                data: Bytes::copy_from_slice(map.as_slice()),
                duration: buffer.duration().map(Into::into),
            });
        }
        gst::PadProbeReturn::Ok
    });
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
