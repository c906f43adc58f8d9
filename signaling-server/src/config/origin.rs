//! The form `--allowed-origin` values and a request's `Origin` header are compared in.

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

pub(crate) fn strip_default_port<'a>(authority: &'a str, scheme: &str) -> &'a str {
    let default = match scheme {
        "http" | "ws" => ":80",
        "https" | "wss" => ":443",
        _ => return authority,
    };
    authority.strip_suffix(default).unwrap_or(authority)
}

/// The host part of `host[:port]` or `[v6][:port]`.
pub(crate) fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
