//! Where the history key lives: the OS keyring (the Secret Service on Linux, the Keychain on macOS and
//! iOS, the Credential Manager on Windows), one entry per history file (service `p2pchat`, account
//! `history <path>`), holding the 32 raw key bytes. On Android the key is wrapped by the Android
//! Keystore and the wrapped form kept beside the file (`<path>.keystore`; tauri-plugin-push-call). On a
//! Linux desktop without a Secret Service (or when the Keystore fails), [`load`] says the keyring is
//! unavailable and the app asks for a passphrase. Keyring calls block (D-Bus, a possible unlock prompt,
//! the Keystore's round trip to the Kotlin plugin): they run on their own thread and give up after
//! [`TIMEOUT`].

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use super::key::{DbKey, KEY_LEN};

/// The keyring's service name for the app's entries.
pub const SERVICE: &str = "p2pchat";

/// How long a keyring call may take (an unlock prompt the person answers included).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// What the keyring holds for a history file.
#[derive(Debug)]
pub enum Lookup {
    /// The key (the normal start).
    Found(DbKey),
    /// The keyring works but has no key for this file (first start, or the key was removed).
    Missing,
    /// No keyring to use here (none running, no backend for this system, locked and not unlocked, or an
    /// entry that is not a key): the reason, for the person.
    Unavailable(String),
}

/// The keyring account of the history at `db`: one per file, so several data folders (profiles, tests)
/// keep separate keys.
fn account(db: &Path) -> String {
    let db = std::path::absolute(db).unwrap_or_else(|_| db.to_owned());
    format!("history {}", db.display())
}

/// The key stored for the history at `db`.
pub fn load(db: &Path) -> Lookup {
    let account = account(db);
    match with_timeout(move || backend::get(&account)) {
        Ok(Some(bytes)) => match <[u8; KEY_LEN]>::try_from(bytes.as_slice()) {
            Ok(raw) => Lookup::Found(DbKey::from_bytes(raw)),
            Err(_) => Lookup::Unavailable(format!(
                "the keyring's entry for the history holds {} bytes, not a {KEY_LEN}-byte key",
                bytes.len()
            )),
        },
        Ok(None) => Lookup::Missing,
        Err(reason) => Lookup::Unavailable(reason),
    }
}

/// Stores `key` (a raw key) for the history at `db`, replacing any other, and reads it back: a keyring
/// that accepts a secret it does not keep is no keyring.
pub fn store(db: &Path, key: &DbKey) -> Result<(), String> {
    let raw = *key
        .raw_bytes()
        .ok_or("a passphrase is never stored in the keyring")?;
    let account = account(db);
    with_timeout(move || backend::set(&account, &raw))?;
    match load(db) {
        Lookup::Found(stored) if &stored == key => Ok(()),
        Lookup::Found(_) | Lookup::Missing => {
            Err("the keyring did not keep the history key".to_owned())
        }
        Lookup::Unavailable(reason) => Err(reason),
    }
}

/// Deletes the key of the history at `db` (none stored is fine).
pub fn delete(db: &Path) -> Result<(), String> {
    let account = account(db);
    with_timeout(move || backend::delete(&account))
}

/// Runs `call` on its own thread; a call still blocked after [`TIMEOUT`] counts as no keyring.
fn with_timeout<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("keyring".into())
        .spawn(move || {
            let _ = tx.send(call());
        })
        .map_err(|err| format!("cannot reach the keyring: {err}"))?;
    rx.recv_timeout(TIMEOUT).unwrap_or_else(|_| {
        Err(format!(
            "the keyring did not answer within {} s",
            TIMEOUT.as_secs()
        ))
    })
}

#[cfg(not(target_os = "android"))]
mod backend {
    use keyring::{Entry, Error};

    use super::SERVICE;

    fn entry(account: &str) -> Result<Entry, String> {
        Entry::new(SERVICE, account).map_err(describe)
    }

    pub fn get(account: &str) -> Result<Option<Vec<u8>>, String> {
        match entry(account)?.get_secret() {
            Ok(secret) => Ok(Some(secret)),
            Err(Error::NoEntry) => Ok(None),
            Err(err) => Err(describe(err)),
        }
    }

    pub fn set(account: &str, secret: &[u8]) -> Result<(), String> {
        entry(account)?.set_secret(secret).map_err(describe)
    }

    pub fn delete(account: &str) -> Result<(), String> {
        match entry(account)?.delete_credential() {
            Ok(()) | Err(Error::NoEntry) => Ok(()),
            Err(err) => Err(describe(err)),
        }
    }

    fn describe(err: Error) -> String {
        match err {
            Error::PlatformFailure(inner) | Error::NoStorageAccess(inner) => {
                format!("no keyring available ({inner})")
            }
            other => format!("keyring error: {other}"),
        }
    }
}

#[cfg(target_os = "android")]
mod backend {
    //! The Android Keystore: the key wrapped by a non-exportable Keystore key, the wrapped form beside
    //! the database (tauri-plugin-push-call's keystore module and its Kotlin HistoryKeystore).
    use std::path::{Path, PathBuf};

    use tauri_plugin_push_call::keystore;

    /// The history file an account names (see `account`).
    fn db(account: &str) -> PathBuf {
        Path::new(account.strip_prefix("history ").unwrap_or(account)).to_owned()
    }

    pub fn get(account: &str) -> Result<Option<Vec<u8>>, String> {
        keystore::load(&db(account))
    }

    pub fn set(account: &str, secret: &[u8]) -> Result<(), String> {
        keystore::store(&db(account), secret)
    }

    pub fn delete(account: &str) -> Result<(), String> {
        keystore::delete(&db(account))
    }
}
