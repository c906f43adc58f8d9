//! Safety codes: a short number derived from both DTLS certificate fingerprints of one peer connection,
//! the same at both ends, that two people compare by voice. The signaling server relays the SDP that
//! carries the fingerprints, so it could swap them and sit in the middle of a link; it cannot make both
//! ends show the same code (docs/security.md, Safety codes). The web UI derives the same code
//! (ui/src/lib/safety.ts); both run the cases in tests/vectors/safety.json.
//!
//! On a native link the code must be the certificate DTLS verified, not whatever description came
//! last: webrtc-rs checks the peer's certificate against the first remote description only and ignores
//! the fingerprint of every later one (a re-offer, an ICE restart). So the link pins the first one and
//! fails on a later description naming another ([`announces_only`], used by link.rs), and the code is
//! taken from the certificate the DTLS handshake received ([`Shared::fingerprints`]). Our own
//! certificate is the device's identity (crate::identity) when the links are given one, so the code of
//! two devices stays the same from link to link.

use serde::Serialize;
use sha2::{Digest, Sha256};
use ts_rs::TS;

use webrtc::peer_connection::PeerConnection;

pub use crate::identity::fingerprint_of_certificate;

use super::LinkManager;
use super::link::Shared;

/// Input prefix, so the digest means nothing outside this use (and a new scheme can change it).
pub const DOMAIN: &str = "p2pchat-safety-v1\n";
/// Groups of [`DIGITS`] digits: 4 × 5 ≈ 66 bits. A server in the middle that sees both ends'
/// fingerprints before choosing its own needs ≈ 2^33 certificates per side for a collision.
pub const GROUPS: usize = 4;
pub const DIGITS: u32 = 5;
/// Digest bytes per group: 40 bits, so the reduction mod 10^5 is uniform to within 10^-7.
pub const GROUP_BYTES: usize = 5;

/// The DTLS certificate fingerprint `sdp` announces, normalised as `sha-256 AB:CD:…` (algorithm lower
/// case, hex upper case): the sha-256 line if there is one, else the first well-formed one.
pub fn fingerprint_of(sdp: &str) -> Option<String> {
    let found: Vec<String> = sdp
        .lines()
        .filter_map(|line| line.trim().strip_prefix("a=fingerprint:"))
        .filter_map(normalise)
        .collect();
    found
        .iter()
        .find(|f| f.starts_with("sha-256 "))
        .or_else(|| found.first())
        .cloned()
}

/// Whether `sdp` names the certificate `pinned` (a normalised fingerprint) and no other of that hash
/// algorithm: it has at least one such `a=fingerprint` line and every one is `pinned`. Lines of
/// other algorithms are not compared (DTLS is checked with the pinned algorithm; the code comes from
/// the verified certificate). `pinned` `None` (the first description named no usable fingerprint)
/// matches nothing.
pub fn announces_only(sdp: &str, pinned: Option<&str>) -> bool {
    let Some((algorithm, _)) = pinned.and_then(|p| p.split_once(' ')) else {
        return false;
    };
    let mut same_algorithm = sdp
        .lines()
        .filter_map(|line| line.trim().strip_prefix("a=fingerprint:"))
        .filter(|value| {
            value
                .trim()
                .split_once(' ')
                .is_some_and(|(a, _)| a.eq_ignore_ascii_case(algorithm))
        })
        .peekable();
    same_algorithm.peek().is_some() && same_algorithm.all(|v| normalise(v).as_deref() == pinned)
}

fn normalise(value: &str) -> Option<String> {
    let (algorithm, hex) = value.trim().split_once(' ')?;
    let hex = hex.trim();
    let well_formed = !algorithm.is_empty()
        && hex
            .split(':')
            .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
    well_formed.then(|| {
        format!(
            "{} {}",
            algorithm.to_ascii_lowercase(),
            hex.to_ascii_uppercase()
        )
    })
}

