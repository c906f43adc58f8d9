//! Chat and call history on this device: one SQLite file (WAL, foreign keys) opened through sqlx, with
//! migrations in `migrations/`, encrypted at rest by SQLCipher when opened with a key (`key`, kept in the
//! OS keyring by `keystore`; the app always gives one). This module owns opening the file safely: a plain
//! file from an older release is encrypted in place (atomically, retried if interrupted), a damaged file
//! is moved aside and never deleted, an encrypted file the key does not open is left untouched with a
//! clear error, a file locked by another program is a clear error. It maps SQLite failures to
//! [`HistoryError`]s the UI can explain. Queries live in the submodules, one concern each.

mod calls;
mod conversations;
mod files;
mod key;
pub mod keystore;
mod messages;
mod plugin;
pub(crate) mod search;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqlitePool};

pub use calls::{CallDirection, CallOutcome, CallRecord, NewCall};
pub use conversations::{Conversation, MessagePreview};
pub use files::{FileRecord, MAX_FILE_ROWS, NewFile};
pub use key::{DbKey, KEY_LEN};
pub use messages::{Cursor, Message, MessageStatus, NewMessage, PAGE_SIZE, Page};
pub use plugin::{
    HistoryExt, HistoryKeyStatus, HistoryState, KeyState, Protection, close_at_exit, init,
};
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
    /// SQLite's "file is not a database": damaged, or encrypted with another key (`open` tells which).
    #[error("the history file is not a database, or its key is wrong: {0}")]
    NotADatabase(String),
    #[error("the history {path} is encrypted and this key does not open it; nothing was changed")]
    WrongKey { path: PathBuf },
    #[error("the history {path} is encrypted: its key or passphrase is needed to open it")]
    KeyNeeded { path: PathBuf },
    #[error("cannot encrypt the history database (the unencrypted file is kept as it was): {0}")]
    Encrypt(String),
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
            Some(CORRUPT) => HistoryError::Corrupt(err.to_string()),
            Some(NOTADB) => HistoryError::NotADatabase(err.to_string()),
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
    /// Connections in the pool. The app uses one: in WAL mode a connection empties its whole page
    /// cache whenever another one has committed, so with several, each write (and each query landing on
    /// another connection) threw away what searches and pages had read; with one the cache lasts, and
    /// encrypted pages are decrypted once instead of at nearly every query.
    pub max_connections: u32,
    /// The SQLCipher key (`None`: a plain SQLite file, as before encryption).
    pub key: Option<DbKey>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            busy_timeout: Duration::from_secs(2),
            max_connections: 1,
            key: None,
        }
    }
}

/// An open database, where the damaged file went if the old one had to be moved aside, and how long
/// encrypting a plain file from an older release took, if one was.
pub struct Opened {
    pub history: History,
    pub recovered_from: Option<PathBuf>,
    pub encrypted_in: Option<Duration>,
}

/// What a database file looks like from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// No file, or an empty one.
    Missing,
    /// A plain SQLite database (its header says so).
    Plain,
    /// No SQLite header and bytes that look random: SQLCipher's (salt, then ciphertext).
    Encrypted,
    /// Anything else: not a database.
    Other,
}

impl FileKind {
    /// Looks at the first page of the file at `path`.
    pub fn of(path: &Path) -> std::io::Result<FileKind> {
        use std::io::Read;
        let mut head = Vec::with_capacity(4096);
        match std::fs::File::open(path) {
            Ok(file) => file.take(4096).read_to_end(&mut head)?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(FileKind::Missing),
            Err(err) => return Err(err),
        };
        if head.is_empty() {
            return Ok(FileKind::Missing);
        }
        if head.starts_with(b"SQLite format 3\0") {
            return Ok(FileKind::Plain);
        }
        // A page of ciphertext holds nearly every byte value (a 1 KiB random block about 251 of 256);
        // text, zeros or a truncated file do not.
        let mut seen = [false; 256];
        for b in &head {
            seen[usize::from(*b)] = true;
        }
        let distinct = seen.iter().filter(|s| **s).count();
        Ok(if head.len() >= 1024 && distinct >= 200 {
            FileKind::Encrypted
        } else {
            FileKind::Other
        })
    }
}

