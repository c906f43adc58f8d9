//! This device's DTLS identity: one long-lived certificate (ECDSA P-256) that every native link presents,
//! so the safety code of two devices stays the same across links, sessions and restarts and can be
//! verified once (docs/security.md, "Safety codes"; the web UI keeps its own in ui/src/lib/identity.ts).
//!
//! It lives in the data folder as `dtls-identity.pem` (webrtc-rs's `RTCCertificate::serialize_pem`:
//! expiry, private key, certificate), mode 0600, written atomically (a temporary file renamed over it).
//! It is made on first use for [`LIFETIME`] and replaced by a new one once it expires within
//! [`RENEW_BEFORE`]: the log says so, since every contact's code changes. A file that cannot be read
//! or parsed is moved aside as `dtls-identity.pem.corrupt` (said in the log) and a new identity made:
//! a broken file never stops chat. "Forget this device" erases it ([`DeviceIdentity::forget`]).
//! Without a data folder ([`DeviceIdentity::ephemeral`]) the identity lives as long as the process.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use rtc::crypto::{self, SignatureScheme};
use rtc::peer_connection::certificate::{CertificateParams, RTCCertificate};
use sha2::{Digest, Sha256};

/// The normalised sha-256 fingerprint of a DER certificate, as an SDP would announce it.
pub fn fingerprint_of_certificate(der: &[u8]) -> String {
    let hex: Vec<String> = Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    format!("sha-256 {}", hex.join(":"))
}

/// The identity's file in the data folder.
pub const FILE_NAME: &str = "dtls-identity.pem";
/// Where an unreadable identity file is kept for inspection (replaced by the next one).
pub const CORRUPT_SUFFIX: &str = ".corrupt";
/// How long a new certificate is valid: about a year, like the web UI's (ui/src/lib/identity.ts).
pub const LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// A certificate expiring sooner than this is replaced, so no link ever starts with one about to
/// expire (webrtc-rs refuses an expired certificate).
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why an identity could not be made or kept (reported in the log; chat goes on with what there is).
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot make a certificate: {0}")]
    Generate(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Corrupt(String),
}

/// The device's certificate and its fingerprint.
#[derive(Clone)]
struct Current {
    certificate: RTCCertificate,
    /// `sha-256 AB:CD:…`, as safety codes write fingerprints.
    fingerprint: String,
}

/// The device's DTLS identity, shared by every link (cheap to clone behind an `Arc`).
pub struct DeviceIdentity {
    /// The data folder; `None`: kept in memory only.
    dir: Option<PathBuf>,
    /// Made or loaded on first use; emptied by [`DeviceIdentity::forget`].
    current: Mutex<Option<Current>>,
}

impl std::fmt::Debug for DeviceIdentity {
    /// Never the private key: the folder and, if made yet, the fingerprint.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fingerprint = self.lock().as_ref().map(|c| c.fingerprint.clone());
        f.debug_struct("DeviceIdentity")
            .field("dir", &self.dir)
            .field("fingerprint", &fingerprint)
            .finish()
    }
}

