//! Phones rung by push for calls (issue 26) and the Android Keystore for the history key (issue 25), as a
//! Tauri mobile plugin. The native halves live beside this crate and are built by the Tauri CLI:
//! - android/ (Kotlin): UnifiedPush (Web Push, any distributor) or FCM data messages through the server's
//!   push gateway; a CallStyle incoming-call notification with a full-screen intent and the ringtone;
//!   Answer opens the app into the call, Decline posts `/push/decline`; `call-ended` turns it into a
//!   missed call. Also `wrapKey`/`unwrapKey` with a non-exportable Keystore AES-GCM key.
//! - ios/ (Swift): PushKit VoIP pushes, every one reported to CallKit; Answer opens the app into the
//!   call, Decline posts `/push/decline`, `call-ended` ends the CallKit call.
//!
//! What a push means is decided here ([`payload`], tested on every platform) and reached from the
//! native receivers through [`ffi`]. The window calls the native commands directly
//! (`plugin:push-call|subscribe`, `unsubscribe`, `take_answer`; ui/src/lib/push/mobile.ts); on the
//! desktop they do not exist (the desktop app rings through its background connection).

use tauri::{
    Runtime,
    plugin::{Builder, TauriPlugin},
};

pub mod ffi;
pub mod keystore;
#[cfg(mobile)]
mod mobile;
pub mod payload;

/// The plugin. Register it before the history plugin: on Android the history's key is unwrapped by it.
pub fn init<R: Runtime>() -> TauriPlugin<R> {
    Builder::new("push-call")
        .setup(|_app, api| {
            #[cfg(mobile)]
            mobile::register(api)?;
            #[cfg(desktop)]
            let _ = api;
            Ok(())
        })
        .build()
}