/// Page cache of a connection, KiB.
const CACHE_KIB: u32 = 32 * 1024;
/// A connection unused this long is closed, giving its page cache back.
const IDLE: Duration = Duration::from_secs(300);
/// After searching or paging, the page cache is emptied once the history has not been read for this long:
/// the searches typed in one go share it, and the first one after a pause reads the file from the OS cache
/// instead (no slower than the "from disk" search figures of docs/performance.md, p99 ≈ 6 ms), while
/// the app does not keep up to 32 MiB of decrypted pages for the 5 minutes of [`IDLE`].
const RELEASE_AFTER: Duration = Duration::from_secs(2);

/// Handle to the history database; cheap to clone (a pool).
#[derive(Clone)]
pub struct History {
    pool: SqlitePool,
    /// Counts the reads that fill the page cache (searches, pages), so a release waits for the last one.
    reads: Arc<AtomicU64>,
}

impl History {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date. With a key, a
    /// plain database (an older release's) is first encrypted in place ([`encrypt_in_place`]). An
    /// encrypted file the key does not open (or opened without a key) is [`HistoryError::WrongKey`]
    /// ([`HistoryError::KeyNeeded`]) and stays as it is. A file that is damaged or not a database is
    /// renamed to `<name>.corrupt-<unix ms>` (with its -wal/-shm) and a fresh database is started; the
    /// caller tells the user where the old file is.
    pub async fn open(path: &Path, options: &OpenOptions) -> Result<Opened, HistoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| HistoryError::Folder {
                path: dir.to_owned(),
                source,
            })?;
        }
        let kind = |path: &Path| {
            FileKind::of(path)
                .map_err(|err| HistoryError::Database(format!("{}: {err}", path.display())))
        };
        let mut encrypted_in = None;
        let attempt = async {
            if let Some(key) = &options.key
                && kind(path)? == FileKind::Plain
            {
                encrypted_in = Some(encrypt_in_place(path, key, options).await?);
            }
            Self::open_once(path, options).await
        }
        .await;
        match attempt {
            Ok(history) => Ok(Opened {
                history,
                recovered_from: None,
                encrypted_in,
            }),
            Err(HistoryError::NotADatabase(_)) if kind(path)? == FileKind::Encrypted => {
                Err(match options.key {
                    Some(_) => HistoryError::WrongKey {
                        path: path.to_owned(),
                    },
                    None => HistoryError::KeyNeeded {
                        path: path.to_owned(),
                    },
                })
            }
            Err(HistoryError::Corrupt(reason)) | Err(HistoryError::NotADatabase(reason)) => {
                tracing::warn!(path = %path.display(), %reason, "history database damaged; moving it aside");
                let aside = move_aside(path, "corrupt")?;
                let history = Self::open_once(path, options).await?;
                Ok(Opened {
                    history,
                    recovered_from: Some(aside),
                    encrypted_in: None,
                })
            }
            Err(HistoryError::Busy) => Err(HistoryError::Locked {
                path: path.to_owned(),
            }),
            Err(other) => Err(other),
        }
    }

    async fn open_once(path: &Path, options: &OpenOptions) -> Result<History, HistoryError> {
        let connect = connect_options(path, options.key.as_ref(), options.busy_timeout)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // 32 MiB instead of 2, on the one connection: the pages searches and conversation pages
            // read stay decrypted (reading an encrypted page costs ≈ 8 µs, mostly its HMAC-SHA512), as
            // do the index pages each batch of writes touches. Allocated only as pages are read; given
            // back when the connection closes after IDLE.
            .pragma("cache_size", format!("-{CACHE_KIB}"))
            // Sorts and temporary indexes stay in memory, never in a plaintext temporary file.
            .pragma("temp_store", "MEMORY");
        let pool = pool_options(options).connect_with(connect).await?;
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
            Ok(()) => Ok(History::with_pool(pool)),
            Err(err) => {
                pool.close().await;
                Err(err)
            }
        }
    }

    /// A handle on the history at `path` that cannot be read yet (its key is not known: the app asks for
    /// a passphrase). Its connections fail until [`History::adopt`] gives it an opened history's; the
    /// clones handed out meanwhile then work too. Nothing is written to the file while locked.
    pub fn locked(path: &Path, options: &OpenOptions) -> History {
        // A key nobody has: connecting fails when the journal mode is read from the first page (or at
        // once when there is no file yet), creating and writing nothing.
        let connect = connect_options(path, Some(&DbKey::generate()), options.busy_timeout)
            .create_if_missing(false)
            .read_only(true)
            .journal_mode(SqliteJournalMode::Wal);
        History::with_pool(pool_options(options).connect_lazy_with(connect))
    }

    fn with_pool(pool: SqlitePool) -> History {
        History {
            pool,
            reads: Arc::default(),
        }
    }

    /// Empties the page cache [`RELEASE_AFTER`] after this read unless another read came meanwhile.
    /// Called by the reads that walk many pages (search, conversation pages).
    pub(crate) fn release_cache_later(&self) {
        let read = self.reads.fetch_add(1, Ordering::Relaxed) + 1;
        let history = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RELEASE_AFTER).await;
            if history.reads.load(Ordering::Relaxed) == read
                && let Err(err) = history.release_cache().await
            {
                tracing::debug!(%err, "cannot empty the history's page cache");
            }
        });
    }

    /// Gives back the connection's page cache and what SQLite and SQLCipher keep besides
    /// (`PRAGMA shrink_memory`: `sqlite3_db_release_memory`); the connection stays open.
    pub(crate) async fn release_cache(&self) -> Result<(), HistoryError> {
        sqlx::query("PRAGMA shrink_memory")
            .execute(&self.pool)
            .await?;
        // glibc keeps what was freed in its arenas, mostly between chunks still in use (the pages were
        // allocated one by one among others), where only malloc_trim hands it back to the system: after
        // 1 000 searches the app process stayed 37 MiB above idle with the pragma alone, 1 MiB with both.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only returns free memory; it takes the allocator's own locks.
        unsafe {
            libc::malloc_trim(0);
        }
        Ok(())
    }

    /// Makes this (locked) handle, and its clones, use `opened`'s connections from now on.
    pub async fn adopt(&self, opened: History) {
        self.pool
            .set_connect_options((*opened.pool.connect_options()).clone());
        opened.pool.close().await;
        // Any connection made before (none should be: connecting fails) goes.
        while self.pool.num_idle() > 0 {
            let Some(conn) = self.pool.try_acquire() else {
                break;
            };
            let _ = conn.close().await;
        }
    }

    /// Re-encrypts the database with `key` (SQLCipher's rekey rewrites every page): every connection is
    /// taken first, so no statement runs meanwhile, and closed after, so later ones use the new key.
    pub async fn rekey(&self, key: &DbKey) -> Result<(), HistoryError> {
        let mut held = Vec::new();
        for _ in 0..self.pool.options().get_max_connections() {
            held.push(self.pool.acquire().await?);
        }
        let statement = zeroize::Zeroizing::new(format!("PRAGMA rekey = {}", &*key.sql_literal()));
        let rekeyed = sqlx::query(&statement).execute(&mut *held[0]).await;
        if rekeyed.is_ok() {
            let connect = (*self.pool.connect_options())
                .clone()
                .pragma("key", key.sql_literal().to_string());
            self.pool.set_connect_options(connect);
        }
        for conn in held {
            conn.close().await?;
        }
        rekeyed?;
        Ok(())
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

/// The pool the app uses (both for an open and a locked history).
fn pool_options(options: &OpenOptions) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(options.max_connections)
        .idle_timeout(IDLE)
        // A connection in use keeps its cache: no periodic reconnect.
        .max_lifetime(None)
        // A local file does not drop like a network link: skip the ping before every query
        // (a round trip to the connection's thread, a third of a page fetch).
        .test_before_acquire(false)
}

