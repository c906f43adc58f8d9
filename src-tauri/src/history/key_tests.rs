//! The history encrypted at rest, on real SQLCipher files in a temporary folder: no message text in the
//! file or its WAL, a wrong or missing key that changes nothing, a plain history from the release before
//! encryption upgraded in place (and again after an interrupted attempt), passphrases where there is no
//! keyring, and the key in the real OS keyring (the Secret Service; run under
//! src-tauri/tests/keyring-session.sh where no desktop session provides one).

use std::path::Path;

use tempfile::TempDir;

use super::plugin::{HistoryState, KeyState, Protection, keyring_key};
use super::*;
use crate::ipc::ErrorKind;

const SECRET: &str = "zebracrossing-launch-codes";

fn run<T>(fut: impl std::future::Future<Output = T>) -> T {
    tauri::async_runtime::block_on(fut)
}

fn keyed(key: &DbKey) -> OpenOptions {
    OpenOptions {
        key: Some(key.clone()),
        ..OpenOptions::default()
    }
}

fn messages(n: i64) -> Vec<NewMessage> {
    (0..n)
        .map(|i| NewMessage {
            id: format!("m{i}"),
            room: "team".into(),
            sender: if i % 2 == 0 { "me".into() } else { "p1".into() },
            sender_name: "Ann".into(),
            outgoing: i % 2 == 0,
            body: format!("{SECRET} number {i}"),
            sent_at: 1_000 + i,
        })
        .collect()
}

/// Every file in `dir` (database, WAL, shared memory, journals): none may hold `needle`.
fn assert_no_plaintext(dir: &Path, needle: &str) {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        seen += bytes.len();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{} holds {needle:?} in clear",
            path.display()
        );
    }
    assert!(seen > 0, "nothing written in {}", dir.display());
}

/// Closes `history` (its last handle) with its WAL folded into the file and emptied first, so the file
/// no longer changes (SQLite then removes the WAL when the pool's last connection handle is dropped, a
/// moment after `close` returns, sometimes later on a busy machine).
async fn close(history: History, path: &Path) {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(history.pool())
        .await
        .unwrap();
    history.close().await;
    drop(history);
    for _ in 0..200 {
        if !sibling(path, "-wal").exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A plain history with `n` messages at `path`, as the release before encryption left it, closed.
async fn seed_plain(path: &Path, n: i64) {
    let plain = History::open(path, &OpenOptions::default())
        .await
        .unwrap()
        .history;
    plain.insert_messages(&messages(n)).await.unwrap();
    close(plain, path).await;
}

/// The files in `dir` that hold data: an empty WAL and the WAL index (`-shm`, no table data) left by a
/// connection still closing are not counted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let empty = e.metadata().is_ok_and(|m| m.len() == 0);
            !(name.ends_with("-shm") || name.ends_with("-wal") && empty)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Sent messages, the search index and settings are in the file and its WAL only as ciphertext, while
/// the history is open (WAL full) and after it is closed; the key opens it again with everything there.
#[test]
fn encrypted_history_holds_no_plaintext_file_or_wal() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DB_FILE);
    let key = DbKey::generate();
    run(async {
        let history = History::open(&path, &keyed(&key)).await.unwrap().history;
        history.insert_messages(&messages(300)).await.unwrap();
        history.set_setting("display_name", SECRET).await.unwrap();
        assert_eq!(
            history
                .search("zebracrossing", None, 10)
                .await
                .unwrap()
                .len(),
            10
        );
        assert!(
            std::fs::metadata(sibling(&path, "-wal")).unwrap().len() > 0,
            "the WAL is in use"
        );
        assert_no_plaintext(dir.path(), SECRET);
        assert_no_plaintext(dir.path(), "CREATE TABLE");
        close(history, &path).await;
    });
    assert_no_plaintext(dir.path(), SECRET);
    assert_eq!(FileKind::of(&path).unwrap(), FileKind::Encrypted);
    run(async {
        let started = std::time::Instant::now();
        let history = History::open(&path, &keyed(&key)).await.unwrap().history;
        eprintln!("open with a raw key: {:?}", started.elapsed());
        assert_eq!(history.list_conversations(None).await.unwrap().len(), 1);
        assert_eq!(
            history.setting("display_name").await.unwrap().as_deref(),
            Some(SECRET)
        );
        close(history, &path).await;
    });
}

