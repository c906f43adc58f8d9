//! The key the history database is encrypted with (SQLCipher): either 32 random bytes, used as the raw
//! AES-256 key with no derivation (the normal case, kept in the OS keyring), or a passphrase the user
//! types when there is no keyring, which SQLCipher stretches itself (PBKDF2-HMAC-SHA512, 256 000 rounds,
//! salted with the 16 random bytes at the start of the file). Neither is ever printed: `Debug` redacts it
//! and the memory is wiped on drop.

use std::fmt;

use zeroize::Zeroizing;

/// Length of a raw key in bytes.
pub const KEY_LEN: usize = 32;

/// A database key. Cheap to clone; wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct DbKey(Secret);

#[derive(Clone, PartialEq, Eq)]
enum Secret {
    Raw(Zeroizing<[u8; KEY_LEN]>),
    Passphrase(Zeroizing<String>),
}

impl DbKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> DbKey {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(bytes.as_mut()).expect("the operating system's random generator failed");
        DbKey(Secret::Raw(bytes))
    }

    /// A raw key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> DbKey {
        DbKey(Secret::Raw(Zeroizing::new(bytes)))
    }

    /// A key SQLCipher derives from what the user typed (no keyring on this device).
    pub fn passphrase(text: &str) -> DbKey {
        DbKey(Secret::Passphrase(Zeroizing::new(text.to_owned())))
    }

    /// The raw bytes, for storing in the keyring (`None` for a passphrase, which is never stored).
    pub fn raw_bytes(&self) -> Option<&[u8; KEY_LEN]> {
        match &self.0 {
            Secret::Raw(bytes) => Some(bytes),
            Secret::Passphrase(_) => None,
        }
    }

    /// The value of `PRAGMA key = …` / `ATTACH … KEY …` as an SQL literal: `"x'<64 hex>'"` for a raw
    /// key (SQLCipher uses it as is, no derivation), `'<text>'` (quotes doubled) for a passphrase.
    pub fn sql_literal(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(2 * KEY_LEN + 5));
        match &self.0 {
            Secret::Raw(bytes) => {
                out.push_str("\"x'");
                for b in bytes.iter() {
                    out.push(hex_digit(b >> 4));
                    out.push(hex_digit(b & 0xf));
                }
                out.push_str("'\"");
            }
            Secret::Passphrase(text) => {
                out.push('\'');
                for c in text.chars() {
                    if c == '\'' {
                        out.push('\'');
                    }
                    out.push(c);
                }
                out.push('\'');
            }
        }
        out
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0xf)])
}

impl fmt::Debug for DbKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Secret::Raw(_) => f.write_str("DbKey(raw, redacted)"),
            Secret::Passphrase(_) => f.write_str("DbKey(passphrase, redacted)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let key = DbKey::from_bytes([0xab; KEY_LEN]);
        let shown = format!("{key:?}");
        assert!(!shown.contains("ab"), "{shown}");
        let shown = format!("{:?}", DbKey::passphrase("hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn literals_are_sqlcipher_syntax() {
        let mut bytes = [0u8; KEY_LEN];
        bytes[0] = 0x0f;
        bytes[31] = 0xa0;
        let lit = DbKey::from_bytes(bytes).sql_literal();
        assert_eq!(lit.len(), 64 + 5);
        assert!(lit.starts_with("\"x'0f00"), "{}", &*lit);
        assert!(lit.ends_with("00a0'\""), "{}", &*lit);
        assert_eq!(&*DbKey::passphrase("it's").sql_literal(), "'it''s'");
        assert_ne!(DbKey::generate(), DbKey::generate());
    }
}
