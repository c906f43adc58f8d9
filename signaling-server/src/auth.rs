//! Client authentication: HS256 JWTs carried in `hello.token` (docs/protocol.md, Session 5). jsonwebtoken
//! checks the signature, the algorithm and the time claims (`exp`, `nbf`) and, when configured, `aud` and
//! `iss`; this module only turns the claims into a [`Grant`].

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::{Deserialize, Serialize};

/// Claims the server reads from a client token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Room names the user may join; `"*"`, `["*"]` or absent means any room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rooms: Option<RoomsClaim>,
}

/// The `rooms` claim: a list of room names, or one name. `*` (alone or in the list) allows every room, as
/// docs/protocol.md describes it ("Session", item 5).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RoomsClaim {
    One(String),
    List(Vec<String>),
}

/// What a verified token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user: String,
    /// `None`: every room.
    pub rooms: Option<Box<[Box<str>]>>,
    /// When the token stops being valid (Unix seconds, leeway included); `None` on an open server. The
    /// connection that presented it is closed then.
    pub expires_at: Option<u64>,
}

impl Grant {
    /// The grant of an open (development-mode) server.
    pub fn open() -> Grant {
        Grant {
            user: String::new(),
            rooms: None,
            expires_at: None,
        }
    }

    pub fn allows_room(&self, room: &str) -> bool {
        self.rooms
            .as_ref()
            .is_none_or(|rooms| rooms.iter().any(|r| &**r == room))
    }
}

/// How tokens are checked besides the secret (flags `--jwt-audience`, `--jwt-issuer`, `--jwt-leeway-secs`).
#[derive(Debug, Clone, Default)]
pub struct TokenRules {
    pub audience: Option<String>,
    pub issuer: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

/// Verifies tokens against the server's secret.
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
}

impl Authenticator {
    pub fn new(secret: &str, rules: &TokenRules) -> Authenticator {
        let mut validation = Validation::new(Algorithm::HS256);
        let mut required = vec!["exp", "sub"];
        validation.validate_nbf = true;
        validation.leeway = rules.leeway_secs;
        // A token naming an audience is refused unless the server is configured with that audience.
        if let Some(audience) = &rules.audience {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        if let Some(issuer) = &rules.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        Authenticator {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// Checks signature, algorithm, `exp`, `nbf`, and the configured `aud`/`iss`; the error text is safe to
    /// show the client.
    pub fn verify(&self, token: Option<&str>) -> Result<Grant, String> {
        let token = token.ok_or("this server requires a token in hello")?;
        let data = decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| format!("invalid token: {e}"))?;
        let names = match data.claims.rooms {
            None => None,
            Some(RoomsClaim::One(name)) => Some(vec![name]),
            Some(RoomsClaim::List(names)) => Some(names),
        };
        let rooms = names.filter(|names| !names.iter().any(|name| name == "*"));
        Ok(Grant {
            user: data.claims.sub,
            rooms: rooms.map(|r| r.into_iter().map(String::into_boxed_str).collect()),
            expires_at: Some(data.claims.exp.saturating_add(self.validation.leeway)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "a-unit-test-secret-of-32-bytes!!";

    fn sign(claims: serde_json::Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn far() -> u64 {
        jsonwebtoken::get_current_timestamp() + 600
    }

    #[test]
    fn rooms_claim_accepts_a_star_string_a_star_list_a_name_and_a_list() {
        let auth = Authenticator::new(SECRET, &TokenRules::default());
        for rooms in [json!("*"), json!(["*"]), json!(null)] {
            let mut claims = json!({"sub": "u", "exp": far()});
            if !rooms.is_null() {
                claims["rooms"] = rooms;
            }
            let grant = auth.verify(Some(&sign(claims))).unwrap();
            assert!(grant.rooms.is_none() && grant.allows_room("any"));
        }
        let one = auth
            .verify(Some(&sign(
                json!({"sub": "u", "exp": far(), "rooms": "team-1"}),
            )))
            .unwrap();
        assert!(one.allows_room("team-1") && !one.allows_room("team-2"));
        let list = auth
            .verify(Some(&sign(
                json!({"sub": "u", "exp": far(), "rooms": ["a", "b"]}),
            )))
            .unwrap();
        assert!(list.allows_room("b") && !list.allows_room("c"));
    }

    #[test]
    fn expiry_includes_the_leeway() {
        let rules = TokenRules {
            leeway_secs: 7,
            ..TokenRules::default()
        };
        let exp = far();
        let grant = Authenticator::new(SECRET, &rules)
            .verify(Some(&sign(json!({"sub": "u", "exp": exp}))))
            .unwrap();
        assert_eq!(grant.expires_at, Some(exp + 7));
    }
}
