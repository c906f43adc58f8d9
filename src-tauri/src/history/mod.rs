//! Chat and call history on this device: one SQLite file (WAL, foreign keys) opened through sqlx, with
//! migrations in `migrations/`. This module owns opening the file safely (a damaged file is moved aside,
//! never deleted; a file locked by another program is a clear error) and maps SQLite failures to
//! [`HistoryError`]s the UI can explain. Queries live in the submodules, one concern each.

mod calls;
mod conversations;
mod files;
mod key;
mod messages;
mod plugin;
pub(crate) mod search;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};

pub use calls::{CallDirection, CallOutcome, CallRecord, NewCall};
pub use conversations::{Conversation, MessagePreview};
pub use files::{FileRecord, MAX_FILE_ROWS, NewFile};
pub use key::{DbKey, KEY_LEN};
pub use messages::{Cursor, Message, MessageStatus, NewMessage, PAGE_SIZE, Page};
pub use plugin::{HistoryExt, HistoryState, init};
pub use search::{SearchHit, SnippetPart};

/// The schema, embedded at compile time and applied in order on open.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/history/migrations");

/// File name of the database inside the app's data directory.
pub const DB_FILE: &str = "history.sqlite3";

/// Why a history operation failed, in terms the UI can show and act on.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(
        "the history database {path} is locked by another program (is p2pchat already running?)"
    )]
    Locked { path: PathBuf },
    #[error("the history database is busy: try again")]
    Busy,
    #[error("the disk is full: {0}")]
    DiskFull(String),
    #[error("the history database is damaged: {0}")]
    Corrupt(String),
    #[error("cannot move the damaged history database {path} aside: {source}")]
    MoveAside {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the history folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot update the history database schema: {0}")]
    Migrate(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("history database error: {0}")]
    Database(String),
}

impl From<sqlx::Error> for HistoryError {
    fn from(err: sqlx::Error) -> Self {
        // SQLite primary result codes (the low byte of extended codes).
        const BUSY: i64 = 5;
        const LOCKED: i64 = 6;
        const CORRUPT: i64 = 11;
        const FULL: i64 = 13;
        const NOTADB: i64 = 26;
        let code = match &err {
            sqlx::Error::Database(db) => db
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .map(|c| c & 0xff),
            _ => None,
        };
        match code {
            Some(BUSY) | Some(LOCKED) => HistoryError::Busy,
            Some(FULL) => HistoryError::DiskFull(err.to_string()),
            Some(CORRUPT) | Some(NOTADB) => HistoryError::Corrupt(err.to_string()),
            _ => HistoryError::Database(err.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for HistoryError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        match err {
            sqlx::migrate::MigrateError::Execute(inner) => match HistoryError::from(inner) {
                HistoryError::Database(msg) => HistoryError::Migrate(msg),
                other => other,
            },
            other => HistoryError::Migrate(other.to_string()),
        }
    }
}

/// How to open the database; the defaults suit the app, tests shorten the busy timeout.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// How long a statement waits for another writer before failing with `Busy`/`Locked`.
    pub busy_timeout: Duration,
    /// Connections in the pool (WAL lets readers run beside the one writer).
    pub max_connections: u32,
    /// The SQLCipher key (`None`: a plain SQLite file, as before encryption).
    pub key: Option<DbKey>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            busy_timeout: Duration::from_secs(2),
            max_connections: 4,
            key: None,
        }
    }
}

/// An open database, and where the damaged file went if the old one had to be moved aside.
pub struct Opened {
    pub history: History,
    pub recovered_from: Option<PathBuf>,
}

/// Handle to the history database; cheap to clone (a pool).
#[derive(Clone)]
pub struct History {
    pool: SqlitePool,
}

impl History {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date. A file that is
    /// not a SQLite database or is damaged is renamed to `<name>.corrupt-<unix ms>` (with its -wal/-shm)
    /// and a fresh database is started; the caller tells the user where the old file is.
    pub async fn open(path: &Path, options: &OpenOptions) -> Result<Opened, HistoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| HistoryError::Folder {
                path: dir.to_owned(),
                source,
            })?;
        }
        match Self::open_once(path, options).await {
            Ok(history) => Ok(Opened {
                history,
                recovered_from: None,
            }),
            Err(HistoryError::Corrupt(reason)) => {
                tracing::warn!(path = %path.display(), %reason, "history database damaged; moving it aside");
                let aside = move_aside(path)?;
                let history = Self::open_once(path, options).await?;
                Ok(Opened {
                    history,
                    recovered_from: Some(aside),
                })
            }
            Err(HistoryError::Busy) => Err(HistoryError::Locked {
                path: path.to_owned(),
            }),
            Err(other) => Err(other),
        }
    }

    async fn open_once(path: &Path, options: &OpenOptions) -> Result<History, HistoryError> {
        let mut connect = SqliteConnectOptions::new();
        if let Some(key) = &options.key {
            // sqlx runs `PRAGMA key` before every other pragma of the connection (journal_mode, ...),
            // as SQLCipher needs. Statements are not logged: the pragma string holds the key.
            connect = connect
                .pragma("key", key.sql_literal().to_string())
                .log_statements(log::LevelFilter::Off)
                .log_slow_statements(log::LevelFilter::Off, Duration::ZERO);
        }
        let connect = connect
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // 16 MiB per connection instead of 2: keeps the index pages of recent conversations and of
            // the full-text index hot. Allocated only as pages are read.
            .pragma("cache_size", "-16384")
            // Sorts and temporary indexes stay in memory, never in a plaintext temporary file.
            .pragma("temp_store", "MEMORY")
            .busy_timeout(options.busy_timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            // A local file does not drop like a network link: skip the ping before every query
            // (a round trip to the connection's thread, a third of a page fetch).
            .test_before_acquire(false)
            .connect_with(connect)
            .await?;
        let result = async {
            MIGRATOR.run(&pool).await?;
            // Fail now, with a clear message, if another program holds the write lock.
            let mut conn = pool.acquire().await?;
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok::<_, HistoryError>(())
        }
        .await;
        match result {
            Ok(()) => Ok(History { pool }),
            Err(err) => {
                pool.close().await;
                Err(err)
            }
        }
    }

    /// Closes every connection (checkpointing the WAL); later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// "Forget this device": erases every conversation, message, file record, call and setting, then
    /// rewrites the file (VACUUM) and empties the WAL, so none of it stays readable in free pages.
    pub async fn forget(&self) -> Result<(), HistoryError> {
        let mut tx = self.pool.begin().await?;
        // Children first (foreign keys); deleting messages also empties the full-text index (triggers).
        for table in [
            "files",
            "calls",
            "messages",
            "peers",
            "conversations",
            "settings",
        ] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        sqlx::query("VACUUM").execute(&self.pool).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A stored setting, if set.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, HistoryError> {
        let value = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value)
    }

    /// Stores a setting, replacing any previous value.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), HistoryError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The SQLite library version in use (for benchmark reports and bug reports).
    pub async fn sqlite_version(&self) -> Result<String, HistoryError> {
        Ok(sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&self.pool)
            .await?)
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Renames the database and its WAL/shared-memory files to `<file>.corrupt-<unix ms>[-wal|-shm]`.
fn move_aside(path: &Path) -> Result<PathBuf, HistoryError> {
    let stamp = now_ms();
    let aside = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        let to = PathBuf::from(format!("{}{suffix}", aside.display()));
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !suffix.is_empty() => {}
            Err(source) => return Err(HistoryError::MoveAside { path: from, source }),
        }
    }
    Ok(aside)
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
