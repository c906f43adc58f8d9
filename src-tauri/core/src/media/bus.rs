//! One watcher per pipeline, for the pipeline's whole life: what GStreamer posts on its bus mid-call
//! (an error, a device's warning, the end of the stream) becomes a [`MediaEvent`] for the call session
//! to publish. Starting a pipeline reads its bus once for the cause of a failed start (`capture::start`);
//! this is what comes after.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::types::{MediaEvent, MediaEvents, MediaPipeline};

/// How long the watcher waits on the bus before checking whether it was stopped (a stopped pipeline's
/// bus may be flushing and drop the stop message).
const POLL: gst::ClockTime = gst::ClockTime::from_mseconds(500);
/// The application message that stops a watcher.
const STOP: &str = "p2pchat-bus-watch-stop";

/// Watches one pipeline's bus until dropped (drop it before the pipeline goes to `Null`, so the
/// teardown is not reported).
pub(super) struct BusWatch {
    bus: gst::Bus,
    stopped: Arc<AtomicBool>,
}

impl BusWatch {
    /// Starts watching `pipeline` (whose media is `role`), sending what matters to `events`; `playing`:
    /// it already plays (a capture is watched once it does; a playback from its first moment, and its
    /// bus says when it plays).
    pub fn start(
        pipeline: &gst::Pipeline,
        playing: bool,
        role: MediaPipeline,
        events: MediaEvents,
    ) -> BusWatch {
        let bus = pipeline.bus().expect("a pipeline has a bus");
        let stopped = Arc::new(AtomicBool::new(false));
        let watched = bus.clone();
        let stop = stopped.clone();
        let spawned = std::thread::Builder::new()
            .name("media-bus".into())
            .spawn(move || watch(&watched, &stop, playing, &role, &events));
        if let Err(err) = spawned {
            tracing::warn!(%err, "cannot watch a media pipeline's bus");
        }
        BusWatch { bus, stopped }
    }
}

impl Drop for BusWatch {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Release);
        let _ = self
            .bus
            .post(gst::message::Application::builder(gst::Structure::new_empty(STOP)).build());
    }
}

fn watch(
    bus: &gst::Bus,
    stopped: &AtomicBool,
    mut playing: bool,
    role: &MediaPipeline,
    events: &MediaEvents,
) {
    let types = [
        gst::MessageType::Error,
        gst::MessageType::Warning,
        gst::MessageType::Eos,
        gst::MessageType::StateChanged,
        gst::MessageType::Application,
    ];
    // A failing pipeline posts its first error, then often what follows from it (more errors, the end
    // of its stream): only the error is told.
    let mut failed = false;
    while !stopped.load(Ordering::Acquire) {
        let Some(message) = bus.timed_pop_filtered(POLL, &types) else {
            continue;
        };
        let event = match message.view() {
            gst::MessageView::Application(app)
                if app.structure().is_some_and(|s| s.name() == STOP) =>
            {
                return;
            }
            _ if failed => continue,
            gst::MessageView::StateChanged(changed) => {
                let of_pipeline = message.src().is_some_and(|s| s.is::<gst::Pipeline>());
                playing |= of_pipeline && changed.current() == gst::State::Playing;
                continue;
            }
            gst::MessageView::Error(err) => {
                failed = true;
                tracing::warn!(pipeline = ?role, error = %err.error(), debug = ?err.debug(), "media pipeline failed");
                MediaEvent::Error {
                    pipeline: role.clone(),
                    message: err.error().to_string(),
                }
            }
            // A device acting up mid-call (resource warnings once the pipeline plays) matters to the
            // person; the rest is only logged: what a pipeline says while it starts (autoaudiosink
            // warns when no sound output answers and it plays nowhere, as a server or a container
            // without sound does) and what heals by itself (a frame not decoded after a loss).
            gst::MessageView::Warning(warning) => {
                let error = warning.error();
                if !playing || !error.is::<gst::ResourceError>() {
                    tracing::debug!(pipeline = ?role, warning = %error, "media pipeline warning");
                    continue;
                }
                tracing::warn!(pipeline = ?role, warning = %error, "media device warning");
                MediaEvent::Warning {
                    pipeline: role.clone(),
                    message: error.to_string(),
                }
            }
            gst::MessageView::Eos(_) => MediaEvent::Ended {
                pipeline: role.clone(),
            },
            _ => continue,
        };
        // Nobody listening (the session is gone) is fine: the pipeline goes with it.
        let _ = events.send(event);
    }
}
