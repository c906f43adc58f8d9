//! Client authentication: HS256 JWTs carried in `hello.token` (docs/protocol.md, Session 5).

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::{Deserialize, Serialize};

/// Claims the server reads from a client token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Room names the user may join; `*` or absent means any room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rooms: Option<Vec<String>>,
}

/// What a verified token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user: String,
    /// `None`: every room.
    pub rooms: Option<Box<[Box<str>]>>,
}

impl Grant {
    /// The grant of an open (development-mode) server.
    pub fn open() -> Grant {
        Grant {
            user: String::new(),
            rooms: None,
        }
    }

    pub fn allows_room(&self, room: &str) -> bool {
        self.rooms
            .as_ref()
            .is_none_or(|rooms| rooms.iter().any(|r| &**r == room))
    }
}

/// Verifies tokens against the server's secret.
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
}

impl Authenticator {
    pub fn new(secret: &str) -> Authenticator {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        Authenticator {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// Checks signature, algorithm and expiry; the error text is safe to show the client.
    pub fn verify(&self, token: Option<&str>) -> Result<Grant, String> {
        let token = token.ok_or("this server requires a token in hello")?;
        let data = decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| format!("invalid token: {e}"))?;
        let rooms = data
            .claims
            .rooms
            .filter(|r| !r.iter().any(|name| name == "*"));
        Ok(Grant {
            user: data.claims.sub,
            rooms: rooms.map(|r| r.into_iter().map(String::into_boxed_str).collect()),
        })
    }
}