/// Another key, or none, is a clear error naming the file; the file is neither changed, moved nor
/// deleted, and the right key still opens everything.
#[test]
fn wrong_or_missing_key_is_a_clear_error_and_loses_nothing() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DB_FILE);
    let key = DbKey::generate();
    run(async {
        let history = History::open(&path, &keyed(&key)).await.unwrap().history;
        history.insert_messages(&messages(50)).await.unwrap();
        close(history, &path).await;
    });
    let before = std::fs::read(&path).unwrap();
    let names = files_in(dir.path());
    for (options, expect) in [
        (keyed(&DbKey::generate()), ErrorKind::WrongKey),
        (
            keyed(&DbKey::passphrase("not the key")),
            ErrorKind::WrongKey,
        ),
        (OpenOptions::default(), ErrorKind::WrongKey),
    ] {
        let err = run(History::open(&path, &options))
            .err()
            .expect("the file does not open");
        let shown = err.to_string();
        assert_eq!(ErrorKind::from(&err), expect, "{shown}");
        assert!(shown.contains(&path.display().to_string()), "{shown}");
        match options.key {
            Some(_) => assert!(matches!(err, HistoryError::WrongKey { .. }), "{err:?}"),
            None => assert!(matches!(err, HistoryError::KeyNeeded { .. }), "{err:?}"),
        }
        assert!(
            std::fs::read(&path).unwrap() == before,
            "{shown}: the file is untouched"
        );
        assert_eq!(files_in(dir.path()), names, "nothing moved aside or added");
    }
    run(async {
        let history = History::open(&path, &keyed(&key)).await.unwrap().history;
        assert_eq!(
            history
                .messages_page("team", None, 100)
                .await
                .unwrap()
                .messages
                .len(),
            50
        );
        close(history, &path).await;
    });
}

/// A plain history as the release before encryption left it (schema by its migrations, last writes
/// still in the WAL of an app that did not close) is encrypted in place on the first keyed open: every
/// message, the search index, settings and the migration records come across, and no plaintext is left
/// beside it.
#[test]
fn plain_history_from_the_previous_release_is_encrypted_in_place() {
    let live = TempDir::new().unwrap();
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DB_FILE);
    run(async {
        // The previous release opened its file exactly like this: no key.
        let plain = History::open(&live.path().join(DB_FILE), &OpenOptions::default())
            .await
            .unwrap()
            .history;
        plain.insert_messages(&messages(2_000)).await.unwrap();
        let live = live.path().join(DB_FILE);
        plain.set_setting("display_name", "Ann").await.unwrap();
        // Copied while still open: the last writes are only in its WAL.
        for suffix in ["", "-wal"] {
            std::fs::copy(sibling(&live, suffix), sibling(&path, suffix)).unwrap();
        }
        close(plain, &live).await;
    });
    assert_eq!(FileKind::of(&path).unwrap(), FileKind::Plain);
    assert!(std::fs::metadata(sibling(&path, "-wal")).unwrap().len() > 0);
    let key = DbKey::generate();
    let opened = run(History::open(&path, &keyed(&key))).unwrap();
    let took = opened.encrypted_in.expect("the plain file was encrypted");
    eprintln!("encrypting a plain history of 2000 messages: {took:?}");
    run(async {
        let history = opened.history;
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
            .fetch_one(history.pool())
            .await
            .unwrap();
        assert_eq!(stored, 2_000);
        assert_eq!(
            history
                .search("zebracrossing", None, 5)
                .await
                .unwrap()
                .len(),
            5,
            "the search index came across"
        );
        assert_eq!(
            history.setting("display_name").await.unwrap().as_deref(),
            Some("Ann")
        );
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(history.pool())
            .await
            .unwrap();
        assert_eq!(applied, MIGRATOR.iter().count() as i64);
        close(history, &path).await;
    });
    assert_eq!(FileKind::of(&path).unwrap(), FileKind::Encrypted);
    assert_no_plaintext(dir.path(), SECRET);
    assert_eq!(files_in(dir.path()), vec![DB_FILE.to_owned()]);
    // Opened again: nothing more to encrypt.
    let again = run(History::open(&path, &keyed(&key))).unwrap();
    assert!(again.encrypted_in.is_none());
    run(close(again.history, &path));
}