impl DeviceIdentity {
    /// The identity kept in `dir` (loaded, or made, on first use).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Arc<Self> {
        Arc::new(DeviceIdentity {
            dir: Some(dir.into()),
            current: Mutex::new(None),
        })
    }

    /// An identity for this process only: nothing is written, the next run is a new device.
    pub fn ephemeral() -> Arc<Self> {
        Arc::new(DeviceIdentity {
            dir: None,
            current: Mutex::new(None),
        })
    }

    /// The file it is kept in, if any.
    pub fn path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(FILE_NAME))
    }

    fn lock(&self) -> MutexGuard<'_, Option<Current>> {
        // Poisoned only by a panic while swapping a plain value: the value is whole.
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The certificate for a new connection: the kept one, renewed first if it expires within
    /// [`RENEW_BEFORE`]. `None` only if no certificate can be made at all (then each connection
    /// makes its own, as webrtc-rs does by default).
    pub fn certificate(&self) -> Option<RTCCertificate> {
        self.current_at(SystemTime::now()).map(|c| c.certificate)
    }

    /// This device's fingerprint (`sha-256 AB:CD:…`), the one its links announce.
    pub fn fingerprint(&self) -> Option<String> {
        self.current_at(SystemTime::now()).map(|c| c.fingerprint)
    }

    /// The identity as of `now`: loaded, made or renewed as needed.
    fn current_at(&self, now: SystemTime) -> Option<Current> {
        let mut current = self.lock();
        if let Some(c) = current.as_ref()
            && !expires_soon(&c.certificate, now)
        {
            return Some(c.clone());
        }
        let next = match (current.take(), &self.dir) {
            (Some(old), dir) => self.renew(&old, dir.as_deref(), now),
            (None, Some(dir)) => load_or_make(dir, now),
            (None, None) => made(now),
        };
        *current = next.clone();
        next
    }

    /// A new certificate in place of `old`, which expires within [`RENEW_BEFORE`].
    fn renew(&self, old: &Current, dir: Option<&Path>, now: SystemTime) -> Option<Current> {
        tracing::warn!(
            old = %old.fingerprint,
            expires = %when(old.certificate.expires),
            "device identity renewed: its certificate expires within 30 days, so every contact's \
             safety code changes (compare again)"
        );
        let next = made(now)?;
        if let Some(dir) = dir {
            save_logged(dir, &next);
        }
        tracing::info!(fingerprint = %next.fingerprint, "new device identity");
        Some(next)
    }

    /// "Forget this device": erases the kept identity (and a `.corrupt` copy). The next link makes a
    /// new one, so every contact sees a new device.
    pub fn forget(&self) -> std::io::Result<()> {
        *self.lock() = None;
        match &self.dir {
            Some(dir) => forget_in(dir),
            None => Ok(()),
        }
    }
}

/// Erases the identity kept in `dir` (and a `.corrupt` copy), for a forget without a running
/// [`DeviceIdentity`].
pub fn forget_in(dir: &Path) -> std::io::Result<()> {
    for name in [FILE_NAME.to_owned(), format!("{FILE_NAME}{CORRUPT_SUFFIX}")] {
        match std::fs::remove_file(dir.join(name)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
    }
    tracing::info!(dir = %dir.display(), "device identity erased");
    Ok(())
}

fn expires_soon(certificate: &RTCCertificate, now: SystemTime) -> bool {
    certificate
        .expires
        .duration_since(now)
        .map_or(true, |left| left < RENEW_BEFORE)
}

fn when(t: SystemTime) -> String {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => format!("{}s after 1970", d.as_secs()),
        Err(_) => "before 1970".to_owned(),
    }
}

/// The identity in `dir`: the kept one if it is readable and not about to expire, else a new one
/// (written there).
fn load_or_make(dir: &Path, now: SystemTime) -> Option<Current> {
    let path = dir.join(FILE_NAME);
    match load(&path) {
        Ok(Some(kept)) if !expires_soon(&kept.certificate, now) => {
            tracing::info!(fingerprint = %kept.fingerprint, path = %path.display(), "device identity loaded");
            return Some(kept);
        }
        Ok(Some(kept)) => {
            tracing::warn!(
                old = %kept.fingerprint,
                expires = %when(kept.certificate.expires),
                path = %path.display(),
                "device identity renewed: the kept certificate expires within 30 days, so every \
                 contact's safety code changes (compare again)"
            );
        }
        Ok(None) => {
            tracing::info!(path = %path.display(), "no device identity yet: making one");
        }
        Err(err) => {
            let aside = path.with_file_name(format!("{FILE_NAME}{CORRUPT_SUFFIX}"));
            let kept_aside = std::fs::rename(&path, &aside);
            tracing::error!(
                path = %path.display(),
                %err,
                aside = %match &kept_aside {
                    Ok(()) => aside.display().to_string(),
                    Err(e) => format!("not moved aside: {e}"),
                },
                "the device identity file is unreadable: a new identity is made, so every \
                 contact's safety code changes"
            );
        }
    }
    let next = made(now)?;
    save_logged(dir, &next);
    tracing::info!(fingerprint = %next.fingerprint, path = %path.display(), "new device identity");
    Some(next)
}

/// The identity in `path`; `Ok(None)` if there is no file.
fn load(path: &Path) -> Result<Option<Current>, IdentityError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(IdentityError::Corrupt(format!("cannot read it: {err}"))),
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| IdentityError::Corrupt("it is not PEM text".to_owned()))?;
    parse(&text).map(Some)
}

