//! History as an in-crate plugin (`plugin:history|<command>`): it opens the database at startup (the
//! conversation list comes from disk at once, offline too) and owns the [`HistoryState`] and the
//! commands that read and write the history. `HistoryExt::history_state()` gives it to the rest of the app.
//!
//! The database is encrypted with a random key kept in the OS keyring (`keystore`), made and stored on
//! first start (an older release's plain history is encrypted then). Where no keyring works, or the
//! keyring has no key that opens the file, the history starts locked and the window asks for a
//! passphrase (`history_key_status`, `unlock_history`) or offers a new history that keeps the locked
//! file (`start_new_history`). The handle the rest of the app took at startup works once unlocked.

use std::path::PathBuf;

use serde::Serialize;
use tauri::plugin::{Builder, TauriPlugin};
use tauri::{Manager, Runtime, State};
use tokio::sync::{Mutex, watch};
use ts_rs::TS;

use super::keystore::{self, Lookup};
use super::search::{SEARCH_LIMIT, SearchCursor, SearchPage};
use super::{
    CallRecord, Conversation, Cursor, DB_FILE, DbKey, FileKind, History, HistoryError, Message,
    MessageStatus, OpenOptions, Opened, PAGE_SIZE, Page,
};
use crate::ipc::{CommandError, ErrorKind};

type Result<T> = std::result::Result<T, CommandError>;

/// The shortest passphrase the app accepts when one is chosen.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// What the history needs before it can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Nothing: it is open (or failed for another reason, which `app_info` tells).
    Ready,
    /// No keyring, and no encrypted history yet (a new one, or an older release's plain one): the person
    /// chooses a passphrase that encrypts it.
    ChoosePassphrase,
    /// The history is encrypted and no key from the keyring opens it: its passphrase, or a new history.
    EnterPassphrase,
}

/// How the open history's key is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Protection {
    /// A random key in the OS keyring.
    Keyring,
    /// A passphrase the person types at each start.
    Passphrase,
}

/// The history's lock, as the window shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct HistoryKeyStatus {
    pub state: KeyState,
    /// How the open history is protected (none while locked or if it failed to open).
    pub protection: Option<Protection>,
    /// Why a passphrase is asked, for the person (no keyring and why, no key in it, a key that fails).
    pub reason: Option<String>,
    /// The history file.
    pub path: String,
    /// The shortest passphrase accepted when choosing one.
    pub min_passphrase_chars: u32,
}

/// Where the lock stands: what is asked, and the key of the open history.
struct KeyInfo {
    state: KeyState,
    protection: Option<Protection>,
    reason: Option<String>,
    key: Option<DbKey>,
}

/// The history database, or why it could not be opened (the app still runs: signaling works).
pub struct HistoryState {
    history: std::result::Result<History, CommandError>,
    /// The app's data folder (resolved once here; the links keep the device identity and the files
    /// their staging copies in it too).
    pub dir: PathBuf,
    /// Where the database is.
    pub path: PathBuf,
    /// Where a damaged database was moved at startup, for the UI to tell the user.
    pub recovered_from: Option<PathBuf>,
    key: Mutex<KeyInfo>,
    /// True once the history can be read (at once, or when unlocked).
    ready: watch::Sender<bool>,
    /// Where keys come from: [`keyring_key`] (tests give a device without a keyring).
    key_source: KeySource,
}

/// The key for a history file, or what to ask the person and why.
pub(crate) type KeySource = fn(&std::path::Path) -> std::result::Result<DbKey, (KeyState, String)>;

