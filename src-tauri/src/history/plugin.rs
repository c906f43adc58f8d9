//! History as an in-crate plugin (`plugin:history|<command>`): it opens the database at startup (the
//! conversation list comes from disk at once, offline too) and owns the [`HistoryState`] and the
//! commands that read and write the history. `HistoryExt::history_state()` gives it to the rest of the app.

use std::path::PathBuf;

use tauri::plugin::{Builder, TauriPlugin};
use tauri::{Manager, Runtime, State};

use super::search::SEARCH_LIMIT;
use super::{
    CallRecord, Conversation, Cursor, DB_FILE, History, Message, MessageStatus, OpenOptions,
    PAGE_SIZE, Page, SearchHit,
};
use crate::ipc::CommandError;

type Result<T> = std::result::Result<T, CommandError>;

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
}

impl HistoryState {
    /// Opens (creating or migrating) the database in `dir`.
    fn open(dir: PathBuf) -> HistoryState {
        let path = dir.join(DB_FILE);
        let opened = tauri::async_runtime::block_on(History::open(&path, &OpenOptions::default()));
        match opened {
            Ok(o) => {
                match &o.recovered_from {
                    Some(aside) => {
                        tracing::warn!(path = %path.display(), aside = %aside.display(), "damaged history moved aside; started fresh")
                    }
                    None => tracing::info!(path = %path.display(), "history opened"),
                }
                HistoryState {
                    history: Ok(o.history),
                    dir,
                    path,
                    recovered_from: o.recovered_from,
                }
            }
            Err(err) => {
                tracing::error!(%err, "history unavailable; chat history will not be saved");
                HistoryState {
                    history: Err(err.into()),
                    dir,
                    path,
                    recovered_from: None,
                }
            }
        }
    }

    /// The history, or the error that kept it from opening.
    pub fn history(&self) -> Result<&History> {
        self.history.as_ref().map_err(Clone::clone)
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

#[tauri::command(rename_all = "snake_case")]
pub async fn search_messages(
    state: State<'_, HistoryState>,
    query: String,
    room: Option<String>,
    limit: Option<u32>,
) -> Result<Vec<SearchHit>> {
    Ok(state
        .history()?
        .search(&query, room.as_deref(), limit.unwrap_or(SEARCH_LIMIT))
        .await?)
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
