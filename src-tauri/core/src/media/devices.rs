//! The cameras, microphones and speakers a person can choose for calls, as GStreamer's device monitor
//! sees them (V4L2 cameras, PulseAudio sources and sinks), and the speaker calls play on.

use std::sync::RwLock;

use serde::Serialize;
use ts_rs::TS;

/// One device a person can pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct MediaDevice {
    /// What the pipelines open: a V4L2 path (`/dev/video0`) or a PulseAudio source or sink name.
    pub id: String,
    /// What the person reads ("Integrated Camera", "Built-in Audio Analog Stereo").
    pub name: String,
}

/// The devices present now. Empty lists are an honest answer (a server, a container, no PulseAudio).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
pub struct MediaDevices {
    pub cameras: Vec<MediaDevice>,
    pub microphones: Vec<MediaDevice>,
    pub speakers: Vec<MediaDevice>,
}

impl MediaDevices {
    /// Whether `id` is a camera present now.
    pub fn has_camera(&self, id: &str) -> bool {
        self.cameras.iter().any(|d| d.id == id)
    }

    pub fn has_microphone(&self, id: &str) -> bool {
        self.microphones.iter().any(|d| d.id == id)
    }

    pub fn has_speaker(&self, id: &str) -> bool {
        self.speakers.iter().any(|d| d.id == id)
    }
}

static SPEAKER: RwLock<Option<String>> = RwLock::new(None);

/// The speaker playbacks that play sound use from now on (a PulseAudio sink name; `None`: the system's
/// default). One per process: the app has one speaker for all its calls. A sink that is gone when a
/// call starts plays on the default instead.
pub fn set_speaker(device: Option<String>) {
    *SPEAKER
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = device;
}

/// The speaker chosen with [`set_speaker`].
pub fn speaker() -> Option<String> {
    SPEAKER
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Lists cameras, microphones and speakers (blocking, ≈ 100 ms: run it off the async threads).
#[cfg(target_os = "linux")]
pub fn list_devices() -> Result<MediaDevices, super::MediaError> {
    use gstreamer as gst;
    use gstreamer::prelude::*;

    super::init()?;
    let monitor = gst::DeviceMonitor::new();
    for class in ["Video/Source", "Audio/Source", "Audio/Sink"] {
        monitor.add_filter(Some(class), None);
    }
    monitor
        .start()
        .map_err(|e| super::MediaError::Pipeline(format!("device monitor: {e}")))?;
    let found = monitor.devices();
    monitor.stop();
    let mut devices = MediaDevices::default();
    for device in found {
        let class = device.device_class();
        let properties = device.properties();
        let property = |name: &str| properties.as_ref().and_then(|p| p.get::<String>(name).ok());
        // PulseAudio lists every sink's monitor as a source: not a microphone.
        if property("device.class").as_deref() == Some("monitor") {
            continue;
        }
        let Some(id) = device_id(&device) else {
            continue;
        };
        let entry = MediaDevice {
            id,
            name: device.display_name().to_string(),
        };
        let list = if class.contains("Video/Source") {
            &mut devices.cameras
        } else if class.contains("Audio/Source") {
            &mut devices.microphones
        } else if class.contains("Audio/Sink") {
            &mut devices.speakers
        } else {
            continue;
        };
        if !list.iter().any(|d| d.id == entry.id) {
            list.push(entry);
        }
    }
    Ok(devices)
}

/// What a pipeline opens for `device`: the `device` property of the element it makes (`v4l2src`,
/// `pulsesrc`, `pulsesink`).
#[cfg(target_os = "linux")]
fn device_id(device: &gstreamer::Device) -> Option<String> {
    use gstreamer::prelude::*;
    let element = device.create_element(None).ok()?;
    element.find_property("device")?;
    element
        .property::<Option<String>>("device")
        .filter(|id| !id.is_empty())
}

/// No native calls here: no devices to choose.
#[cfg(not(target_os = "linux"))]
pub fn list_devices() -> Result<MediaDevices, super::MediaError> {
    Ok(MediaDevices::default())
}
