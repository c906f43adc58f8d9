//! Signed updates (desktop): the updater plugin reads the release manifest from the endpoints in
//! tauri.conf.json (`plugins.updater`) and accepts a package only if its minisign signature matches the
//! public key there. Release builds get both from the release workflow; a build without them never checks.

use tauri::{AppHandle, Runtime};
use tauri_plugin_updater::UpdaterExt;

/// The updater plugin as the app registers it.
pub fn plugin<R: Runtime>() -> tauri::plugin::TauriPlugin<R, tauri_plugin_updater::Config> {
    tauri_plugin_updater::Builder::new().build()
}

/// Looks for a newer release once, in the background, and logs what it found. Installing stays the
/// user's choice (the package manager or the UI), so nothing is downloaded here.
pub async fn check_at_startup<R: Runtime>(app: AppHandle<R>) {
    let updater = match app.updater() {
        Ok(updater) => updater,
        // No endpoints configured (development and test builds): nothing to check.
        Err(tauri_plugin_updater::Error::EmptyEndpoints) => return,
        Err(err) => {
            tracing::warn!(%err, "updater unavailable");
            return;
        }
    };
    match updater.check().await {
        Ok(Some(update)) => tracing::info!(version = %update.version, "an update is available"),
        Ok(None) => tracing::info!("the app is up to date"),
        Err(err) => tracing::warn!(%err, "cannot check for updates"),
    }
}

#[cfg(test)]
mod tests;
