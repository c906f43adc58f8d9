//! Capture → playback through real GStreamer pipelines, without a network: the test sources' RTP is fed
//! straight into playbacks, so encoding, packetising, jitter buffering and decoding are what is checked.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::links::{OPUS_PAYLOAD_TYPE, VP8_PAYLOAD_TYPE};

/// Where a test's pipelines report, for tests that do not look.
fn unheard() -> MediaEvents {
    tokio::sync::mpsc::unbounded_channel().0
}

/// The peer whose media a test plays.
fn remote() -> FrameSource {
    FrameSource::Remote {
        room: "r".into(),
        peer: "p".into(),
    }
}

/// Collects the preview and decoded frames a test receives.
#[derive(Default)]
struct Frames(Mutex<Vec<VideoFrame>>);

impl FrameSink for Frames {
    fn frame(&self, frame: VideoFrame) {
        self.0.lock().unwrap().push(frame);
    }
}

fn test_capture(preview: Option<Arc<dyn FrameSink>>) -> Capture {
    Capture::start(
        CaptureOptions {
            video: VideoSource::Test,
            audio: AudioSource::Test,
            preview,
            echo_cancel: false,
        },
        unheard(),
    )
    .expect("GStreamer runs")
}

/// A capture's RTP forwarded into a playback (until dropped or aborted), counting the media frames it
/// carried: the tests' clock. A busy machine runs the live test sources' pipelines slower than real
/// time (their leaky queues drop what the encoder cannot take), so a test waits for media, not for
/// wall time.
struct Pipe {
    task: tokio::task::JoinHandle<()>,
    frames: Arc<std::sync::atomic::AtomicU64>,
    /// Frames per second of media (video: 30, audio: 50 packets of 20 ms).
    rate: u64,
}