/// An attempt cut short before its rename leaves the plain file as it was (readable by the previous
/// release) and a partial copy; the next start throws the copy away and encrypts again.
#[test]
fn interrupted_encryption_keeps_the_plain_file_and_is_retried() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DB_FILE);
    run(async {
        seed_plain(&path, 100).await;
    });
    let plain_bytes = std::fs::read(&path).unwrap();
    // What a cut-short export leaves: the start of an encrypted copy and its journal.
    let copy = sibling(&path, ".encrypting");
    std::fs::write(&copy, [0x17u8; 3000]).unwrap();
    std::fs::write(sibling(&copy, "-journal"), b"partial").unwrap();
    assert!(std::fs::read(&path).unwrap() == plain_bytes);
    run(async {
        // Still the previous release's file: it opens without a key.
        let plain = History::open(&path, &OpenOptions::default())
            .await
            .unwrap()
            .history;
        assert_eq!(plain.outbox(None).await.unwrap().len(), 50);
        close(plain, &path).await;
    });
    let key = DbKey::generate();
    let opened = run(History::open(&path, &keyed(&key))).unwrap();
    assert!(opened.encrypted_in.is_some());
    run(async {
        assert_eq!(opened.history.outbox(None).await.unwrap().len(), 50);
        close(opened.history, &path).await;
    });
    assert_eq!(files_in(dir.path()), vec![DB_FILE.to_owned()]);
    assert_no_plaintext(dir.path(), SECRET);
}

/// A plain history held open by another program is not encrypted under it: a clear "locked" error,
/// the plain file untouched, and it works once the other program is gone.
#[test]
fn encryption_waits_for_another_program_to_let_go() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DB_FILE);
    run(async {
        use sqlx::Connection as _;
        seed_plain(&path, 10).await;
        let mut holder = super::tests::hold_write_lock(&path).await;
        let key = DbKey::generate();
        let options = OpenOptions {
            busy_timeout: Duration::from_millis(100),
            ..keyed(&key)
        };
        let err = History::open(&path, &options).await.err().expect("locked");
        assert!(matches!(err, HistoryError::Locked { .. }), "{err:?}");
        assert_eq!(FileKind::of(&path).unwrap(), FileKind::Plain);
        sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
        holder.close().await.unwrap();
        let history = History::open(&path, &options).await.unwrap().history;
        assert_eq!(history.outbox(None).await.unwrap().len(), 5);
        close(history, &path).await;
    });
}

fn no_keyring(path: &Path) -> Result<DbKey, (KeyState, String)> {
    let encrypted = FileKind::of(path).is_ok_and(|k| k == FileKind::Encrypted);
    let state = if encrypted {
        KeyState::EnterPassphrase
    } else {
        KeyState::ChoosePassphrase
    };
    Err((
        state,
        "no keyring available (this test's device has none)".into(),
    ))
}

