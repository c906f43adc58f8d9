//! `signaling-server token`: mints a client token with the server's own secret and rules, and the invite
//! link that carries it (`<url>/#room=<room>&token=<jwt>`). The token travels in the URL fragment, which
//! browsers never send to a server, so it stays out of every access log. A login service mints the same
//! token (docs/operations.md, "Auth (JWT)").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::auth::TokenRules;

/// What `signaling-server token` is asked for.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The user the token is for (`sub`); the per-user session limit counts it.
    #[arg(long)]
    pub sub: String,

    /// A room the token allows (repeatable); without it, every room. The invite link opens the first.
    #[arg(long = "room")]
    pub rooms: Vec<String>,

    /// Display name the join screen fills in (`name` claim; the person can change it).
    #[arg(long)]
    pub name: Option<String>,

    /// How long the token is valid, e.g. 90m, 8h, 7d.
    #[arg(long, default_value = "8h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,

    /// Address people open the web UI at; the invite link starts with it.
    #[arg(
        long,
        env = "SIGNALING_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
}

/// The token and its invite link.
pub struct Invite {
    pub token: String,
    pub link: String,
}

/// Signs the token `args` describe with `secret`, valid from now for `args.ttl`, carrying the `aud` and
/// `iss` the server requires.
pub fn mint(secret: &str, rules: &TokenRules, args: &TokenArgs) -> Result<Invite, String> {
    if args.sub.trim().is_empty() {
        return Err("--sub must name the user".into());
    }
    if let Some(room) = args
        .rooms
        .iter()
        .find(|r| *r != "*" && !chat_protocol::is_valid_room_name(r))
    {
        return Err(format!(
            "--room {room:?}: room names are 1–64 letters, digits, dots, dashes or underscores"
        ));
    }
    if !(args.url.starts_with("http://") || args.url.starts_with("https://")) {
        return Err(format!(
            "--url {:?} must start with https:// or http://",
            args.url
        ));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let mut claims = json!({"sub": args.sub, "iat": now, "exp": now + args.ttl.as_secs()});
    let optional = [
        ("name", args.name.clone().map(Value::from)),
        ("aud", rules.audience.clone().map(Value::from)),
        ("iss", rules.issuer.clone().map(Value::from)),
        ("rooms", (!args.rooms.is_empty()).then(|| json!(args.rooms))),
    ];
    for (claim, value) in optional {
        if let Some(value) = value {
            claims[claim] = value;
        }
    }
    let token = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| format!("cannot sign the token: {e}"))?;
    let room = args.rooms.first().filter(|r| *r != "*");
    let fragment = match room {
        Some(room) => format!("room={room}&token={token}"),
        None => format!("token={token}"),
    };
    let link = format!("{}/#{fragment}", args.url.trim_end_matches('/'));
    Ok(Invite { token, link })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Authenticator;

    const SECRET: &str = "a-test-secret-of-at-least-32-bytes!";

    fn args(rooms: &[&str]) -> TokenArgs {
        TokenArgs {
            sub: "alice".into(),
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            name: Some("Alice".into()),
            ttl: Duration::from_secs(3600),
            url: "https://chat.example.org/".into(),
        }
    }

    #[test]
    fn a_minted_token_is_accepted_by_the_same_rules_and_allows_only_its_rooms() {
        let rules = TokenRules {
            audience: Some("p2pchat".into()),
            issuer: Some("login.example.org".into()),
            leeway_secs: 0,
        };
        let invite = mint(SECRET, &rules, &args(&["team"])).unwrap();
        assert_eq!(
            invite.link,
            format!("https://chat.example.org/#room=team&token={}", invite.token)
        );
        let grant = Authenticator::new(SECRET, &rules)
            .verify(Some(&invite.token))
            .unwrap();
        assert_eq!(grant.user, "alice");
        assert!(grant.allows_room("team") && !grant.allows_room("other"));
        // Another server's rules (no audience) refuse it.
        assert!(
            Authenticator::new(SECRET, &TokenRules::default())
                .verify(Some(&invite.token))
                .is_err()
        );
    }

    #[test]
    fn without_rooms_the_token_allows_every_room_and_the_link_names_none() {
        let invite = mint(SECRET, &TokenRules::default(), &args(&[])).unwrap();
        assert!(invite.link.ends_with(&format!("/#token={}", invite.token)));
        let grant = Authenticator::new(SECRET, &TokenRules::default())
            .verify(Some(&invite.token))
            .unwrap();
        assert!(grant.allows_room("anything"));
    }

    #[test]
    fn bad_requests_name_the_flag() {
        let rules = TokenRules::default();
        let mut bad_room = args(&["no spaces"]);
        assert!(
            mint(SECRET, &rules, &bad_room)
                .err()
                .unwrap()
                .contains("--room")
        );
        bad_room.rooms.clear();
        bad_room.url = "chat.example.org".into();
        assert!(
            mint(SECRET, &rules, &bad_room)
                .err()
                .unwrap()
                .contains("--url")
        );
        bad_room.url = "https://x".into();
        bad_room.sub = " ".into();
        assert!(
            mint(SECRET, &rules, &bad_room)
                .err()
                .unwrap()
                .contains("--sub")
        );
    }
}
