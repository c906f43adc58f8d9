//! Which web pages may open `/ws`. A browser lets any page open a WebSocket to any server and sends the
//! page's `Origin`, so without this check any site a user visits could drive their browser into a server on
//! their intranet (or a development server on their machine). Native clients send no `Origin` and are not
//! affected; they are checked by their token, as everyone is.

use std::collections::HashSet;

use crate::config::Config;

/// Origins of the desktop/mobile app's webview (Tauri 2 on Linux/macOS, and on Windows/Android).
pub const APP_ORIGINS: [&str; 3] = [
    "tauri://localhost",
    "http://tauri.localhost",
    "https://tauri.localhost",
];

pub struct AllowedOrigins {
    /// `--allowed-origin '*'`: no check.
    any: bool,
    /// Normalized origins allowed besides the server's own.
    listed: HashSet<String>,
    /// Open (development) mode: pages served from this machine (e.g. the Vite dev server) may connect.
    localhost: bool,
}

impl AllowedOrigins {
    pub fn from_config(config: &Config) -> AllowedOrigins {
        AllowedOrigins {
            any: config.allowed_origins.iter().any(|o| o == "*"),
            listed: APP_ORIGINS
                .iter()
                .copied()
                .chain(config.allowed_origins.iter().map(String::as_str))
                .filter_map(normalize)
                .collect(),
            localhost: config.auth_secret.is_none(),
        }
    }

    /// `origin` is the request's `Origin` header (absent for native clients), `host` its `Host`.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        if self.any {
            return true;
        }
        // "null" (sandboxed frames, file: pages) and anything malformed is refused.
        let Some(origin) = normalize(origin) else {
            return false;
        };
        if self.listed.contains(&origin) {
            return true;
        }
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false;
        };
        // The server's own origin: the page came from this server, under the name the browser used to reach
        // it (also behind a TLS-terminating proxy that keeps the Host header, hence any web scheme).
        let web = scheme == "http" || scheme == "https";
        if web
            && let Some(host) = host
            && strip_default_port(&host.to_ascii_lowercase(), scheme) == authority
        {
            return true;
        }
        self.localhost && web && is_loopback(host_of(authority))
    }
}

/// `scheme://host[:port]` in lower case without a default port or trailing slash; `None` for anything else
/// (paths, "null", missing scheme).
pub fn normalize(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    let authority_ok = !authority.is_empty()
        && !authority.contains(['/', '?', '#', '@', ' '])
        && !host_of(authority).is_empty();
    (scheme_ok && authority_ok)
        .then(|| format!("{scheme}://{}", strip_default_port(authority, scheme)))
}

fn strip_default_port<'a>(authority: &'a str, scheme: &str) -> &'a str {
    let default = match scheme {
        "http" | "ws" => ":80",
        "https" | "wss" => ":443",
        _ => return authority,
    };
    authority.strip_suffix(default).unwrap_or(authority)
}

/// The host part of `host[:port]` or `[v6][:port]`.
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(extra: &[&str], open: bool) -> AllowedOrigins {
        let mut args = vec![];
        for origin in extra {
            args.extend(["--allowed-origin", origin]);
        }
        if !open {
            args.extend(["--auth-secret", "a-unit-test-secret-of-32-bytes!!"]);
        }
        AllowedOrigins::from_config(&Config::from_args(args).unwrap())
    }

    #[test]
    fn normalizes_case_default_ports_and_trailing_slashes() {
        assert_eq!(
            normalize("HTTPS://Chat.Example.org:443/").as_deref(),
            Some("https://chat.example.org")
        );
        assert_eq!(
            normalize("http://[::1]:5173").as_deref(),
            Some("http://[::1]:5173")
        );
        for bad in ["null", "example.org", "https://x/path", "https://", "://x"] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }

    #[test]
    fn own_app_listed_and_native_clients_pass_others_do_not() {
        let closed = allowed(&["https://chat.example.org"], false);
        let host = Some("signal.example.org");
        assert!(closed.allows(None, host), "native client");
        assert!(closed.allows(Some("https://signal.example.org"), host));
        assert!(closed.allows(Some("http://signal.example.org:80"), host));
        assert!(closed.allows(Some("tauri://localhost"), host));
        assert!(closed.allows(Some("https://tauri.localhost"), host));
        assert!(closed.allows(Some("https://chat.example.org"), host));
        assert!(!closed.allows(Some("https://evil.example"), host));
        assert!(!closed.allows(Some("null"), host));
        assert!(!closed.allows(Some("http://localhost:5173"), host));
        assert!(!closed.allows(Some("https://signal.example.org:8443"), host));

        let open = allowed(&[], true);
        assert!(open.allows(Some("http://localhost:5173"), host));
        assert!(open.allows(Some("http://127.0.0.1:3000"), host));
        assert!(open.allows(Some("http://[::1]:3000"), host));
        assert!(!open.allows(Some("https://evil.example"), host));

        assert!(allowed(&["*"], false).allows(Some("https://evil.example"), host));
    }
}