/// The key for the history at `path`: the keyring's, or a new one stored there when the file is not
/// encrypted yet; otherwise what to ask the person, and why.
pub(crate) fn keyring_key(
    path: &std::path::Path,
) -> std::result::Result<DbKey, (KeyState, String)> {
    let encrypted = FileKind::of(path).is_ok_and(|k| k == FileKind::Encrypted);
    match keystore::load(path) {
        Lookup::Found(key) => Ok(key),
        Lookup::Missing if encrypted => Err((
            KeyState::EnterPassphrase,
            "the keyring holds no key for this history".to_owned(),
        )),
        Lookup::Missing => {
            let key = DbKey::generate();
            match keystore::store(path, &key) {
                Ok(()) => Ok(key),
                Err(reason) => Err((KeyState::ChoosePassphrase, reason)),
            }
        }
        Lookup::Unavailable(reason) if encrypted => Err((KeyState::EnterPassphrase, reason)),
        Lookup::Unavailable(reason) => Err((KeyState::ChoosePassphrase, reason)),
    }
}

impl HistoryState {
    /// Opens (creating, encrypting or migrating) the database in `dir` with the keyring's key, or
    /// starts it locked when a passphrase is needed.
    fn open(dir: PathBuf) -> HistoryState {
        // The crate's own tests drive the whole app on Tauri's mock runtime, many at once, on a developer's
        // machine too: their histories take a key kept in memory rather than filling the person's
        // keyring. The keyring itself is tested in key_tests and by the Xvfb and .deb tests.
        #[cfg(test)]
        let key_source: KeySource = test_key;
        #[cfg(not(test))]
        let key_source: KeySource = keyring_key;
        Self::open_with(dir, key_source)
    }

    /// [`HistoryState::open`] with keys from `key_source`.
    pub(crate) fn open_with(dir: PathBuf, key_source: KeySource) -> HistoryState {
        let path = dir.join(DB_FILE);
        let options = OpenOptions::default();
        let (state, reason, key) = match key_source(&path) {
            Ok(key) => (KeyState::Ready, None, Some(key)),
            Err((state, reason)) => (state, Some(reason), None),
        };
        let opened = key.as_ref().map(|key| {
            let options = OpenOptions {
                key: Some(key.clone()),
                ..options.clone()
            };
            tauri::async_runtime::block_on(History::open(&path, &options))
        });
        let (history, info, recovered_from) = match opened {
            None => {
                tracing::warn!(path = %path.display(), ?state, reason = reason.as_deref().unwrap_or(""), "history locked until a passphrase is given");
                let info = KeyInfo {
                    state,
                    protection: None,
                    reason,
                    key: None,
                };
                (Ok(locked(&path, &options)), info, None)
            }
            Some(Ok(o)) => {
                log_opened(&path, &o);
                let info = KeyInfo {
                    state: KeyState::Ready,
                    protection: Some(Protection::Keyring),
                    reason: None,
                    key,
                };
                (Ok(o.history), info, o.recovered_from)
            }
            Some(Err(HistoryError::WrongKey { .. })) => {
                tracing::warn!(path = %path.display(), "the keyring's key does not open the history; asking for its passphrase");
                let info = KeyInfo {
                    state: KeyState::EnterPassphrase,
                    protection: None,
                    reason: Some("the key in the keyring does not open this history".to_owned()),
                    key: None,
                };
                (Ok(locked(&path, &options)), info, None)
            }
            Some(Err(err)) => {
                tracing::error!(%err, "history unavailable; chat history will not be saved");
                let info = KeyInfo {
                    state: KeyState::Ready,
                    protection: None,
                    reason: None,
                    key: None,
                };
                (Err(err.into()), info, None)
            }
        };
        let ready = info.state == KeyState::Ready;
        HistoryState {
            history,
            dir,
            path,
            recovered_from,
            key: Mutex::new(info),
            ready: watch::Sender::new(ready),
            key_source,
        }
    }

    /// The history, or the error that kept it from opening. While it waits for a passphrase this is a
    /// handle that fails until it is unlocked, and works from then on.
    pub fn history(&self) -> Result<&History> {
        self.history.as_ref().map_err(Clone::clone)
    }

