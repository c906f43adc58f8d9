//! The app's side of files over the native links (docs/files.md; the wire format is p2pchat-core's
//! `links::files`): files peers send are saved in the Downloads folder, every transfer that finishes
//! with its SHA-256 checked, either way, goes into the history (name, size, hash, where the file is), so it
//! can be found again by name without the network, and the state of every transfer reaches the window
//! as `files://transfer`. The window's commands (in [`commands`]) send a file the person picked (the webview
//! hands over its bytes, not a path: they arrive in chunks into a copy under the app's data folder, which
//! is then sent), cancel a transfer, list a room's transfers and past files, and show a saved file.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use p2pchat_core::links::{DEFAULT_MAX_FILE_BYTES, FileEnd, FileEvent, FileOptions, LinkManager};
use tauri::plugin::{Builder, TauriPlugin};
use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::mpsc;

use crate::history::{CallDirection, History, HistoryError, HistoryExt, NewFile};
use crate::ipc::{AppEvent, FileStatus, FileTransfer, emit};
use crate::links::LinksExt;

/// File events waiting for the recorder before transfers wait.
const EVENT_BUFFER: usize = 256;
/// The folder of the app's data where picked files are copied before they are sent.
pub const STAGING_DIR: &str = "sending";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

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

    fn path(&self, id: &str) -> Option<PathBuf> {
        self.lock().get(id).cloned()
    }

    /// Whether another transfer still sends the file at `path`.
    fn in_use(&self, path: &Path) -> bool {
        self.lock().values().any(|p| p == path)
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PathBuf>> {
        lock(&self.0)
    }
}

/// A plain file name for the copy of a picked file: the part after the last `/` or `\`, without
/// control characters, `file` if nothing (or `.`/`..`) is left. (The links clean it again when they
/// offer it.)
fn plain_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    let clean = clean.trim();
    if clean.is_empty() || clean == "." || clean == ".." {
        "file".into()
    } else {
        clean.to_owned()
    }
}

/// Raster images a window may show as a thumbnail (never SVG: it can carry script), by extension.
fn is_raster_image(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    matches!(
        ext.as_str(),
        "png" | "jpg" | "jpeg" | "gif" | "webp" | "avif" | "bmp"
    )
}

/// The transfers of this run by id, kept up to date from the links' events.
#[derive(Clone, Default)]
pub struct Transfers(Arc<Mutex<HashMap<String, FileTransfer>>>);

impl Transfers {
    /// Applies `event`; returns the transfer's new state (None for a transfer never started here).
    pub fn apply(&self, event: &FileEvent) -> Option<FileTransfer> {
        let mut all = lock(&self.0);
        let t = match event {
            FileEvent::Started {
                room,
                peer,
                id,
                name,
                size,
                incoming,
            } => {
                let t = FileTransfer {
                    room: room.clone(),
                    peer: peer.clone(),
                    id: id.clone(),
                    name: name.clone(),
                    size: *size,
                    incoming: *incoming,
                    status: if *incoming {
                        FileStatus::Receiving
                    } else {
                        FileStatus::Sending
                    },
                    confirmed: 0,
                    sha256: None,
                    path: None,
                    ended: None,
                    reason: None,
                };
                all.insert(id.clone(), t);
                return all.get(id).cloned();
            }
            FileEvent::Progress { id, confirmed, .. } => {
                let t = all.get_mut(id)?;
                t.confirmed = (*confirmed).min(t.size);
                t
            }
            FileEvent::Received {
                id, sha256, path, ..
            } => {
                let t = all.get_mut(id)?;
                t.status = FileStatus::Done;
                t.confirmed = t.size;
                t.sha256 = Some(sha256.clone());
                t.path = Some(path.to_string_lossy().into_owned());
                t
            }
            FileEvent::Sent { id, sha256, .. } => {
                let t = all.get_mut(id)?;
                t.status = FileStatus::Done;
                t.confirmed = t.size;
                t.sha256 = Some(sha256.clone());
                t
            }
            FileEvent::Ended {
                id,
                outcome,
                reason,
                ..
            } => {
                let t = all.get_mut(id)?;
                t.status = match outcome {
                    FileEnd::Cancelled | FileEnd::CancelledByPeer => FileStatus::Cancelled,
                    FileEnd::Failed => FileStatus::Failed,
                };
                t.ended = Some(*outcome);
                t.reason = Some(reason.clone());
                t
            }
        };
        Some(t.clone())
    }