/// Without a keyring the history starts locked: the handle the app took at startup writes nothing, a
/// chosen passphrase encrypts the (previous release's plain) history and that same handle then reads
/// it; at the next start a wrong passphrase changes nothing and the right one opens it.
#[test]
fn without_a_keyring_a_passphrase_encrypts_and_unlocks() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DB_FILE);
    run(async {
        seed_plain(&path, 40).await;
    });
    let passphrase = "correct horse battery";

    let state = HistoryState::open_with(dir.path().to_owned(), no_keyring);
    let handle = state.history().unwrap().clone();
    let status = run(state.key_status());
    assert_eq!(status.state, KeyState::ChoosePassphrase);
    assert!(status.reason.unwrap().contains("no keyring"));
    assert!(run(handle.outbox(None)).is_err(), "locked: nothing is read");
    let waiter = std::thread::spawn({
        let mut ready = state.ready_flag();
        move || run(async move { ready.wait_for(|r| *r).await.map(|_| ()).is_ok() })
    });
    let short = run(state.unlock("short")).unwrap_err();
    assert_eq!(short.kind, ErrorKind::Invalid);
    let status = run(state.unlock(passphrase)).unwrap();
    assert_eq!(status.state, KeyState::Ready);
    assert_eq!(status.protection, Some(Protection::Passphrase));
    assert!(waiter.join().unwrap(), "startup waiters are woken");
    assert_eq!(run(handle.outbox(None)).unwrap().len(), 20);
    drop(state);
    run(close(handle, &path));
    assert_eq!(FileKind::of(&path).unwrap(), FileKind::Encrypted);
    assert_no_plaintext(dir.path(), SECRET);

    let state = HistoryState::open_with(dir.path().to_owned(), no_keyring);
    assert_eq!(run(state.key_status()).state, KeyState::EnterPassphrase);
    let before = std::fs::read(&path).unwrap();
    let wrong = run(state.unlock("correct horse staple")).unwrap_err();
    assert_eq!(wrong.kind, ErrorKind::WrongKey);
    assert!(
        wrong.message.contains("nothing was changed"),
        "{}",
        wrong.message
    );
    assert!(
        std::fs::read(&path).unwrap() == before,
        "the file is untouched"
    );
    assert_eq!(files_in(dir.path()), vec![DB_FILE.to_owned()]);
    run(state.unlock(passphrase)).unwrap();
    let handle = state.history().unwrap().clone();
    assert_eq!(run(handle.outbox(None)).unwrap().len(), 20);
    drop(state);
    run(close(handle, &path));
}

/// Locked out (the passphrase is forgotten): a new history starts and the locked file is kept under
/// a new name, byte for byte, for whoever finds its key.
#[test]
fn a_new_history_keeps_the_locked_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DB_FILE);
    run(async {
        let history = History::open(&path, &keyed(&DbKey::passphrase("lost passphrase")))
            .await
            .unwrap()
            .history;
        history.insert_messages(&messages(10)).await.unwrap();
        close(history, &path).await;
    });
    let locked = std::fs::read(&path).unwrap();
    let state = HistoryState::open_with(dir.path().to_owned(), no_keyring);
    assert_eq!(run(state.key_status()).state, KeyState::EnterPassphrase);
    let status = run(state.start_new()).unwrap();
    assert_eq!(status.state, KeyState::ChoosePassphrase);
    let kept: Vec<String> = files_in(dir.path())
        .into_iter()
        .filter(|n| n.starts_with("history.sqlite3.locked-"))
        .collect();
    assert_eq!(kept.len(), 1, "{:?}", files_in(dir.path()));
    assert!(std::fs::read(dir.path().join(&kept[0])).unwrap() == locked);
    run(state.unlock("a new passphrase")).unwrap();
    let handle = state.history().unwrap().clone();
    assert!(run(handle.list_conversations(None)).unwrap().is_empty());
    drop(state);
    run(close(handle, &path));
}