    /// Waits until the history can be read (at once unless it waits for a passphrase).
    pub async fn wait_ready(&self) {
        let _ = self.ready_flag().wait_for(|ready| *ready).await;
    }

    /// Whether the history can be read, as it changes.
    pub(crate) fn ready_flag(&self) -> watch::Receiver<bool> {
        self.ready.subscribe()
    }

    /// The lock as the window shows it.
    pub async fn key_status(&self) -> HistoryKeyStatus {
        let info = self.key.lock().await;
        self.status(&info)
    }

    fn status(&self, info: &KeyInfo) -> HistoryKeyStatus {
        HistoryKeyStatus {
            state: info.state,
            protection: info.protection,
            reason: info.reason.clone(),
            path: self.path.display().to_string(),
            min_passphrase_chars: MIN_PASSPHRASE_CHARS as u32,
        }
    }

    /// Opens the locked history with `passphrase` (when choosing one: encrypts a new or plain history
    /// with it). A passphrase that does not open it is a `wrong_key` error and changes nothing.
    pub async fn unlock(&self, passphrase: &str) -> Result<HistoryKeyStatus> {
        let mut info = self.key.lock().await;
        match info.state {
            KeyState::Ready => {
                return Err(CommandError::new(
                    ErrorKind::Invalid,
                    "the history is not locked",
                ));
            }
            KeyState::ChoosePassphrase if passphrase.chars().count() < MIN_PASSPHRASE_CHARS => {
                return Err(CommandError::new(
                    ErrorKind::Invalid,
                    format!("choose a passphrase of at least {MIN_PASSPHRASE_CHARS} characters"),
                ));
            }
            KeyState::EnterPassphrase if passphrase.is_empty() => {
                return Err(CommandError::new(
                    ErrorKind::Invalid,
                    "enter the history's passphrase",
                ));
            }
            _ => {}
        }
        let key = DbKey::passphrase(passphrase);
        self.open_locked(&mut info, key, Protection::Passphrase)
            .await?;
        Ok(self.status(&info))
    }

    /// Keeps the locked history file aside (renamed `<name>.locked-<unix ms>`, never deleted: its key or
    /// passphrase still opens it) and starts a new one, with a keyring key where a keyring works.
    pub async fn start_new(&self) -> Result<HistoryKeyStatus> {
        let mut info = self.key.lock().await;
        if info.state != KeyState::EnterPassphrase {
            return Err(CommandError::new(
                ErrorKind::Invalid,
                "only a locked history is set aside",
            ));
        }
        let aside = super::move_aside(&self.path, "locked")?;
        tracing::warn!(path = %self.path.display(), aside = %aside.display(), "locked history kept aside; starting a new one");
        match (self.key_source)(&self.path) {
            Ok(key) => {
                self.open_locked(&mut info, key, Protection::Keyring)
                    .await?
            }
            Err((state, reason)) => {
                info.state = state;
                info.reason = Some(reason);
            }
        }
        Ok(self.status(&info))
    }

    /// Opens the file with `key` and hands its connections to the handle the app holds.
    async fn open_locked(
        &self,
        info: &mut KeyInfo,
        key: DbKey,
        protection: Protection,
    ) -> Result<()> {
        let history = self.history()?;
        let options = OpenOptions {
            key: Some(key.clone()),
            ..OpenOptions::default()
        };
        let opened = match History::open(&self.path, &options).await {
            Ok(opened) => opened,
            Err(HistoryError::WrongKey { .. }) => {
                return Err(CommandError::new(
                    ErrorKind::WrongKey,
                    "that passphrase does not open the history; nothing was changed",
                ));
            }
            Err(err) => return Err(err.into()),
        };
        log_opened(&self.path, &opened);
        history.adopt(opened.history).await;
        *info = KeyInfo {
            state: KeyState::Ready,
            protection: Some(protection),
            reason: None,
            key: Some(key),
        };
        self.ready.send_replace(true);
        Ok(())
    }