/// Parses what [`serialize`] wrote.
fn parse(text: &str) -> Result<Current, IdentityError> {
    let corrupt = |why: String| IdentityError::Corrupt(why);
    // webrtc-rs indexes the EXPIRES block's first 8 bytes without checking its length: check first.
    let first = text.split("\n\n").next().unwrap_or_default();
    let expires = pem::parse(first).map_err(|e| corrupt(format!("no expiry block: {e}")))?;
    if expires.tag() != "EXPIRES" || expires.contents().len() < 8 {
        return Err(corrupt("no valid expiry block".to_owned()));
    }
    let provider = crypto::default_provider().map_err(|e| corrupt(e.to_string()))?;
    let certificate = RTCCertificate::from_pem(text, provider.crypto())
        .map_err(|e| corrupt(format!("not a certificate and key: {e}")))?;
    current(certificate).ok_or_else(|| corrupt("it holds no certificate".to_owned()))
}

fn current(certificate: RTCCertificate) -> Option<Current> {
    let der = certificate.dtls_certificate.certificate.first()?;
    let fingerprint = fingerprint_of_certificate(der.as_ref());
    Some(Current {
        certificate,
        fingerprint,
    })
}

/// A new certificate valid from a day before `now` (clocks differ) for [`LIFETIME`].
fn generate(now: SystemTime, lifetime: Duration) -> Result<RTCCertificate, IdentityError> {
    let fail = |e: &dyn std::fmt::Display| IdentityError::Generate(e.to_string());
    let provider = crypto::default_provider().map_err(|e| fail(&e))?;
    let mut params =
        CertificateParams::new(vec!["p2pchat-device".to_owned()]).map_err(|e| fail(&e))?;
    let expires = now + lifetime;
    params.not_before = (now - Duration::from_secs(24 * 3600)).into();
    params.not_after = expires.into();
    let made =
        RTCCertificate::generate(provider.crypto(), SignatureScheme::EcdsaP256Sha256, params)
            .map_err(|e| fail(&e))?;
    // Our own expiry, whole seconds as the file keeps it (webrtc-rs takes 2 days on 32-bit ARM).
    let secs = expires
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|e| fail(&e))?
        .as_secs();
    Ok(RTCCertificate::from_existing(
        made.dtls_certificate,
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
    ))
}

/// A new identity as of `now`, or `None` (logged) if none can be made.
fn made(now: SystemTime) -> Option<Current> {
    match generate(now, LIFETIME) {
        Ok(certificate) => current(certificate),
        Err(err) => {
            tracing::error!(%err, "cannot make a device identity: each link makes its own");
            None
        }
    }
}

/// Writes `identity` into `dir`; a failure is logged (the identity still serves this run).
fn save_logged(dir: &Path, identity: &Current) {
    if let Err(err) = save(dir, &identity.certificate) {
        tracing::error!(%err, "cannot keep the device identity: it lasts only until the app exits");
    }
}