    /// The transfers of `room`, oldest first.
    pub fn in_room(&self, room: &str) -> Vec<FileTransfer> {
        let mut found: Vec<FileTransfer> = lock(&self.0)
            .values()
            .filter(|t| t.room == room)
            .cloned()
            .collect();
        // Transfer ids are UUID v7 (time-ordered) on this side; the peer's are only kept apart.
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found
    }

    fn get(&self, id: &str) -> Option<FileTransfer> {
        lock(&self.0).get(id).cloned()
    }
}

/// A picked file arriving from the window, chunk after chunk, into `path`.
struct Upload {
    file: tokio::fs::File,
    path: PathBuf,
    size: u64,
    written: u64,
}

/// Files in the app: the links, the transfers, and the files the window is handing over.
pub struct Files {
    manager: LinkManager,
    outgoing: Outgoing,
    transfers: Transfers,
    history: Option<History>,
    staging: PathBuf,
    uploads: tokio::sync::Mutex<HashMap<String, Upload>>,
    next_upload: std::sync::atomic::AtomicU64,
}

/// Turns files on for `manager`: received ones are saved in `dir` (created if needed), picked files are
/// copied under `staging` before they are sent, finished transfers are recorded in `history`, and every
/// change of a transfer is emitted to the window.
pub fn enable<R: Runtime>(
    app: &AppHandle<R>,
    manager: &LinkManager,
    dir: PathBuf,
    staging: PathBuf,
    history: Option<History>,
) -> Files {
    if let Err(err) = std::fs::create_dir_all(&dir) {
        tracing::warn!(dir = %dir.display(), %err, "cannot create the folder for received files");
    }
    let (events, mut rx) = mpsc::channel(EVENT_BUFFER);
    manager.enable_files(FileOptions {
        dir,
        max_bytes: DEFAULT_MAX_FILE_BYTES,
        events,
    });
    let files = Files {
        manager: manager.clone(),
        outgoing: Outgoing::default(),
        transfers: Transfers::default(),
        history: history.clone(),
        staging: staging.clone(),
        uploads: Default::default(),
        next_upload: Default::default(),
    };
    let sends = files.outgoing.clone();
    let transfers = files.transfers.clone();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        // Copies of picked files that reached someone: kept, the history points at them.
        let mut delivered: HashSet<PathBuf> = HashSet::new();
        while let Some(event) = rx.recv().await {
            let staged = match &event {
                FileEvent::Sent { id, .. } | FileEvent::Ended { id, .. } => sends.path(id),
                _ => None,
            };
            if let Some(history) = &history
                && let Err(err) = record(history, &event, &sends).await
            {
                tracing::warn!(%err, "cannot record a file in the history");
            }
            match &event {
                FileEvent::Sent { id, .. } => {
                    sends.take(id);
                    delivered.extend(staged);
                }
                FileEvent::Ended { id, reason, .. } => {
                    sends.take(id);
                    tracing::info!(id, reason, "file transfer ended without the file");
                    // A copy nobody received and nobody is still sending is not needed.
                    if let Some(path) = staged
                        && path.starts_with(&staging)
                        && !delivered.contains(&path)
                        && !sends.in_use(&path)
                    {
                        remove_staged(&path).await;
                    }
                }
                _ => {}
            }
            if let Some(transfer) = transfers.apply(&event) {
                emit(&app, AppEvent::File(&transfer));
            }
        }
    });
    files
}

/// The files plugin (`plugin:files|<command>`): received files go to `download_dir` (None: the user's
/// Downloads folder, else `Downloads/` in the data folder), picked files are copied under the data
/// folder the history plugin resolved before they are sent. Registered after the history and links
/// plugins, whose database, folder and links it uses.
pub fn init<R: Runtime>(download_dir: Option<PathBuf>) -> TauriPlugin<R> {
    Builder::new("files")
        .invoke_handler(tauri::generate_handler![
            commands::file_send_start,
            commands::file_send_chunk,
            commands::file_send_finish,
            commands::file_send_abort,
            commands::file_cancel,
            commands::file_transfers,
            commands::file_history,
            commands::file_reveal,
            commands::file_image,
            commands::history_search_files,
        ])
        .setup(move |app, _api| {
            let data_dir = app.history_state().dir.clone();
            let downloads = downloads_dir(
                download_dir.or_else(|| app.path().download_dir().ok()),
                &data_dir,
            );
            let history = app.history_state().history().ok().cloned();
            let files = enable(
                app,
                app.links().gate.sink(),
                downloads,
                data_dir.join(STAGING_DIR),
                history,
            );
            app.manage(files);
            Ok(())
        })
        .build()
}