/// Connection options for the file at `path` with `key` (none: plain SQLite). sqlx runs `PRAGMA key`
/// before every other pragma of a connection (journal_mode, ...), as SQLCipher needs; keyed connections
/// log no statements, since the pragma string holds the key.
fn connect_options(
    path: &Path,
    key: Option<&DbKey>,
    busy_timeout: Duration,
) -> SqliteConnectOptions {
    let mut connect = SqliteConnectOptions::new();
    if let Some(key) = key {
        connect = connect
            .pragma("key", key.sql_literal().to_string())
            .log_statements(log::LevelFilter::Off)
            .log_slow_statements(log::LevelFilter::Off, Duration::ZERO);
    }
    connect.filename(path).busy_timeout(busy_timeout)
}

/// Suffix of the encrypted copy [`encrypt_in_place`] writes before renaming it over the plain file.
const ENCRYPTING: &str = "encrypting";

/// Encrypts the plain database at `path` with `key`, in place and atomically: the WAL is folded into the
/// file, `sqlcipher_export` copies every table, index, trigger and the full-text index into
/// `<path>.encrypting` (SQLCipher encrypts its journal too), which is flushed to disk and renamed over
/// the plain file. Until that rename the plain file is untouched and readable; a copy left by an
/// interrupted run is deleted and the export starts again. Returns how long it took.
pub async fn encrypt_in_place(
    path: &Path,
    key: &DbKey,
    options: &OpenOptions,
) -> Result<Duration, HistoryError> {
    let started = std::time::Instant::now();
    let copy = sibling(path, &format!(".{ENCRYPTING}"));
    remove_with_journals(&copy)?;
    // An attached database is opened with the main one's flags: this one may create (the copy).
    let mut conn = connect_options(path, None, options.busy_timeout)
        .create_if_missing(true)
        // The statements below name the key.
        .log_statements(log::LevelFilter::Off)
        .log_slow_statements(log::LevelFilter::Off, Duration::ZERO)
        .connect()
        .await?;
    let exported = async {
        let user_version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut conn)
            .await?;
        // Everything in the main file; fails (busy) if another program is writing.
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut conn)
            .await?;
        if busy != 0 {
            return Err(HistoryError::Busy);
        }
        let target = copy.to_string_lossy().replace('\'', "''");
        let attach = zeroize::Zeroizing::new(format!(
            "ATTACH DATABASE '{target}' AS encrypted KEY {}",
            &*key.sql_literal()
        ));
        sqlx::query(&attach).execute(&mut conn).await?;
        sqlx::query("SELECT sqlcipher_export('encrypted')")
            .execute(&mut conn)
            .await?;
        sqlx::query(&format!("PRAGMA encrypted.user_version = {user_version}"))
            .execute(&mut conn)
            .await?;
        sqlx::query("DETACH DATABASE encrypted")
            .execute(&mut conn)
            .await?;
        Ok(())
    }
    .await;
    conn.close().await?;
    if let Err(err) = exported {
        let _ = remove_with_journals(&copy);
        return Err(match err {
            HistoryError::Database(msg) => HistoryError::Encrypt(msg),
            other => other,
        });
    }
    let io = |what: &str, err: std::io::Error| HistoryError::Encrypt(format!("{what}: {err}"));
    std::fs::File::open(&copy)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("flushing the encrypted copy", e))?;
    // The plain file's WAL was emptied by the checkpoint and its connection closed: drop what is left so
    // no stale plaintext WAL sits beside the encrypted file.
    for suffix in ["-wal", "-shm"] {
        match std::fs::remove_file(sibling(path, suffix)) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(io("removing the old WAL", err)),
        }
    }
    std::fs::rename(&copy, path).map_err(|e| io("replacing the plain file", e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself reaches the disk (directories cannot be opened for this on Windows).
        #[cfg(unix)]
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("flushing the folder", e))?;
        #[cfg(not(unix))]
        let _ = dir;
    }
    let took = started.elapsed();
    tracing::info!(path = %path.display(), ms = took.as_millis() as u64, "history encrypted in place");
    Ok(took)
}

/// `<path><suffix>` (e.g. the `-wal` beside a database).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Deletes `path` and its journals if they exist.
fn remove_with_journals(path: &Path) -> Result<(), HistoryError> {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let file = sibling(path, suffix);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(HistoryError::Encrypt(format!(
                    "cannot remove {}: {err}",
                    file.display()
                )));
            }
        }
    }
    Ok(())
}

/// Renames the database and its WAL/shared-memory files to `<file>.<why>-<unix ms>[-wal|-shm]`.
fn move_aside(path: &Path, why: &str) -> Result<PathBuf, HistoryError> {
    let stamp = now_ms();
    let aside = PathBuf::from(format!("{}.{why}-{stamp}", path.display()));
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

#[cfg(test)]
mod key_tests;