    /// "Forget this device": erases the history ([`History::forget`]) and, for a keyring-protected one,
    /// replaces its key: the file is re-encrypted with a new random key that takes the old one's place
    /// in the keyring, so a copy of the file made before cannot be opened any more.
    pub async fn forget(&self) -> Result<()> {
        let history = self.history()?;
        history.forget().await?;
        let info = self.key.lock().await;
        if info.protection != Some(Protection::Keyring) {
            return Ok(());
        }
        let new = DbKey::generate();
        history.rekey(&new).await?;
        if let Err(reason) = keystore::store(&self.path, &new) {
            // Back to the key the keyring still holds, so the next start opens the history.
            if let Some(old) = &info.key {
                history.rekey(old).await?;
            }
            return Err(CommandError::new(
                ErrorKind::Unavailable,
                format!("the history was erased but its key could not be replaced: {reason}"),
            ));
        }
        drop(info);
        self.key.lock().await.key = Some(new);
        Ok(())
    }
}

/// The key of every history the crate's tests open through the plugin (one per test process).
#[cfg(test)]
fn test_key(_path: &std::path::Path) -> std::result::Result<DbKey, (KeyState, String)> {
    static KEY: std::sync::OnceLock<DbKey> = std::sync::OnceLock::new();
    Ok(KEY.get_or_init(DbKey::generate).clone())
}

/// A locked handle ([`History::locked`]), made on the app's runtime (its pool runs tasks there).
fn locked(path: &std::path::Path, options: &OpenOptions) -> History {
    tauri::async_runtime::block_on(async { History::locked(path, options) })
}

fn log_opened(path: &std::path::Path, opened: &Opened) {
    match (&opened.recovered_from, opened.encrypted_in) {
        (Some(aside), _) => {
            tracing::warn!(path = %path.display(), aside = %aside.display(), "damaged history moved aside; started fresh")
        }
        (None, Some(took)) => {
            tracing::info!(path = %path.display(), ms = took.as_millis() as u64, "history from an older release encrypted and opened")
        }
        (None, None) => tracing::info!(path = %path.display(), "history opened"),
    }
}

/// The history plugin; its database lives in `data_dir` (None: the app's data folder).
pub fn init<R: Runtime>(data_dir: Option<PathBuf>) -> TauriPlugin<R> {
    Builder::new("history")
        .invoke_handler(tauri::generate_handler![
            list_conversations,
            messages_page,
            search_messages,
            mark_read,
            room_muted,
            set_room_muted,
            set_message_status,
            outbox,
            call_log,
            history_key_status,
            unlock_history,
            start_new_history,
        ])
        .setup(move |app, _api| {
            let dir = match data_dir {
                Some(dir) => dir,
                None => app.path().app_data_dir()?,
            };
            app.manage(HistoryState::open(dir));
            Ok(())
        })
        .build()
}

/// How long the app's end waits for a query in flight before closing the history anyway.
const CLOSE_AT_EXIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Closes the history as the app ends (Quit in the tray, the last window closed). When its last
/// connection closes, SQLite copies the WAL into the file and deletes it and its -shm; a process that just
/// exits leaves both beside the file until the next start. Waits at most [`CLOSE_AT_EXIT`] for a query in
/// flight: the WAL is safe to leave, and the next start folds it in.
pub fn close_at_exit<R: Runtime>(app: &tauri::AppHandle<R>) {
    let Some(state) = app.try_state::<HistoryState>() else {
        return;
    };
    let Ok(history) = state.history() else {
        return;
    };
    tauri::async_runtime::block_on(async {
        match tokio::time::timeout(CLOSE_AT_EXIT, history.close()).await {
            Ok(()) => tracing::info!("history closed"),
            Err(_) => tracing::warn!(
                "a history query outlasted the app's end; its WAL stays until the next start"
            ),
        }
    });
}

