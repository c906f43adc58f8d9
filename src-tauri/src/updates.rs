//! Signed updates (desktop): the updater plugin reads the release manifest from the endpoints in
//! tauri.conf.json (`plugins.updater`) and accepts a package only if its minisign signature matches the
//! public key there. Release builds get both from the release workflow; a build without them never checks.
//! Only Rust checks: the webview has no updater permission (capabilities/), so a script in the page cannot
//! point the updater elsewhere or allow a downgrade, and an older release is never offered, whatever a
//! manifest or the configuration says.

use tauri::{AppHandle, Runtime};
use tauri_plugin_updater::UpdaterExt;

/// The updater plugin as the app registers it.
pub fn plugin<R: Runtime>() -> tauri::plugin::TauriPlugin<R, tauri_plugin_updater::Config> {
    // Only a newer version is an update: a signed older build (with a known hole) is never installed.
    tauri_plugin_updater::Builder::new()
        .default_version_comparator(|current, release| release.version > current)
        .build()
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
