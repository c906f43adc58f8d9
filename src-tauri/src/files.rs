//! The app's side of files over the native links (docs/files.md; the wire format is p2pchat-core's
//! `links::files`): files peers send are saved in the Downloads folder, and every transfer that finishes
//! with its SHA-256 checked, either way, goes into the history (name, size, hash, where the file is), so it
//! can be found again by name without the network.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use p2pchat_core::links::{DEFAULT_MAX_FILE_BYTES, FileEvent, FileOptions, LinkManager};
use tokio::sync::mpsc;

use crate::history::{CallDirection, History, HistoryError, NewFile};

/// File events waiting for the recorder before transfers wait.
const EVENT_BUFFER: usize = 256;

/// Where received files go: the user's Downloads folder, or `fallback` (a folder of the app's own data)
/// on systems without one.
pub fn downloads_dir(download_dir: Option<PathBuf>, fallback: &Path) -> PathBuf {
    download_dir.unwrap_or_else(|| fallback.join("Downloads"))
}

/// Files this app is sending: the original's path by transfer id, for the history once the peer
/// confirmed the file.
#[derive(Clone, Default)]
pub struct Outgoing(Arc<Mutex<HashMap<String, PathBuf>>>);

impl Outgoing {
    /// Sends `path` to `peer` in `room` through `manager`; returns the transfer id.
    pub async fn send(
        &self,
        manager: &LinkManager,
        room: &str,
        peer: &str,
        path: &Path,
    ) -> Result<String, p2pchat_core::links::FileError> {
        let id = manager.send_file(room, peer, path).await?;
        self.lock().insert(id.clone(), path.to_owned());
        Ok(id)
    }

    fn take(&self, id: &str) -> Option<PathBuf> {
        self.lock().remove(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PathBuf>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Turns files on for `manager`: received ones are saved in `dir` (created if needed), finished
/// transfers are recorded in `history`. Returns the sends' registry for the commands.
pub fn enable(manager: &LinkManager, dir: PathBuf, history: Option<History>) -> Outgoing {
    if let Err(err) = std::fs::create_dir_all(&dir) {
        tracing::warn!(dir = %dir.display(), %err, "cannot create the folder for received files");
    }
    let (events, mut rx) = mpsc::channel(EVENT_BUFFER);
    manager.enable_files(FileOptions {
        dir,
        max_bytes: DEFAULT_MAX_FILE_BYTES,
        events,
    });
    let outgoing = Outgoing::default();
    let sends = outgoing.clone();
    tauri::async_runtime::spawn(async move {
        while let Some(event) = rx.recv().await {
            if let Some(history) = &history
                && let Err(err) = record(history, &event, &sends).await
            {
                tracing::warn!(%err, "cannot record a file in the history");
            }
            if let FileEvent::Ended { id, reason, .. } = &event {
                sends.take(id);
                tracing::info!(id, reason, "file transfer ended without the file");
            }
        }
    });
    outgoing
}

/// Records a finished transfer (`Received`, or `Sent` for a file sent through `sends`); other events
/// are not history. Returns whether a row was written.
pub async fn record(
    history: &History,
    event: &FileEvent,
    sends: &Outgoing,
) -> Result<bool, HistoryError> {
    let (room, peer, id, name, size, sha256, path, direction) = match event {
        FileEvent::Received {
            room,
            peer,
            id,
            name,
            size,
            sha256,
            path,
        } => (
            room,
            peer,
            id,
            name,
            size,
            sha256,
            path.clone(),
            CallDirection::Incoming,
        ),
        FileEvent::Sent {
            room,
            peer,
            id,
            name,
            size,
            sha256,
        } => match sends.take(id) {
            Some(path) => (
                room,
                peer,
                id,
                name,
                size,
                sha256,
                path,
                CallDirection::Outgoing,
            ),
            None => return Ok(false),
        },
        _ => return Ok(false),
    };
    let peer_name = history.peer_name(peer).await?.unwrap_or_default();
    history
        .file_finished(&NewFile {
            transfer_id: id.clone(),
            room: room.clone(),
            peer: peer.clone(),
            peer_name,
            direction,
            name: name.clone(),
            size: *size,
            sha256: sha256.clone(),
            path: path.to_string_lossy().into_owned(),
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{DB_FILE, OpenOptions};

    /// A file received over the native links is in the history under the sender's name, with its hash
    /// and where it was saved, found by name; the same event twice is one row.
    #[tokio::test]
    async fn received_files_are_recorded_and_found_by_name() {
        let dir = tempfile::TempDir::new().unwrap();
        let history = History::open(&dir.path().join(DB_FILE), &OpenOptions::default())
            .await
            .unwrap()
            .history;
        history.peer_seen("peer-b", "Bob").await.unwrap();
        let saved = dir.path().join("Downloads").join("Holiday photo.jpg");
        let event = FileEvent::Received {
            room: "team".into(),
            peer: "peer-b".into(),
            id: "6f0c-1".into(),
            name: "Holiday photo.jpg".into(),
            size: 8_388_608,
            sha256: "ab".repeat(32),
            path: saved.clone(),
        };
        let sends = Outgoing::default();
        assert!(record(&history, &event, &sends).await.unwrap());
        assert!(!record(&history, &event, &sends).await.unwrap());
        let found = history.search_files("photo", None, 10).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            (
                found[0].peer_name.as_str(),
                found[0].size,
                found[0].direction,
                found[0].path.as_str()
            ),
            (
                "Bob",
                8_388_608,
                CallDirection::Incoming,
                saved.to_str().unwrap()
            )
        );
        // A confirmation for a file this app did not send (or already recorded) writes nothing.
        let sent = FileEvent::Sent {
            room: "team".into(),
            peer: "peer-b".into(),
            id: "77".into(),
            name: "x".into(),
            size: 1,
            sha256: "cd".repeat(32),
        };
        assert!(!record(&history, &sent, &sends).await.unwrap());
        sends.lock().insert("77".into(), dir.path().join("x"));
        assert!(record(&history, &sent, &sends).await.unwrap());
        assert_eq!(history.search_files("", None, 10).await.unwrap().len(), 2);
    }

    #[test]
    fn received_files_go_to_downloads() {
        let data = Path::new("/data/p2pchat");
        assert_eq!(
            downloads_dir(Some("/home/ann/Downloads".into()), data),
            Path::new("/home/ann/Downloads")
        );
        assert_eq!(downloads_dir(None, data), data.join("Downloads"));
    }
}