/// The history of the app `Self` belongs to.
pub trait HistoryExt<R: Runtime> {
    fn history_state(&self) -> &HistoryState;
}

impl<R: Runtime, T: Manager<R>> HistoryExt<R> for T {
    fn history_state(&self) -> &HistoryState {
        self.state::<HistoryState>().inner()
    }
}

#[tauri::command]
pub async fn list_conversations(
    state: State<'_, HistoryState>,
    limit: Option<u32>,
) -> Result<Vec<Conversation>> {
    Ok(state.history()?.list_conversations(limit).await?)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn messages_page(
    state: State<'_, HistoryState>,
    room: String,
    before: Option<Cursor>,
    limit: Option<u32>,
) -> Result<Page> {
    Ok(state
        .history()?
        .messages_page(&room, before.as_ref(), limit.unwrap_or(PAGE_SIZE))
        .await?)
}

/// A page of messages matching `query`: the newest without `before`, else the ones older than the page
/// whose `next` it is. Newest first, as the window lists them page after page.
#[tauri::command(rename_all = "snake_case")]
pub async fn search_messages(
    state: State<'_, HistoryState>,
    query: String,
    room: Option<String>,
    before: Option<SearchCursor>,
    limit: Option<u32>,
) -> Result<SearchPage> {
    let mut page = state
        .history()?
        .search_page(
            &query,
            room.as_deref(),
            before.as_ref(),
            limit.unwrap_or(SEARCH_LIMIT),
        )
        .await?;
    // A page comes best first; by time here (ties keep that order).
    page.hits.sort_by_key(|hit| std::cmp::Reverse(hit.sent_at));
    Ok(page)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn mark_read(state: State<'_, HistoryState>, room: String, up_to: i64) -> Result<()> {
    Ok(state.history()?.mark_read(&room, up_to).await?)
}

#[tauri::command]
pub async fn room_muted(state: State<'_, HistoryState>, room: String) -> Result<bool> {
    Ok(state.history()?.is_muted(&room).await?)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_room_muted(
    state: State<'_, HistoryState>,
    room: String,
    muted: bool,
) -> Result<()> {
    Ok(state.history()?.set_muted(&room, muted).await?)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_message_status(
    state: State<'_, HistoryState>,
    id: String,
    status: MessageStatus,
    error: Option<String>,
) -> Result<bool> {
    Ok(state
        .history()?
        .set_message_status(&id, status, error.as_deref())
        .await?)
}

/// Pending outgoing messages, oldest first (optionally of one room): flush these after reconnecting.
#[tauri::command(rename_all = "snake_case")]
pub async fn outbox(state: State<'_, HistoryState>, room: Option<String>) -> Result<Vec<Message>> {
    Ok(state.history()?.outbox(room.as_deref()).await?)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn call_log(
    state: State<'_, HistoryState>,
    before: Option<i64>,
    limit: Option<u32>,
) -> Result<Vec<CallRecord>> {
    Ok(state
        .history()?
        .call_log(before, limit.unwrap_or(PAGE_SIZE))
        .await?)
}

/// Whether the history waits for a passphrase, and how it is protected.
#[tauri::command]
pub async fn history_key_status(state: State<'_, HistoryState>) -> Result<HistoryKeyStatus> {
    Ok(state.key_status().await)
}

/// Opens the locked history with a passphrase (or encrypts a new or plain one with a chosen passphrase).
#[tauri::command]
pub async fn unlock_history(
    state: State<'_, HistoryState>,
    passphrase: String,
) -> Result<HistoryKeyStatus> {
    let passphrase = zeroize::Zeroizing::new(passphrase);
    state.unlock(&passphrase).await
}

/// Keeps the locked history file aside and starts a new history.
#[tauri::command]
pub async fn start_new_history(state: State<'_, HistoryState>) -> Result<HistoryKeyStatus> {
    state.start_new().await
}