/// The files of the app `Self` belongs to.
pub trait FilesExt<R: Runtime> {
    fn files(&self) -> &Files;
}

impl<R: Runtime, T: Manager<R>> FilesExt<R> for T {
    fn files(&self) -> &Files {
        self.state::<Files>().inner()
    }
}

/// Deletes a staged copy and its folder.
async fn remove_staged(path: &Path) {
    let _ = tokio::fs::remove_file(path).await;
    if let Some(dir) = path.parent() {
        let _ = tokio::fs::remove_dir(dir).await;
    }
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

/// The window's file commands (the command list is src/ipc/commands.rs; the plugin registers them).
pub mod commands {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use p2pchat_core::links::DEFAULT_MAX_FILE_BYTES;
    use tauri::ipc::{InvokeBody, Request};
    use tauri::{AppHandle, Runtime, State};
    use tauri_plugin_opener::OpenerExt;
    use tokio::io::AsyncWriteExt;

    use super::{Files, Upload};
    use crate::history::{FileRecord, MAX_FILE_ROWS};
    use crate::ipc::{CommandError, ErrorKind, FileTransfer};

    type Result<T> = std::result::Result<T, CommandError>;

    /// Largest chunk `file_send_chunk` takes.
    pub const MAX_CHUNK_BYTES: usize = 4 * 1024 * 1024;
    /// Largest image `file_image` hands to the window for a thumbnail.
    pub const MAX_THUMBNAIL_BYTES: u64 = 16 * 1024 * 1024;

    fn invalid(message: impl Into<String>) -> CommandError {
        CommandError::new(ErrorKind::Invalid, message)
    }

    fn io(err: std::io::Error) -> CommandError {
        let kind = if err.kind() == std::io::ErrorKind::StorageFull {
            ErrorKind::DiskFull
        } else {
            ErrorKind::Unavailable
        };
        CommandError::new(kind, err.to_string())
    }

    /// Starts handing over a picked file of `size` bytes named `name`; returns the upload's id for
    /// `file_send_chunk` and `file_send_finish`.
    #[tauri::command]
    pub async fn file_send_start(
        files: State<'_, Files>,
        name: String,
        size: u64,
    ) -> Result<String> {
        if size > DEFAULT_MAX_FILE_BYTES {
            return Err(invalid(format!(
                "files are limited to {DEFAULT_MAX_FILE_BYTES} bytes"
            )));
        }
        let n = files
            .next_upload
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let upload = format!("{}-{n}", crate::history::now_ms());
        let dir = files.staging.join(&upload);
        tokio::fs::create_dir_all(&dir).await.map_err(io)?;
        let path = dir.join(super::plain_name(&name));
        let file = tokio::fs::File::create(&path).await.map_err(io)?;
        let entry = Upload {
            file,
            path,
            size,
            written: 0,
        };
        files.uploads.lock().await.insert(upload.clone(), entry);
        Ok(upload)
    }

    /// The next bytes of an upload, as the request's raw body (no JSON, no base64), with the headers
    /// `upload` (its id) and `offset` (where they start: the bytes so far); returns the bytes written so
    /// far.
    #[tauri::command]
    pub async fn file_send_chunk(files: State<'_, Files>, request: Request<'_>) -> Result<u64> {
        let InvokeBody::Raw(bytes) = request.body() else {
            return Err(invalid("a chunk is sent as raw bytes"));
        };
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| invalid(format!("no {name} header")))
        };
        let upload = header("upload")?;
        let offset: u64 = header("offset")?
            .parse()
            .map_err(|_| invalid("offset is not a number"))?;
        if bytes.len() > MAX_CHUNK_BYTES {
            return Err(invalid("chunk too large"));
        }
        let mut uploads = files.uploads.lock().await;
        let entry = uploads
            .get_mut(upload)
            .ok_or_else(|| invalid("no such upload"))?;
        if offset != entry.written || entry.written + bytes.len() as u64 > entry.size {
            return Err(invalid(format!(
                "chunk at {offset} does not follow the {} bytes written",
                entry.written
            )));
        }
        // Written out before the answer: a full disk fails this chunk, not a later one.
        entry.file.write_all(bytes).await.map_err(io)?;
        entry.file.flush().await.map_err(io)?;
        entry.written += bytes.len() as u64;
        Ok(entry.written)
    }

    /// Sends the whole handed-over file to each of `peers` in `room` (one transfer each); returns the
    /// transfer ids of those it could start. Their progress comes as `files://transfer` events.
    #[tauri::command]
    pub async fn file_send_finish(
        files: State<'_, Files>,
        upload: String,
        room: String,
        peers: Vec<String>,
    ) -> Result<Vec<String>> {
        let entry = files.uploads.lock().await.remove(&upload);
        let Some(mut entry) = entry else {
            return Err(invalid("no such upload"));
        };
        let written = async {
            entry.file.flush().await?;
            entry.file.sync_all().await
        };
        if let Err(err) = written.await {
            super::remove_staged(&entry.path).await;
            return Err(io(err));
        }
        if entry.written != entry.size {
            super::remove_staged(&entry.path).await;
            return Err(invalid(format!(
                "{} of {} bytes arrived",
                entry.written, entry.size
            )));
        }
        let mut ids = Vec::new();
        let mut last_error = None;
        for peer in &peers {
            match files
                .outgoing
                .send(&files.manager, &room, peer, &entry.path)
                .await
            {
                Ok(id) => ids.push(id),
                Err(err) => last_error = Some(err),
            }
        }
        if ids.is_empty() {
            super::remove_staged(&entry.path).await;
            return Err(CommandError::new(
                ErrorKind::Unavailable,
                last_error.map_or_else(|| "nobody to send it to".to_owned(), |e| e.to_string()),
            ));
        }
        Ok(ids)
    }

    /// Drops an upload that will not be sent (the window gave up handing it over).
    #[tauri::command]
    pub async fn file_send_abort(files: State<'_, Files>, upload: String) -> Result<()> {
        let entry = files.uploads.lock().await.remove(&upload);
        if let Some(entry) = entry {
            drop(entry.file);
            super::remove_staged(&entry.path).await;
        }
        Ok(())
    }

    /// Cancels transfer `id` (either direction) on both sides; false when it is not under way.
    #[tauri::command]
    pub fn file_cancel(files: State<'_, Files>, id: String) -> bool {
        files.manager.cancel_file(&id)
    }

    /// The transfers of `room` since the app started, in any state.
    #[tauri::command]
    pub fn file_transfers(files: State<'_, Files>, room: String) -> Vec<FileTransfer> {
        files.transfers.in_room(&room)
    }

    /// The files sent and received in `room` that finished with their SHA-256 checked (the history),
    /// newest first.
    #[tauri::command]
    pub async fn file_history(
        files: State<'_, Files>,
        room: String,
        limit: Option<u32>,
    ) -> Result<Vec<FileRecord>> {
        let history = files.history.as_ref().ok_or_else(|| {
            CommandError::new(ErrorKind::Unavailable, "the history is not available")
        })?;
        Ok(history
            .search_files("", Some(&room), limit.unwrap_or(MAX_FILE_ROWS))
            .await?)
    }

    /// The files in the history, in every room, whose name contains every word of `query` (any case,
    /// accents ignored), newest first: the start screen's search.
    #[tauri::command]
    pub async fn history_search_files(
        files: State<'_, Files>,
        query: String,
        limit: Option<u32>,
    ) -> Result<Vec<FileRecord>> {
        if query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let history = files.history.as_ref().ok_or_else(|| {
            CommandError::new(ErrorKind::Unavailable, "the history is not available")
        })?;
        Ok(history
            .search_files(&query, None, limit.unwrap_or(SEARCH_FILE_ROWS))
            .await?)
    }

    /// Files the start screen's search lists when the window does not say.
    pub const SEARCH_FILE_ROWS: u32 = 30;

    /// Where received file `id` was saved: a transfer of this run, or else a file in the history
    /// received under that transfer id (the window names a transfer, never a path).
    async fn saved_path(files: &Files, id: &str) -> Result<std::path::PathBuf> {
        if let Some(path) = files
            .transfers
            .get(id)
            .filter(|t| t.incoming)
            .and_then(|t| t.path)
        {
            return Ok(path.into());
        }
        let past = match &files.history {
            Some(history) => history.received_file(id).await?,
            None => None,
        };
        past.map(|f| std::path::PathBuf::from(f.path))
            .ok_or_else(|| invalid("no received file with this id"))
    }

    /// Shows received file `id` in the system's file manager.
    #[tauri::command]
    pub async fn file_reveal<R: Runtime>(
        app: AppHandle<R>,
        files: State<'_, Files>,
        id: String,
    ) -> Result<()> {
        let path = saved_path(&files, &id).await?;
        app.opener()
            .reveal_item_in_dir(&path)
            .map_err(|e| CommandError::new(ErrorKind::Unavailable, e.to_string()))
    }

    /// The bytes (base64) of received file `id` for a thumbnail, if it is a raster image (never SVG) of
    /// at most MAX_THUMBNAIL_BYTES; None otherwise.
    #[tauri::command]
    pub async fn file_image(files: State<'_, Files>, id: String) -> Result<Option<String>> {
        let path = saved_path(&files, &id).await?;
        if !super::is_raster_image(&path) {
            return Ok(None);
        }
        let size = tokio::fs::metadata(&path).await.map_err(io)?.len();
        if size > MAX_THUMBNAIL_BYTES {
            return Ok(None);
        }
        let bytes = tokio::fs::read(&path).await.map_err(io)?;
        Ok(Some(BASE64.encode(bytes)))
    }
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

    /// The window's view of a transfer follows the links' events: started, confirmed bytes, done with
    /// the hash and (received) the saved path; a cancel by either side is "cancelled", anything else
    /// "failed".
    #[test]
    fn transfers_follow_the_link_events() {
        let transfers = Transfers::default();
        let started = |id: &str, incoming| FileEvent::Started {
            room: "team".into(),
            peer: "p1".into(),
            id: id.into(),
            name: "a.bin".into(),
            size: 100,
            incoming,
        };
        let progress = FileEvent::Progress {
            room: "team".into(),
            id: "in".into(),
            confirmed: 40,
        };
        assert_eq!(
            transfers.apply(&progress),
            None,
            "unknown transfers are not shown"
        );
        let t = transfers.apply(&started("in", true)).unwrap();
        assert_eq!((t.status, t.confirmed), (FileStatus::Receiving, 0));
        assert_eq!(transfers.apply(&progress).unwrap().confirmed, 40);
        let received = FileEvent::Received {
            room: "team".into(),
            peer: "p1".into(),
            id: "in".into(),
            name: "a.bin".into(),
            size: 100,
            sha256: "ab".repeat(32),
            path: "/home/ann/Downloads/a.bin".into(),
        };
        let t = transfers.apply(&received).unwrap();
        assert_eq!(
            (t.status, t.confirmed, t.path.as_deref()),
            (FileStatus::Done, 100, Some("/home/ann/Downloads/a.bin"))
        );
        let ended = |id: &str, outcome, reason: &str| FileEvent::Ended {
            room: "team".into(),
            peer: "p1".into(),
            id: id.into(),
            outcome,
            reason: reason.into(),
        };
        for (id, outcome, reason, status) in [
            ("o1", FileEnd::Cancelled, "cancelled", FileStatus::Cancelled),
            (
                "o2",
                FileEnd::CancelledByPeer,
                "the receiver cancelled",
                FileStatus::Cancelled,
            ),
            // The words do not decide: only the outcome does.
            (
                "o3",
                FileEnd::Failed,
                "refused: cancelled",
                FileStatus::Failed,
            ),
        ] {
            assert_eq!(
                transfers.apply(&started(id, false)).unwrap().status,
                FileStatus::Sending
            );
            let t = transfers.apply(&ended(id, outcome, reason)).unwrap();
            assert_eq!(
                (t.status, t.ended, t.reason.as_deref()),
                (status, Some(outcome), Some(reason))
            );
        }
        assert_eq!(transfers.in_room("team").len(), 4);
        assert!(transfers.in_room("other").is_empty());
    }

    #[test]
    fn picked_names_become_plain_file_names() {
        assert_eq!(plain_name("../../x/report.pdf"), "report.pdf");
        assert_eq!(plain_name("C:\\a\\b.png"), "b.png");
        assert_eq!(plain_name(".."), "file");
        assert!(is_raster_image(Path::new("/d/a.JPG")));
        assert!(!is_raster_image(Path::new("/d/a.svg")));
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