/// The code of a connection whose ends announce fingerprints `a` and `b`, in either order.
pub fn code_of_fingerprints(a: &str, b: &str) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let digest = Sha256::digest(format!("{DOMAIN}{lo}\n{hi}").as_bytes());
    let modulus = 10u64.pow(DIGITS);
    digest
        .chunks(GROUP_BYTES)
        .take(GROUPS)
        .map(|group| {
            let n = group.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
            format!("{:0width$}", n % modulus, width = DIGITS as usize)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The code of a connection from its local and remote session descriptions; `None` if either lacks
/// a fingerprint.
pub fn code(local_sdp: &str, remote_sdp: &str) -> Option<String> {
    Some(code_of_fingerprints(
        &fingerprint_of(local_sdp)?,
        &fingerprint_of(remote_sdp)?,
    ))
}

/// The two certificates of a link's safety code, normalised as `sha-256 AB:CD:…`: `local` is this
/// device's (its identity, the same on every link), `remote` the peer's, as its DTLS handshake proved
/// it. The UI remembers a contact verified by `remote` and recognises it on later links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct LinkFingerprints {
    pub local: String,
    pub remote: String,
}

impl LinkFingerprints {
    /// The safety code they make.
    pub fn code(&self) -> String {
        code_of_fingerprints(&self.local, &self.remote)
    }
}

impl Shared {
    /// The link's certificates: ours (our own description names it; it never changes) with the
    /// peer's certificate that the DTLS handshake verified, or before the handshake the pinned
    /// fingerprint DTLS will check it against. Never the latest remote description: webrtc-rs does
    /// not check a later one, so a server could put any fingerprint there.
    pub(super) async fn fingerprints(&self) -> Option<LinkFingerprints> {
        let pc = self.pc.get()?;
        let local = fingerprint_of(&pc.local_description().await?.sdp)?;
        let remote = match self.verified_fingerprint(pc.as_ref()).await {
            Some(verified) => verified,
            None => self.pinned.get()?.clone()?,
        };
        Some(LinkFingerprints { local, remote })
    }

    /// The fingerprint of the certificate the peer presented in the DTLS handshake (which webrtc-rs
    /// accepted only if it matched the pinned fingerprint); `None` before the handshake, or with no
    /// data channel (the DTLS transport is reached through the SCTP transport).
    async fn verified_fingerprint(&self, pc: &dyn PeerConnection) -> Option<String> {
        let sctp = pc.sctp().await?;
        let chain = sctp.transport().get_remote_certificates().await.ok()?;
        chain.first().map(|der| fingerprint_of_certificate(der))
    }
}

impl LinkManager {
    /// The safety code of the link to `peer` in `room`, once it is connected.
    pub async fn safety_code(&self, room: &str, peer: &str) -> Option<String> {
        Some(self.fingerprints(room, peer).await?.code())
    }

    /// The certificates of the link to `peer` in `room` (its safety code's), once it is connected.
    pub async fn fingerprints(&self, room: &str, peer: &str) -> Option<LinkFingerprints> {
        let shared = {
            let state = self.inner.state();
            state.rooms.get(room)?.links.get(peer)?.shared.clone()
        };
        shared.fingerprints().await
    }

    /// This device's fingerprint (`sha-256 AB:CD:…`), if its links share one identity
    /// ([`super::LinkOptions::identity`]).
    pub fn local_fingerprint(&self) -> Option<String> {
        self.inner.options.identity.as_ref()?.fingerprint()
    }

    /// "Forget this device" for the links: erases the kept identity; links made from now on present
    /// a new one (open links keep theirs until they close).
    pub fn forget_identity(&self) -> std::io::Result<()> {
        match &self.inner.options.identity {
            Some(identity) => identity.forget(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/vectors/safety.json")).unwrap()
    }

    /// The cases shared with the web UI (tests/vectors/safety.json): the same fingerprint is read.
    #[test]
    fn reads_fingerprints_as_the_shared_vectors_say() {
        for case in vectors()["fingerprints"].as_array().unwrap() {
            let sdp = case["sdp"].as_str().unwrap();
            let expected = case["fingerprint"].as_str().map(str::to_owned);
            assert_eq!(fingerprint_of(sdp), expected, "{}", case["name"]);
        }
    }

    /// ... and the same code derived, identical at both ends, different with a third party between.
    #[test]
    fn derives_codes_as_the_shared_vectors_say() {
        for case in vectors()["codes"].as_array().unwrap() {
            let local = case["local"].as_str().unwrap();
            let remote = case["remote"].as_str().unwrap();
            let expected = case["code"].as_str().map(str::to_owned);
            assert_eq!(code(local, remote), expected, "{}", case["name"]);
        }
    }

    /// A later description may repeat the pinned certificate, never name another: a forged
    /// fingerprint, a missing one or a second one of the same algorithm fails the check.
    #[test]
    fn a_later_description_must_name_only_the_pinned_certificate() {
        let pinned = Some("sha-256 AB:CD:EF");
        let sdp = |lines: &[&str]| format!("v=0\r\n{}\r\n", lines.join("\r\n"));
        assert!(announces_only(
            &sdp(&["a=fingerprint:sha-256 ab:cd:ef"]),
            pinned
        ));
        assert!(announces_only(
            &sdp(&[
                "a=fingerprint:SHA-256 AB:CD:EF",
                "m=application",
                "a=fingerprint:sha-256 AB:CD:EF"
            ]),
            pinned
        ));
        // Another algorithm's line is not what DTLS checks: not compared.
        assert!(announces_only(
            &sdp(&[
                "a=fingerprint:sha-1 01:02",
                "a=fingerprint:sha-256 AB:CD:EF"
            ]),
            pinned
        ));
        assert!(!announces_only(
            &sdp(&["a=fingerprint:sha-256 AB:CD:EE"]),
            pinned
        ));
        assert!(!announces_only(
            &sdp(&["a=fingerprint:sha-1 AB:CD:EF"]),
            pinned
        ));
        assert!(!announces_only(&sdp(&["a=setup:actpass"]), pinned));
        assert!(!announces_only(
            &sdp(&[
                "a=fingerprint:sha-256 AB:CD:EF",
                "a=fingerprint:sha-256 12:34:56"
            ]),
            pinned
        ));
        assert!(!announces_only(
            &sdp(&["a=fingerprint:sha-256 AB:CD:EF:zz"]),
            pinned
        ));
        assert!(!announces_only(
            &sdp(&["a=fingerprint:sha-256 AB:CD:EF"]),
            None
        ));
    }

    /// A certificate's fingerprint reads as an SDP line's would (normalised the same way).
    #[test]
    fn a_certificate_fingerprint_is_written_like_an_sdp_one() {
        let fingerprint = fingerprint_of_certificate(b"not really DER");
        let line = format!("a=fingerprint:{}", fingerprint.to_lowercase());
        assert_eq!(fingerprint_of(&line), Some(fingerprint.clone()));
        assert_eq!(fingerprint.len(), "sha-256 ".len() + 32 * 3 - 1);
    }

    #[test]
    fn a_code_is_four_groups_of_five_digits_in_either_order() {
        let code = code_of_fingerprints("sha-256 AA:BB", "sha-256 CC:DD");
        assert_eq!(code, code_of_fingerprints("sha-256 CC:DD", "sha-256 AA:BB"));
        let groups: Vec<&str> = code.split(' ').collect();
        assert_eq!(groups.len(), 4, "{code}");
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit()))
        );
        assert_ne!(code, code_of_fingerprints("sha-256 AA:BB", "sha-256 CC:DE"));
    }
}
