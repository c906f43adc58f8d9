//! Which web pages may open `/ws`. A browser lets any page open a WebSocket to any server and sends the
//! page's `Origin`, so without this check any site a user visits could drive their browser into a server on
//! their intranet (or a development server on their machine). Native clients send no `Origin` and are not
//! affected; they are checked by their token, as everyone is.

use std::collections::HashSet;

use crate::config::Config;
use crate::config::origin::{host_of, normalize, strip_default_port};

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
