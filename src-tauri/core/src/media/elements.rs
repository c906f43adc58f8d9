//! The GStreamer elements a native call needs. Checked when the app starts, so a missing plugin is
//! named with the Debian package to install instead of failing mid-call.

use serde::Serialize;
use ts_rs::TS;

/// (element, Debian package that ships it).
const REQUIRED: &[(&str, &str)] = &[
    ("appsrc", "gstreamer1.0-plugins-base"),
    ("appsink", "gstreamer1.0-plugins-base"),
    ("videoconvert", "gstreamer1.0-plugins-base"),
    ("videoscale", "gstreamer1.0-plugins-base"),
    ("videorate", "gstreamer1.0-plugins-base"),
    ("videotestsrc", "gstreamer1.0-plugins-base"),
    ("audioconvert", "gstreamer1.0-plugins-base"),
    ("audioresample", "gstreamer1.0-plugins-base"),
    ("audiotestsrc", "gstreamer1.0-plugins-base"),
    ("volume", "gstreamer1.0-plugins-base"),
    ("opusenc", "gstreamer1.0-plugins-base"),
    ("opusdec", "gstreamer1.0-plugins-base"),
    ("vp8enc", "gstreamer1.0-plugins-good"),
    ("vp8dec", "gstreamer1.0-plugins-good"),
    ("rtpvp8pay", "gstreamer1.0-plugins-good"),
    ("rtpvp8depay", "gstreamer1.0-plugins-good"),
    ("rtpopuspay", "gstreamer1.0-plugins-good"),
    ("rtpopusdepay", "gstreamer1.0-plugins-good"),
    ("rtpjitterbuffer", "gstreamer1.0-plugins-good"),
    ("jpegenc", "gstreamer1.0-plugins-good"),
    ("autovideosrc", "gstreamer1.0-plugins-good"),
    ("ximagesrc", "gstreamer1.0-plugins-good"),
    ("tee", "libgstreamer1.0-0"),
    ("autoaudiosrc", "gstreamer1.0-plugins-good"),
    ("autoaudiosink", "gstreamer1.0-plugins-good"),
    ("valve", "libgstreamer1.0-0"),
    ("webrtcdsp", "gstreamer1.0-plugins-bad"),
    ("webrtcechoprobe", "gstreamer1.0-plugins-bad"),
];

/// An element the call needs that is not installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct MissingElement {
    pub element: String,
    /// The Debian package to install.
    pub package: String,
}

/// The required elements GStreamer cannot make (empty when calls can work). Errors initialising
/// GStreamer itself report every element missing.
pub fn missing_elements() -> Vec<MissingElement> {
    #[cfg(target_os = "linux")]
    let ready = super::init().is_ok();
    #[cfg(not(target_os = "linux"))]
    let ready = false;
    REQUIRED
        .iter()
        .filter(|(element, _)| !ready || !installed(element))
        .map(|(element, package)| MissingElement {
            element: (*element).to_owned(),
            package: (*package).to_owned(),
        })
        .collect()
}

/// Loads the plugins a call uses (by making each element once), so the first call does not wait for
/// them: the first start of the pipelines took seconds. Blocking; run it off the async threads at
/// startup. Does nothing where native media does not run.
pub fn prewarm() {
    #[cfg(target_os = "linux")]
    if super::init().is_ok() {
        for (element, _) in REQUIRED {
            let _ = gstreamer::ElementFactory::make(element).build();
        }
    }
}

#[cfg(target_os = "linux")]
fn installed(element: &str) -> bool {
    gstreamer::ElementFactory::find(element).is_some()
}

#[cfg(not(target_os = "linux"))]
fn installed(_element: &str) -> bool {
    false
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The test machine installs every package listed: a call must not be refused there.
    #[test]
    fn every_required_element_is_installed_here() {
        assert_eq!(missing_elements(), Vec::new());
    }
}