/// Writes `certificate` as `dir/FILE_NAME`, atomically (a temporary file, synced, renamed over it),
/// readable by this user only.
fn save(dir: &Path, certificate: &RTCCertificate) -> Result<(), IdentityError> {
    let path = dir.join(FILE_NAME);
    let write_error = |source| IdentityError::Write {
        path: path.clone(),
        source,
    };
    let text = certificate
        .serialize_pem()
        .map_err(|e| IdentityError::Generate(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(write_error)?;
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_error(err));
    }
    // The rename is durable once the folder is synced (not possible on every platform).
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "p2pchat-identity-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A restart finds the same identity: same fingerprint, same certificate, read from the file.
    #[test]
    fn the_identity_is_kept_across_restarts() {
        let dir = folder("kept");
        let first = DeviceIdentity::in_dir(&dir).fingerprint().unwrap();
        assert!(dir.join(FILE_NAME).exists(), "written on first use");
        let again = DeviceIdentity::in_dir(&dir);
        assert_eq!(again.fingerprint().unwrap(), first);
        let ephemeral = DeviceIdentity::ephemeral().fingerprint().unwrap();
        assert_ne!(ephemeral, first, "another device has another identity");
        assert!(
            first.starts_with("sha-256 ") && first.len() == 8 + 32 * 3 - 1,
            "{first}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The file holds a private key: only its owner may read it, whatever the umask.
    #[cfg(unix)]
    #[test]
    fn the_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = folder("mode");
        DeviceIdentity::in_dir(&dir).certificate().unwrap();
        let mode = std::fs::metadata(dir.join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
        assert!(
            !dir.join(format!("{FILE_NAME}.tmp")).exists(),
            "no temporary file left"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A kept certificate that expires within 30 days is replaced by a new one (written), and a fresh
    /// one is kept; a running identity renews itself too when its time comes.
    #[test]
    fn an_expiring_certificate_is_renewed() {
        let dir = folder("renew");
        let now = SystemTime::now();
        let expiring = generate(now, RENEW_BEFORE - DAY).unwrap();
        save(&dir, &expiring).unwrap();
        let old = current(expiring).unwrap().fingerprint;

        let identity = DeviceIdentity::in_dir(&dir);
        let renewed = identity.current_at(now).unwrap();
        assert_ne!(
            renewed.fingerprint, old,
            "an expiring certificate is replaced"
        );
        assert!(renewed.certificate.expires > now + LIFETIME - DAY);
        let on_disk = load(&dir.join(FILE_NAME)).unwrap().unwrap();
        assert_eq!(
            on_disk.fingerprint, renewed.fingerprint,
            "the new one is kept"
        );

        // Well before its end it stays; within 30 days of it, the running identity renews.
        assert_eq!(
            identity.current_at(now + 300 * DAY).unwrap().fingerprint,
            renewed.fingerprint
        );
        let later = identity.current_at(now + LIFETIME - 10 * DAY).unwrap();
        assert_ne!(later.fingerprint, renewed.fingerprint);
        assert_eq!(
            load(&dir.join(FILE_NAME)).unwrap().unwrap().fingerprint,
            later.fingerprint
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A damaged file (garbage, a truncated expiry block that would make webrtc-rs panic, a key with
    /// no certificate, bytes that are not text) is moved aside as `.corrupt` and a new identity made.
    #[test]
    fn a_corrupt_file_is_kept_aside_and_replaced() {
        let good = generate(SystemTime::now(), LIFETIME)
            .unwrap()
            .serialize_pem()
            .unwrap();
        let truncated_expiry =
            "-----BEGIN EXPIRES-----\nAAA=\n-----END EXPIRES-----\n\n".to_owned();
        let no_certificate = good
            .split("-----BEGIN CERTIFICATE-----")
            .next()
            .unwrap()
            .to_owned();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("garbage", b"not a certificate".to_vec()),
            ("truncated expiry", truncated_expiry.into_bytes()),
            ("no certificate", no_certificate.into_bytes()),
            ("half the file", good.as_bytes()[..good.len() / 2].to_vec()),
            ("not text", vec![0xff, 0xfe, 0x00, 0x80]),
        ];
        for (name, bytes) in cases {
            let dir = folder("corrupt");
            std::fs::write(dir.join(FILE_NAME), &bytes).unwrap();
            let identity = DeviceIdentity::in_dir(&dir);
            let fingerprint = identity.fingerprint().expect(name);
            let aside = dir.join(format!("{FILE_NAME}{CORRUPT_SUFFIX}"));
            assert_eq!(std::fs::read(&aside).unwrap(), bytes, "{name}: kept aside");
            let kept = load(&dir.join(FILE_NAME)).unwrap().expect(name);
            assert_eq!(kept.fingerprint, fingerprint, "{name}: a new one written");
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    /// An unreadable file (here: a folder in its place) is no crash either.
    #[test]
    fn an_unreadable_file_gives_a_new_identity() {
        let dir = folder("unreadable");
        std::fs::create_dir(dir.join(FILE_NAME)).unwrap();
        let identity = DeviceIdentity::in_dir(&dir);
        assert!(identity.fingerprint().is_some());
        assert!(dir.join(format!("{FILE_NAME}{CORRUPT_SUFFIX}")).is_dir());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// "Forget this device" erases the file; the next use is a new device.
    #[test]
    fn forget_erases_the_identity() {
        let dir = folder("forget");
        let identity = DeviceIdentity::in_dir(&dir);
        let before = identity.fingerprint().unwrap();
        std::fs::write(dir.join(format!("{FILE_NAME}{CORRUPT_SUFFIX}")), "x").unwrap();
        identity.forget().unwrap();
        assert!(!dir.join(FILE_NAME).exists());
        assert!(!dir.join(format!("{FILE_NAME}{CORRUPT_SUFFIX}")).exists());
        let after = identity.fingerprint().unwrap();
        assert_ne!(after, before);
        assert_eq!(DeviceIdentity::in_dir(&dir).fingerprint().unwrap(), after);
        forget_in(&dir).unwrap();
        forget_in(&dir).unwrap();
        assert!(!dir.join(FILE_NAME).exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