/// Is a Secret Service there to test against? (Prints why not: run under keyring-session.sh.)
fn keyring_here(dir: &Path) -> bool {
    match keystore::load(&dir.join("probe")) {
        keystore::Lookup::Unavailable(reason) => {
            eprintln!(
                "SKIPPED: no OS keyring in this session ({reason}); run under src-tauri/tests/keyring-session.sh"
            );
            false
        }
        _ => true,
    }
}

/// The real keyring: the first start makes a key and keeps it there (32 bytes, one entry per history
/// file), the next start reads the history with it, and "forget this device" replaces it: a copy of
/// the file taken before no longer opens with what the keyring holds.
#[test]
fn the_key_lives_in_the_os_keyring_and_forget_replaces_it() {
    let dir = TempDir::new().unwrap();
    if !keyring_here(dir.path()) {
        return;
    }
    let path = dir.path().join(DB_FILE);
    let state = HistoryState::open_with(dir.path().to_owned(), keyring_key);
    let status = run(state.key_status());
    assert_eq!(status.state, KeyState::Ready);
    assert_eq!(status.protection, Some(Protection::Keyring));
    let keystore::Lookup::Found(first) = keystore::load(&path) else {
        panic!("no key stored")
    };
    let history = state.history().unwrap().clone();
    run(history.insert_messages(&messages(20))).unwrap();
    drop(state);
    run(close(history, &path));
    assert_eq!(FileKind::of(&path).unwrap(), FileKind::Encrypted);
    assert_no_plaintext(dir.path(), SECRET);

    let state = HistoryState::open_with(dir.path().to_owned(), keyring_key);
    assert_eq!(run(state.key_status()).state, KeyState::Ready);
    let history = state.history().unwrap().clone();
    assert_eq!(run(history.outbox(None)).unwrap().len(), 10);
    let backup = dir.path().join("backup.sqlite3");
    run(sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(history.pool())).unwrap();
    std::fs::copy(&path, &backup).unwrap();

    run(state.forget()).unwrap();
    let keystore::Lookup::Found(second) = keystore::load(&path) else {
        panic!("no key after forget")
    };
    assert_ne!(first, second, "forget replaced the key");
    assert!(run(history.list_conversations(None)).unwrap().is_empty());
    run(history.insert_messages(&messages(2))).unwrap();
    drop(state);
    run(close(history, &path));
    let err = run(History::open(&backup, &keyed(&second))).err().unwrap();
    assert!(matches!(err, HistoryError::WrongKey { .. }), "{err:?}");
    let state = HistoryState::open_with(dir.path().to_owned(), keyring_key);
    assert_eq!(run(state.key_status()).state, KeyState::Ready);
    assert_eq!(run(state.history().unwrap().outbox(None)).unwrap().len(), 1);
    let history = state.history().unwrap().clone();
    drop(state);
    run(close(history, &path));
    keystore::delete(&path).unwrap();
    assert!(matches!(keystore::load(&path), keystore::Lookup::Missing));
}

/// The keyring's key gone (a new keyring, another account) for an encrypted history: locked with a clear
/// reason, never a new key over it.
#[test]
fn an_encrypted_history_without_its_keyring_key_is_locked_not_replaced() {
    let dir = TempDir::new().unwrap();
    if !keyring_here(dir.path()) {
        return;
    }
    let path = dir.path().join(DB_FILE);
    let state = HistoryState::open_with(dir.path().to_owned(), keyring_key);
    run(state.history().unwrap().insert_messages(&messages(4))).unwrap();
    let history = state.history().unwrap().clone();
    drop(state);
    run(close(history, &path));
    keystore::delete(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let state = HistoryState::open_with(dir.path().to_owned(), keyring_key);
    let status = run(state.key_status());
    assert_eq!(status.state, KeyState::EnterPassphrase);
    assert!(status.reason.unwrap().contains("no key"));
    assert!(matches!(keystore::load(&path), keystore::Lookup::Missing));
    assert!(
        std::fs::read(&path).unwrap() == before,
        "the file is untouched"
    );
}
