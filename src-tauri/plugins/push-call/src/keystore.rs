//! The history key on Android (issue 25): the 32 random bytes are wrapped (AES-256-GCM) by a
//! non-exportable key of the Android Keystore (alias `p2pchat-history`, made on first use; Kotlin:
//! android/src/main/java/HistoryKeystore.kt) and only the wrapped form is written, beside the
//! database as `<history file>.keystore`. Copying the data folder off the phone gives a file nobody can
//! unwrap; the app (src-tauri/src/history/keystore.rs, Android backend) reads it back at start.
//!
//! The file handling here runs and is tested on every platform; the Keystore calls ([`load`],
//! [`store`]) need the Kotlin plugin, connected by [`connect`] when the plugin starts on Android.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;

/// Calls a command of the Kotlin plugin (set on Android by [`connect`]).
type Native =
    Box<dyn Fn(&str, serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync>;

static NATIVE: OnceLock<Native> = OnceLock::new();

/// Lets [`load`] and [`store`] reach the Keystore through the Kotlin plugin.
pub fn connect(
    native: impl Fn(&str, serde_json::Value) -> Result<serde_json::Value, String>
    + Send
    + Sync
    + 'static,
) {
    let _ = NATIVE.set(Box::new(native));
}

fn native(command: &str, args: serde_json::Value) -> Result<serde_json::Value, String> {
    let call = NATIVE
        .get()
        .ok_or("the Android Keystore is not reachable (the push-call plugin did not start)")?;
    call(command, args).map_err(|err| format!("Android Keystore: {err}"))
}

/// Where the wrapped key of the history at `db` is kept.
pub fn wrapped_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".keystore");
    PathBuf::from(name)
}

/// The wrapped key kept for `db` (base64 text, as the Keystore plugin gave it), if any.
pub fn read_wrapped(db: &Path) -> io::Result<Option<String>> {
    match std::fs::read_to_string(wrapped_path(db)) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Keeps `wrapped` for `db`, replacing the file whole (written aside, synced, renamed): a crash never
/// leaves half a key.
pub fn write_wrapped(db: &Path, wrapped: &str) -> io::Result<()> {
    let path = wrapped_path(db);
    let mut aside = path.clone().into_os_string();
    aside.push(".new");
    let aside = PathBuf::from(aside);
    {
        let mut file = std::fs::File::create(&aside)?;
        file.write_all(wrapped.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&aside, &path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself must survive a crash too; a folder that cannot be synced is not an error.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Forgets the key of `db` (none kept is fine).
pub fn delete(db: &Path) -> Result<(), String> {
    match std::fs::remove_file(wrapped_path(db)) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(format!("cannot remove the wrapped history key: {err}")),
    }
}

/// The raw key of the history at `db`, unwrapped by the Keystore; `None` when none was stored.
pub fn load(db: &Path) -> Result<Option<Vec<u8>>, String> {
    let Some(wrapped) =
        read_wrapped(db).map_err(|err| format!("cannot read the wrapped history key: {err}"))?
    else {
        return Ok(None);
    };
    let answer = native("unwrapKey", serde_json::json!({ "wrapped": wrapped }))?;
    let key = answer
        .get("key")
        .and_then(serde_json::Value::as_str)
        .ok_or("the Keystore gave no key")?;
    decode_base64(key).map(Some)
}

/// Wraps `key` with the Keystore and keeps the result for `db`.
pub fn store(db: &Path, key: &[u8]) -> Result<(), String> {
    let answer = native("wrapKey", serde_json::json!({ "key": encode_base64(key) }))?;
    let wrapped = answer
        .get("wrapped")
        .and_then(serde_json::Value::as_str)
        .filter(|w| !w.is_empty())
        .ok_or("the Keystore gave no wrapped key")?;
    write_wrapped(db, wrapped).map_err(|err| format!("cannot write the wrapped history key: {err}"))
}

fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Standard base64 with padding, as android.util.Base64.NO_WRAP writes it.
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|err| format!("the Keystore's key is not base64: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapped_key_sits_beside_the_history() {
        assert_eq!(
            wrapped_path(Path::new("/data/app/history.db")),
            Path::new("/data/app/history.db.keystore")
        );
    }

    #[test]
    fn a_wrapped_key_is_kept_replaced_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("history.db");
        assert_eq!(read_wrapped(&db).unwrap(), None, "nothing kept yet");
        write_wrapped(&db, "AAAA").unwrap();
        assert_eq!(read_wrapped(&db).unwrap().as_deref(), Some("AAAA"));
        write_wrapped(&db, "BBBB").unwrap();
        assert_eq!(read_wrapped(&db).unwrap().as_deref(), Some("BBBB"));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["history.db.keystore"], "no file left aside");
        delete(&db).unwrap();
        assert_eq!(read_wrapped(&db).unwrap(), None);
        delete(&db).unwrap();
    }

    #[test]
    fn without_the_plugin_the_keystore_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("history.db");
        assert_eq!(load(&db), Ok(None), "no wrapped key: nothing to unwrap");
        write_wrapped(&db, "AAAA").unwrap();
        let err = load(&db).unwrap_err();
        assert!(err.contains("not reachable"), "{err}");
        assert!(store(&db, &[1; 32]).unwrap_err().contains("not reachable"));
    }

    #[test]
    fn keys_cross_to_kotlin_as_standard_base64() {
        let key: Vec<u8> = (0..32).collect();
        assert_eq!(encode_base64(&key[..4]), "AAECAw==");
        assert_eq!(decode_base64(&encode_base64(&key)).unwrap(), key);
        assert!(decode_base64("not*base64").is_err());
    }
}