impl Pipe {
    fn frames(&self) -> u64 {
        self.frames.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn abort(&self) {
        self.task.abort();
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn pipe(capture: &Capture, video: bool, playback: Arc<Playback>) -> Pipe {
    let mut packets = capture.subscribe(video).expect("the test source runs");
    let frames = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = frames.clone();
    let task = tokio::spawn(async move {
        while let Ok(packet) = packets.recv().await {
            // A video frame's last packet has the RTP marker bit; an Opus packet is a frame.
            let frame_end = !video || packet.get(1).is_some_and(|b| b & 0x80 != 0);
            playback.push(packet.to_vec());
            if frame_end {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    Pipe {
        task,
        frames,
        rate: if video { 30 } else { 50 },
    }
}

/// What a test waits for must happen within this much media through its pipe...
const MEDIA_BUDGET_S: u64 = 10;
/// ...and within this much wall time, however slowly the media comes.
const WALL_LIMIT: Duration = Duration::from_secs(120);

/// The capture sends no more frames (what was in flight is decoded, and nothing follows): the frames
/// decoded by then.
async fn stopped_frames(pipe: &Pipe, stats: &PlaybackStats, what: &str) -> u64 {
    let sent = settled(what, || pipe.frames()).await;
    let stopped = settled(what, || stats.frames_decoded()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(pipe.frames(), sent, "{what}");
    assert!(stats.frames_decoded() <= stopped + 1, "{what}");
    stopped
}

async fn wait_until(what: &str, pipe: &Pipe, mut done: impl FnMut() -> bool) {
    let (started, first) = (Instant::now(), pipe.frames());
    while !done() {
        let media = pipe.frames() - first;
        assert!(
            media < MEDIA_BUDGET_S * pipe.rate && started.elapsed() < WALL_LIMIT,
            "timed out waiting: {what} ({media} frames sent in {:?})",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until nothing more passes: `count` stays the same for a second.
async fn settled(what: &str, count: impl Fn() -> u64) -> u64 {
    let started = Instant::now();
    let mut last = count();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = count();
        if now == last {
            return now;
        }
        assert!(started.elapsed() < WALL_LIMIT, "{what} never stopped");
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_sources_start_with_video_audio_and_no_notice() {
    let capture = test_capture(None);
    assert!(capture.has_video() && capture.has_audio());
    assert!(capture.notices.is_empty(), "{:?}", capture.notices);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_is_decoded_into_jpeg_frames_and_camera_off_stops_them() {
    let preview = Arc::new(Frames::default());
    let capture = test_capture(Some(preview.clone()));
    let shown = Arc::new(Frames::default());
    let source = FrameSource::Remote {
        room: "r".into(),
        peer: "p".into(),
    };
    let options = PlaybackOptions {
        frames: Some(shown.clone()),
        speaker: false,
    };
    let playback =
        Arc::new(Playback::video(VP8_PAYLOAD_TYPE, source.clone(), &options, &unheard()).unwrap());
    let task = pipe(&capture, true, playback.clone());
    let stats = playback.stats();
    wait_until("decoded frames", &task, || stats.frames_decoded() > 15).await;
    let frame = shown.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(frame.source, source);
    assert_eq!((frame.width, frame.height), (640, 480));
    assert_eq!(&frame.jpeg[..2], &[0xff, 0xd8], "a JPEG");
    wait_until("preview frames", &task, || {
        !preview.0.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(preview.0.lock().unwrap()[0].source, FrameSource::Local);

    capture.set_camera_off(true);
    let stopped = stopped_frames(&task, &stats, "frames kept coming").await;
    capture.set_camera_off(false);
    wait_until("frames again", &task, || {
        stats.frames_decoded() > stopped + 10
    })
    .await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sound_is_heard_and_mute_silences_it() {
    let capture = test_capture(None);
    let playback = Arc::new(
        Playback::audio(
            OPUS_PAYLOAD_TYPE,
            &remote(),
            &PlaybackOptions::default(),
            &unheard(),
        )
        .unwrap(),
    );
    let task = pipe(&capture, false, playback.clone());
    let stats = playback.stats();
    // The tone at volume 0.4 has an RMS of ≈ 0.28.
    wait_until("the tone", &task, || stats.audio_level() > 0.2).await;
    capture.set_muted(true);
    wait_until("silence", &task, || stats.audio_level() < 0.003).await;
    capture.set_muted(false);
    wait_until("the tone again", &task, || stats.audio_level() > 0.2).await;
    task.abort();
}

/// The device monitor's answer matches the machine: every camera it lists is a V4L2 device that
/// exists, and without any `/dev/video*` (a CI machine, a container) the honest answer is no camera.
#[test]
fn the_device_list_matches_the_machine() {
    let devices = list_devices().expect("the device monitor runs");
    for camera in &devices.cameras {
        assert!(
            std::path::Path::new(&camera.id).exists(),
            "{camera:?} is not a device here"
        );
        assert!(!camera.name.is_empty());
    }
    let video_nodes = std::fs::read_dir("/dev")
        .map(|dir| {
            dir.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("video"))
        })
        .unwrap_or(false);
    if !video_nodes {
        assert!(devices.cameras.is_empty(), "{devices:?}");
    }
    for device in devices.microphones.iter().chain(&devices.speakers) {
        assert!(
            !device.id.is_empty() && !device.name.is_empty(),
            "{device:?}"
        );
    }
    // Monitors of speakers are not microphones.
    assert!(
        devices
            .microphones
            .iter()
            .all(|m| !m.id.ends_with(".monitor")),
        "{devices:?}"
    );
}

/// A chosen camera and microphone that are gone fall back to the defaults, and the person is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chosen_device_that_is_gone_falls_back_to_the_default_with_a_notice() {
    let capture = Capture::start(
        CaptureOptions {
            video: VideoSource::Camera(Some("/dev/video-unplugged".into())),
            audio: AudioSource::Microphone(Some("unplugged-microphone".into())),
            preview: None,
            echo_cancel: false,
        },
        unheard(),
    )
    .expect("GStreamer runs");
    let notices = capture.notices.join("\n");
    assert!(
        notices.contains("The chosen camera /dev/video-unplugged is unavailable")
            && notices.contains("using the default camera"),
        "{notices}"
    );
    assert!(
        notices.contains("The chosen microphone unplugged-microphone is unavailable")
            && notices.contains("using the default microphone"),
        "{notices}"
    );
    // Whether the defaults exist depends on the machine: what is missing is said, not hidden.
    if !capture.has_video() {
        assert!(notices.contains("Camera unavailable"), "{notices}");
    }
    if !capture.has_audio() {
        assert!(notices.contains("Microphone unavailable"), "{notices}");
    }
}

/// A speaker that is gone plays on the default one (or, without any, the sound is still measured).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chosen_speaker_that_is_gone_still_plays_the_call() {
    let capture = test_capture(None);
    set_speaker(Some("unplugged-speaker".into()));
    let options = PlaybackOptions {
        frames: None,
        speaker: true,
    };
    let playback =
        Arc::new(Playback::audio(OPUS_PAYLOAD_TYPE, &remote(), &options, &unheard()).unwrap());
    set_speaker(None);
    let task = pipe(&capture, false, playback.clone());
    let stats = playback.stats();
    wait_until("the tone", &task, || stats.audio_level() > 0.2).await;
    task.abort();
}

/// An X server for screen capture (Xvfb), stopped when dropped.
struct Xvfb {
    child: std::process::Child,
    display: String,
}

impl Xvfb {
    /// Starts on a display number nobody holds (no lock file), waiting until it listens.
    fn start(width: u32, height: u32) -> Xvfb {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let number = loop {
            let nth = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let number = 300 + (std::process::id() % 200) * 8 + nth;
            if !std::path::Path::new(&format!("/tmp/.X{number}-lock")).exists() {
                break number;
            }
        };
        let mut child = std::process::Command::new("Xvfb")
            .args([
                format!(":{number}"),
                "-screen".into(),
                "0".into(),
                format!("{width}x{height}x24"),
                "-nolisten".into(),
                "tcp".into(),
            ])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Xvfb is installed");
        let socket = format!("/tmp/.X11-unix/X{number}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::path::Path::new(&socket).exists() {
            assert!(
                child.try_wait().ok().flatten().is_none(),
                "Xvfb :{number} exited"
            );
            assert!(Instant::now() < deadline, "Xvfb did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Xvfb {
            child,
            display: format!(":{number}"),
        }
    }
}

impl Drop for Xvfb {
    /// SIGTERM, so the server removes its lock file and socket.
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Sharing the screen replaces the camera's picture in the same stream (the far side's decoder keeps
/// going, now at the screen's size) and stopping brings the camera back; without a display sharing
/// fails with a notice and the camera keeps going.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_the_screen_replaces_the_camera_and_stopping_brings_it_back() {
    let preview = Arc::new(Frames::default());
    let capture = test_capture(Some(preview.clone()));
    let shown = Arc::new(Frames::default());
    let options = PlaybackOptions {
        frames: Some(shown.clone()),
        speaker: false,
    };
    let source = FrameSource::Remote {
        room: "r".into(),
        peer: "p".into(),
    };
    let playback =
        Arc::new(Playback::video(VP8_PAYLOAD_TYPE, source, &options, &unheard()).unwrap());
    let task = pipe(&capture, true, playback.clone());
    let stats = playback.stats();
    let last_size = || shown.0.lock().unwrap().last().map(|f| (f.width, f.height));
    wait_until("camera frames", &task, || last_size() == Some((640, 480))).await;

    // This test alone sets DISPLAY in this process.
    unsafe { std::env::set_var("DISPLAY", ":7999") };
    let refused = capture
        .share_screen(true)
        .expect_err("no X server on :7999");
    assert!(refused.contains("Screen sharing unavailable"), "{refused}");
    assert!(capture.has_video() && !capture.is_sharing_screen());
    let before = stats.frames_decoded();
    wait_until("camera frames after the refusal", &task, || {
        stats.frames_decoded() > before + 10
    })
    .await;

    let xvfb = Xvfb::start(800, 600);
    unsafe { std::env::set_var("DISPLAY", &xvfb.display) };
    assert_eq!(capture.share_screen(true), Ok(Vec::new()));
    assert!(capture.is_sharing_screen());
    wait_until("screen frames", &task, || last_size() == Some((800, 600))).await;
    let before = stats.frames_decoded();
    wait_until("screen frames keep coming", &task, || {
        stats.frames_decoded() > before + 10
    })
    .await;
    assert!(preview.0.lock().unwrap().iter().all(|f| f.width == 320));
    // Camera off does not stop a shared screen (as in a browser); it holds for the camera.
    capture.set_camera_off(true);
    let before = stats.frames_decoded();
    wait_until("screen frames with the camera off", &task, || {
        stats.frames_decoded() > before + 10
    })
    .await;

    assert_eq!(capture.share_screen(false), Ok(Vec::new()));
    assert!(!capture.is_sharing_screen());
    stopped_frames(&task, &stats, "the camera was off").await;
    capture.set_camera_off(false);
    wait_until("camera frames again", &task, || {
        last_size() == Some((640, 480))
    })
    .await;
    let before = stats.frames_decoded();
    wait_until("camera frames keep coming", &task, || {
        stats.frames_decoded() > before + 10
    })
    .await;
    task.abort();
}

/// Another camera mid-call continues the same RTP stream: the far side keeps decoding without a new
/// playback, and camera off holds across the switch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_the_camera_mid_call_keeps_the_stream_and_its_state() {
    let capture = test_capture(None);
    let playback = Arc::new(
        Playback::video(
            VP8_PAYLOAD_TYPE,
            FrameSource::Local,
            &PlaybackOptions::default(),
            &unheard(),
        )
        .unwrap(),
    );
    let task = pipe(&capture, true, playback.clone());
    let stats = playback.stats();
    wait_until("frames", &task, || stats.frames_decoded() > 10).await;
    let notices = capture.use_devices(Some(VideoSource::Test), None);
    assert!(notices.is_empty(), "{notices:?}");
    let before = stats.frames_decoded();
    wait_until("frames after the switch", &task, || {
        stats.frames_decoded() > before + 15
    })
    .await;
    capture.set_camera_off(true);
    capture.use_devices(Some(VideoSource::Test), None);
    let stopped = stopped_frames(&task, &stats, "camera off was lost").await;
    capture.set_camera_off(false);
    wait_until("frames again", &task, || {
        stats.frames_decoded() > stopped + 10
    })
    .await;
    task.abort();
}

/// The next event a call session's pipelines report, if one comes within 30 s (a busy machine runs
/// the test sources slower than real time).
async fn next_event(events: &mut tokio::sync::mpsc::UnboundedReceiver<MediaEvent>) -> MediaEvent {
    tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .expect("an event within 30 s")
        .expect("the session is alive")
}

/// A call session without peers (its links never connect anywhere).
fn lone_session() -> (
    CallSession,
    tokio::sync::mpsc::UnboundedReceiver<MediaEvent>,
) {
    let (link_events, _) = tokio::sync::mpsc::channel(8);
    let links = crate::links::LinkManager::new(
        |_: &str, _: &str, _| {},
        link_events,
        crate::links::LinkOptions::default(),
    );
    CallSession::new(links, PlaybackOptions::default())
}

/// A camera that fails mid-call (a real element error on the running pipeline, five seconds of frames
/// after it started) comes out of the call session as an error naming the camera, with the person's
/// notice; the microphone goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_failing_mid_call_is_reported_by_the_session() {
    let (session, mut events) = lone_session();
    let capture = session
        .start_capture(CaptureOptions {
            // 5 s of frames: a failure while the capture starts is a notice, not this event, and a
            // busy machine takes seconds to start it.
            video: VideoSource::TestFailingAfter(150),
            audio: AudioSource::Test,
            preview: None,
            echo_cancel: false,
        })
        .expect("GStreamer runs");
    assert!(capture.has_video(), "it starts: {:?}", capture.notices);
    let event = next_event(&mut events).await;
    let MediaEvent::Error { pipeline, message } = &event else {
        panic!("not an error: {event:?}");
    };
    assert_eq!(*pipeline, MediaPipeline::Camera);
    assert!(message.contains("Failed after iterations"), "{message}");
    assert_eq!(
        event.notice(),
        format!("Your camera stopped ({message}): the others no longer see you.")
    );
    // The sound is a pipeline of its own: still sent.
    let mut audio = capture.subscribe(false).expect("audio runs");
    let packet = tokio::time::timeout(Duration::from_secs(2), audio.recv()).await;
    assert!(matches!(packet, Ok(Ok(_))), "audio after the camera failed");
    // One failure is told once.
    let more = tokio::time::timeout(Duration::from_secs(1), events.recv()).await;
    assert!(more.is_err(), "{more:?}");
}

/// An error posted on a playback's bus while it plays comes out as an error of that peer's picture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playback_error_mid_call_names_the_peer() {
    use gstreamer::prelude::*;
    let capture = test_capture(None);
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let playback = Arc::new(
        Playback::video(
            VP8_PAYLOAD_TYPE,
            remote(),
            &PlaybackOptions::default(),
            &events,
        )
        .unwrap(),
    );
    let task = pipe(&capture, true, playback.clone());
    let stats = playback.stats();
    wait_until("decoded frames", &task, || stats.frames_decoded() > 5).await;
    let decoder = playback
        .pipeline
        .iterate_elements()
        .into_iter()
        .flatten()
        .find(|e| e.factory().is_some_and(|f| f.name() == "vp8dec"))
        .expect("a decoder");
    let posted = decoder.post_message(
        gstreamer::message::Error::builder(
            gstreamer::StreamError::Decode,
            "injected decoder failure",
        )
        .src(&decoder)
        .build(),
    );
    assert!(posted.is_ok());
    let event = next_event(&mut received).await;
    assert_eq!(
        event,
        MediaEvent::Error {
            pipeline: MediaPipeline::PeerVideo {
                room: "r".into(),
                peer: "p".into()
            },
            message: "injected decoder failure".into(),
        }
    );
    assert_eq!(
        event.notice(),
        "A participant's picture stopped (injected decoder failure)."
    );
    task.abort();
}

/// Ending a call (stopping the capture, dropping playbacks) is not reported as a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_media_reports_nothing() {
    let (session, mut events) = lone_session();
    let capture = session
        .start_capture(CaptureOptions {
            video: VideoSource::Test,
            audio: AudioSource::Test,
            preview: None,
            echo_cancel: false,
        })
        .expect("GStreamer runs");
    let mut video = capture.subscribe(true).expect("video runs");
    let _ = tokio::time::timeout(Duration::from_secs(5), video.recv()).await;
    drop(capture);
    assert!(session.stop_capture());
    let reported = tokio::time::timeout(Duration::from_secs(1), events.recv()).await;
    assert!(reported.is_err(), "{reported:?}");
}

/// A device's warning while a pipeline plays is told; what a pipeline says while it starts is not (here:
/// autoaudiosink warns that no sound output answers, and the call plays nowhere, as before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_warning_mid_call_is_told_and_one_while_starting_is_not() {
    use gstreamer::prelude::*;
    let capture = test_capture(None);
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let options = PlaybackOptions {
        frames: None,
        speaker: true,
    };
    let playback =
        Arc::new(Playback::audio(OPUS_PAYLOAD_TYPE, &remote(), &options, &events).unwrap());
    let task = pipe(&capture, false, playback.clone());
    let stats = playback.stats();
    wait_until("the tone", &task, || stats.audio_level() > 0.2).await;
    let started = tokio::time::timeout(Duration::from_millis(500), received.recv()).await;
    assert!(started.is_err(), "{started:?}");

    let posted = playback.pipeline.post_message(
        gstreamer::message::Warning::builder(gstreamer::ResourceError::Read, "the speaker hiccups")
            .src(&playback.pipeline)
            .build(),
    );
    assert!(posted.is_ok());
    assert_eq!(
        next_event(&mut received).await,
        MediaEvent::Warning {
            pipeline: MediaPipeline::PeerAudio {
                room: "r".into(),
                peer: "p".into()
            },
            message: "the speaker hiccups".into(),
        }
    );
    task.abort();
}
