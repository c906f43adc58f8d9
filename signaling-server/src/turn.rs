//! ICE servers for `welcome`: STUN URLs as given, TURN URLs with ephemeral credentials by the TURN REST
//! scheme that coturn's `use-auth-secret` checks: username `<unix-expiry>:<peer>`, credential
//! `base64(HMAC-SHA1(secret, username))`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use chat_protocol::IceServer;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::config::Config;

/// Builds the ICE server list for one peer.
pub struct IceServers {
    stun: Vec<String>,
    turn: Vec<String>,
    secret: Option<String>,
    ttl_secs: u64,
}

impl IceServers {
    pub fn from_config(config: &Config) -> IceServers {
        IceServers {
            stun: config.stun_urls.clone(),
            turn: config.turn_urls.clone(),
            secret: config.turn_secret.clone(),
            ttl_secs: config.turn_ttl,
        }
    }

    pub fn for_peer(&self, peer: &str) -> Vec<IceServer> {
        let mut servers = Vec::new();
        if !self.stun.is_empty() {
            servers.push(IceServer {
                urls: self.stun.clone(),
                username: None,
                credential: None,
            });
        }
        if let (false, Some(secret)) = (self.turn.is_empty(), &self.secret) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let username = format!("{}:{peer}", now + self.ttl_secs);
            let credential = turn_credential(secret, &username);
            servers.push(IceServer {
                urls: self.turn.clone(),
                username: Some(username),
                credential: Some(credential),
            });
        }
        servers
    }
}

/// `base64(HMAC-SHA1(secret, username))`.
pub fn turn_credential(secret: &str, username: &str) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_matches_rfc_2202_hmac_sha1_vector() {
        // RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?".
        let expected = base64::engine::general_purpose::STANDARD.encode([
            0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84,
            0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79,
        ]);
        assert_eq!(
            turn_credential("Jefe", "what do ya want for nothing?"),
            expected
        );
    }
}
