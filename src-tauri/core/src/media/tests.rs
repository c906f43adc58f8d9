//! Capture → playback through real GStreamer pipelines, without a network: the test sources' RTP is fed
//! straight into playbacks, so encoding, packetising, jitter buffering and decoding are what is checked.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

/// Collects the preview and decoded frames a test receives.
#[derive(Default)]
struct Frames(Mutex<Vec<VideoFrame>>);

impl FrameSink for Frames {
    fn frame(&self, frame: VideoFrame) {
        self.0.lock().unwrap().push(frame);
    }
}

fn test_capture(preview: Option<Arc<dyn FrameSink>>) -> Capture {
    Capture::start(CaptureOptions {
        video: VideoSource::Test,
        audio: AudioSource::Test,
        preview,
        echo_cancel: false,
    })
    .expect("GStreamer runs")
}

/// Forwards `capture`'s `video` (or audio) RTP into `playback` until the returned task is aborted.
fn pipe(capture: &Capture, video: bool, playback: Arc<Playback>) -> tokio::task::JoinHandle<()> {
    let mut packets = capture.subscribe(video).expect("the test source runs");
    tokio::spawn(async move {
        while let Ok(packet) = packets.recv().await {
            playback.push(packet.to_vec());
        }
    })
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
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
    let playback = Arc::new(Playback::video(VP8_PAYLOAD_TYPE, source.clone(), &options).unwrap());
    let task = pipe(&capture, true, playback.clone());
    let stats = playback.stats();
    wait_until("decoded frames", || stats.frames_decoded() > 15).await;
    let frame = shown.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(frame.source, source);
    assert_eq!((frame.width, frame.height), (640, 480));
    assert_eq!(&frame.jpeg[..2], &[0xff, 0xd8], "a JPEG");
    wait_until("preview frames", || !preview.0.lock().unwrap().is_empty()).await;
    assert_eq!(preview.0.lock().unwrap()[0].source, FrameSource::Local);

    capture.set_camera_off(true);
    tokio::time::sleep(Duration::from_millis(500)).await; // frames in flight
    let stopped = stats.frames_decoded();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(stats.frames_decoded() <= stopped + 1, "frames kept coming");
    capture.set_camera_off(false);
    wait_until("frames again", || stats.frames_decoded() > stopped + 10).await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sound_is_heard_and_mute_silences_it() {
    let capture = test_capture(None);
    let playback =
        Arc::new(Playback::audio(OPUS_PAYLOAD_TYPE, &PlaybackOptions::default()).unwrap());
    let task = pipe(&capture, false, playback.clone());
    let stats = playback.stats();
    // The tone at volume 0.4 has an RMS of ≈ 0.28.
    wait_until("the tone", || stats.audio_level() > 0.2).await;
    capture.set_muted(true);
    wait_until("silence", || stats.audio_level() < 0.003).await;
    capture.set_muted(false);
    wait_until("the tone again", || stats.audio_level() > 0.2).await;
    task.abort();
}
