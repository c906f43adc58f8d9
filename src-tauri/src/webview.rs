//! WebRTC in the webview. On Linux, WebKitGTK needs WebRTC and media streams switched on, and user-media
//! permission requests answered (allowed for the app's own pages only). Whether `RTCPeerConnection`
//! really exists is then measured in the page (Debian 12's WebKitGTK has none even with the setting on)
//! and reported back, so the UI can explain why calls are unavailable and offer the browser instead.

/// Script run after each page load: reports the capabilities through the app's own command.
pub const DETECT_SCRIPT: &str = "window.__TAURI_INTERNALS__ && window.__TAURI_INTERNALS__.invoke(\
'report_webview_capabilities', {capabilities: {\
rtc_peer_connection: typeof RTCPeerConnection === 'function', \
get_user_media: !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)}})";

/// Whether `uri` is one of the app's own pages (the bundled assets' origin on each platform).
pub fn is_app_origin(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    matches!(
        (url.scheme(), url.host_str()),
        ("tauri", Some("localhost")) | ("http" | "https", Some("tauri.localhost"))
    )
}

/// Turns on WebRTC and media streams in WebKitGTK and allows camera/microphone requests from the app's
/// own pages (the OS and WebKit still apply their own checks).
#[cfg(target_os = "linux")]
pub fn enable_webrtc(webview: &tauri::webview::PlatformWebview) {
    use webkit2gtk::glib::prelude::Cast;
    use webkit2gtk::{PermissionRequestExt, SettingsExt, UserMediaPermissionRequest, WebViewExt};

    let view = webview.inner();
    if let Some(settings) = WebViewExt::settings(&view) {
        settings.set_enable_webrtc(true);
        settings.set_enable_media_stream(true);
    }
    view.connect_permission_request(|view, request| {
        if request
            .downcast_ref::<UserMediaPermissionRequest>()
            .is_none()
        {
            return false; // not ours to decide: WebKit's default (deny)
        }
        let own = view.uri().is_some_and(|uri| is_app_origin(&uri));
        if own {
            request.allow();
        } else {
            request.deny();
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Camera and microphone are granted to the app's own pages only, never to a page it navigated to.
    #[test]
    fn only_the_apps_own_origin_counts() {
        assert!(is_app_origin("tauri://localhost/index.html"));
        assert!(is_app_origin("http://tauri.localhost/"));
        assert!(!is_app_origin("https://evil.example/"));
        assert!(!is_app_origin("http://tauri.localhost.evil.example/"));
        assert!(!is_app_origin("not a url"));
    }
}
