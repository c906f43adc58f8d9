//! Sending one push: Web Push (RFC 8030) with the payload encrypted per RFC 8291 (`aes128gcm`) and signed
//! per RFC 8292 (VAPID), or a JSON request to the push gateway for FCM/APNs. Endpoints are checked against
//! SSRF when registered and again on every send: `https` only, and no host that is or resolves to a
//! non-public address (the HTTP client's resolver refuses them, so a DNS answer that changed since the
//! registration is caught where the connection is made); no redirects; the response body is never read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chat_protocol::{PUSH_RING_TTL_MS, PushKeys, PushPayload, PushSubscription};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{StatusCode, Url};
use web_push_native::WebPushBuilder;

/// Longest endpoint URL accepted.
pub const MAX_ENDPOINT_CHARS: usize = 1024;
/// Longest gateway token accepted.
pub const MAX_GATEWAY_TOKEN_CHARS: usize = 4096;
/// How long a VAPID token is valid (RFC 8292 allows up to 24 h).
const VAPID_VALIDITY: Duration = Duration::from_secs(12 * 3600);
/// Whole request, and connecting, to a push service.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The server's VAPID key pair.
pub struct Vapid {
    encoding: EncodingKey,
    /// base64url of the uncompressed public point: `welcome.push.vapid_key` and the `k` of the header.
    pub public: String,
    subject: String,
}

impl Vapid {
    /// A new private key, as the store keeps it (base64url of the 32-byte scalar).
    pub fn generate() -> String {
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        URL_SAFE_NO_PAD.encode(secret.to_bytes())
    }

    /// The key pair of a stored private key.
    pub fn from_stored(stored: &str, subject: &str) -> Result<Vapid, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(stored.trim())
            .map_err(|e| format!("stored VAPID key: {e}"))?;
        let secret =
            p256::SecretKey::from_slice(&bytes).map_err(|e| format!("stored VAPID key: {e}"))?;
        let der = secret
            .to_pkcs8_der()
            .map_err(|e| format!("stored VAPID key: {e}"))?;
        let public = secret.public_key().to_encoded_point(false);
        Ok(Vapid {
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            public: URL_SAFE_NO_PAD.encode(public.as_bytes()),
            subject: subject.to_owned(),
        })
    }

    /// `Authorization: vapid t=<JWT>, k=<key>` for a push to `endpoint` (RFC 8292: `aud` its origin).
    fn authorization(&self, endpoint: &Url) -> Result<String, String> {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            aud: String,
            exp: u64,
            sub: &'a str,
        }
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(VAPID_VALIDITY)
            .as_secs();
        let claims = Claims {
            aud: endpoint.origin().ascii_serialization(),
            exp,
            sub: &self.subject,
        };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.encoding)
            .map_err(|e| format!("VAPID signature: {e}"))?;
        Ok(format!("vapid t={jwt}, k={}", self.public))
    }
}

/// What the push service said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (2xx).
    Sent,
    /// 404/410: the subscription is gone; the registration is removed.
    Gone,
    /// Any other answer, a timeout or a network error.
    Failed,
    /// The endpoint is no longer allowed (its host now resolves to a private address).
    Refused,
}

/// The checks of a subscription that need no network: `Err(bad_request text)` when malformed.
pub fn check_format(subscription: &PushSubscription) -> Result<(), String> {
    match subscription {
        PushSubscription::Webpush { endpoint, keys } => {
            decode_keys(keys)?;
            parse_endpoint(endpoint).map(|_| ())
        }
        PushSubscription::Gateway { token, .. } => {
            if token.is_empty() || token.len() > MAX_GATEWAY_TOKEN_CHARS {
                return Err(format!(
                    "gateway token must be 1-{MAX_GATEWAY_TOKEN_CHARS} characters"
                ));
            }
            Ok(())
        }
    }
}

/// Checks a subscription before it is stored: `Err(bad_request text)` when malformed, `Ok(Err(push_refused
/// text))` when well-formed but not allowed.
pub async fn check_subscription(
    subscription: &PushSubscription,
    allow_private: bool,
    has_gateway: bool,
) -> Result<Result<(), String>, String> {
    match subscription {
        PushSubscription::Webpush { endpoint, keys } => {
            decode_keys(keys)?;
            let url = parse_endpoint(endpoint)?;
            if let Err(refusal) = endpoint_allowed(&url, allow_private) {
                return Ok(Err(refusal));
            }
            if allow_private {
                return Ok(Ok(()));
            }
            let Some(host) = url.host_str() else {
                return Err("push endpoint has no host".into());
            };
            if host.parse::<IpAddr>().is_ok() || host.starts_with('[') {
                return Ok(Ok(()));
            }
            let port = url.port_or_known_default().unwrap_or(443);
            Ok(resolve_public(host, port, false)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()))
        }
        PushSubscription::Gateway { token, .. } => {
            if token.is_empty() || token.len() > MAX_GATEWAY_TOKEN_CHARS {
                return Err(format!(
                    "gateway token must be 1-{MAX_GATEWAY_TOKEN_CHARS} characters"
                ));
            }
            if !has_gateway {
                return Ok(Err(
                    "this server has no push gateway (FCM/APNs); use a Web Push subscription"
                        .into(),
                ));
            }
            Ok(Ok(()))
        }
    }
}

fn parse_endpoint(endpoint: &str) -> Result<Url, String> {
    if endpoint.len() > MAX_ENDPOINT_CHARS {
        return Err(format!(
            "push endpoint is longer than {MAX_ENDPOINT_CHARS} characters"
        ));
    }
    let url = Url::parse(endpoint).map_err(|e| format!("push endpoint is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err("push endpoint must be an https:// URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("push endpoint must not carry credentials".into());
    }
    Ok(url)
}

/// `https`, and no literal non-public address, unless private endpoints are allowed.
fn endpoint_allowed(url: &Url, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    if url.scheme() != "https" {
        return Err("push endpoint must use https".into());
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        _ => None,
    };
    if let Some(ip) = literal
        && !is_public(ip)
    {
        return Err(format!(
            "push endpoint address {ip} is not public (loopback, private, link-local, ...)"
        ));
    }
    Ok(())
}

/// The P-256 public key and auth secret of a subscription.
fn decode_keys(keys: &PushKeys) -> Result<(p256::PublicKey, [u8; 16]), String> {
    let p256dh = URL_SAFE_NO_PAD
        .decode(keys.p256dh.trim_end_matches('='))
        .map_err(|_| "keys.p256dh is not base64url".to_owned())?;
    let public = p256::PublicKey::from_sec1_bytes(&p256dh)
        .ok()
        .filter(|_| p256dh.len() == 65)
        .ok_or("keys.p256dh is not an uncompressed P-256 point")?;
    let auth = URL_SAFE_NO_PAD
        .decode(keys.auth.trim_end_matches('='))
        .map_err(|_| "keys.auth is not base64url".to_owned())?;
    let auth: [u8; 16] = auth
        .try_into()
        .map_err(|_| "keys.auth must be 16 bytes".to_owned())?;
    Ok((public, auth))
}

/// Whether `ip` is an address on the public internet: not loopback, private (RFC 1918, unique local),
/// link-local, multicast, unspecified, broadcast, carrier-grade NAT, documentation, benchmarking or
/// reserved; IPv4 inside IPv6 (mapped, NAT64, 6to4) is judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    if s[0] == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || s[0] == 0x0100 && s[1..4] == [0, 0, 0])
}

/// Resolves `host`; every address must be public unless `allow_private` (a name that also points inside
/// is refused whole).
async fn resolve_public(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| format!("push endpoint host {host} did not resolve in time"))?
            .map_err(|e| format!("push endpoint host {host} does not resolve: {e}"))?
            .collect();
    if addrs.is_empty() {
        return Err(format!("push endpoint host {host} has no address").into());
    }
    if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(format!(
            "push endpoint host {host} resolves to {} which is not public",
            bad.ip()
        )
        .into());
    }
    Ok(addrs)
}

/// The HTTP client's resolver: refuses names that resolve to non-public addresses.
struct PublicResolver {
    allow_private: bool,
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs = resolve_public(name.as_str(), 0, allow_private).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Sends pushes.
pub struct Sender {
    /// To push services: public HTTPS endpoints only.
    client: reqwest::Client,
    gateway_client: reqwest::Client,
    vapid: Vapid,
    gateway: Option<Url>,
    allow_private: bool,
}

impl Sender {
    pub fn new(vapid: Vapid, gateway: Option<Url>, allow_private: bool) -> Result<Sender, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .no_proxy()
            .https_only(!allow_private)
            .dns_resolver(Arc::new(PublicResolver { allow_private }))
            .user_agent(concat!("p2pchat-signaling/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("push HTTP client: {e}"))?;
        // The gateway is the operator's, typically on a private network: trusted, not SSRF-checked.
        let gateway_client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("p2pchat-signaling/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("push gateway HTTP client: {e}"))?;
        Ok(Sender {
            client,
            gateway_client,
            vapid,
            gateway,
            allow_private,
        })
    }

    pub fn vapid_key(&self) -> &str {
        &self.vapid.public
    }

    pub fn has_gateway(&self) -> bool {
        self.gateway.is_some()
    }

    /// Sends `payload` to `subscription` and says how the push service answered.
    pub async fn send(&self, subscription: &PushSubscription, payload: &PushPayload) -> Outcome {
        let body = serde_json::to_vec(payload).unwrap_or_default();
        let (client, request) = match subscription {
            PushSubscription::Webpush { endpoint, keys } => {
                match self.webpush_request(endpoint, keys, body) {
                    Ok(request) => (&self.client, request),
                    Err(outcome) => return outcome,
                }
            }
            PushSubscription::Gateway { platform, token } => {
                let Some(gateway) = &self.gateway else {
                    return Outcome::Refused;
                };
                let body = serde_json::json!({
                    "platform": platform.as_str(),
                    "token": token,
                    "payload": payload,
                });
                match self
                    .gateway_client
                    .post(gateway.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_string())
                    .build()
                {
                    Ok(request) => (&self.gateway_client, request),
                    Err(_) => return Outcome::Failed,
                }
            }
        };
        match client.execute(request).await {
            // The body is never read: dropping the response closes it.
            Ok(response) => match response.status() {
                s if s.is_success() => Outcome::Sent,
                StatusCode::NOT_FOUND | StatusCode::GONE => Outcome::Gone,
                status => {
                    tracing::info!(%status, "push service refused a push");
                    Outcome::Failed
                }
            },
            Err(e) => {
                let mut source = std::error::Error::source(&e);
                let mut refused = false;
                while let Some(cause) = source {
                    refused |= cause.to_string().contains("is not public");
                    source = cause.source();
                }
                if refused {
                    tracing::warn!("push endpoint now resolves to a private address; not sent");
                    return Outcome::Refused;
                }
                tracing::info!(error = %e, "push failed");
                Outcome::Failed
            }
        }
    }

    /// The encrypted, signed Web Push request.
    fn webpush_request(
        &self,
        endpoint: &str,
        keys: &PushKeys,
        body: Vec<u8>,
    ) -> Result<reqwest::Request, Outcome> {
        let url = parse_endpoint(endpoint).map_err(|_| Outcome::Refused)?;
        endpoint_allowed(&url, self.allow_private).map_err(|_| Outcome::Refused)?;
        let (public, auth) = decode_keys(keys).map_err(|_| Outcome::Refused)?;
        let uri = endpoint
            .parse::<http::Uri>()
            .map_err(|_| Outcome::Refused)?;
        let auth = web_push_native::Auth::from(auth);
        let request = WebPushBuilder::new(uri, public, auth)
            .with_valid_duration(Duration::from_millis(PUSH_RING_TTL_MS))
            .build(body)
            .map_err(|e| {
                tracing::warn!(error = %e, "push encryption failed");
                Outcome::Failed
            })?;
        let authorization = self.vapid.authorization(&url).map_err(|e| {
            tracing::warn!(error = %e, "VAPID signature failed");
            Outcome::Failed
        })?;
        let mut request = reqwest::Request::try_from(request).map_err(|_| Outcome::Failed)?;
        let headers = request.headers_mut();
        headers.insert("Urgency", HeaderValue::from_static("high"));
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&authorization).map_err(|_| Outcome::Failed)?,
        );
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "64:ff9b::808:808"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn endpoints_must_be_https_and_public_unless_allowed() {
        let url = |s: &str| parse_endpoint(s).unwrap();
        assert!(endpoint_allowed(&url("https://push.example.org/x"), false).is_ok());
        assert!(endpoint_allowed(&url("http://push.example.org/x"), false).is_err());
        assert!(endpoint_allowed(&url("https://127.0.0.1:8443/x"), false).is_err());
        assert!(endpoint_allowed(&url("https://[::1]/x"), false).is_err());
        assert!(endpoint_allowed(&url("https://[fd00::2]/x"), false).is_err());
        assert!(endpoint_allowed(&url("http://127.0.0.1:8443/x"), true).is_ok());
        assert!(parse_endpoint("ftp://push.example.org/x").is_err());
        assert!(parse_endpoint("not a url").is_err());
        assert!(parse_endpoint("https://user:pw@push.example.org/").is_err());
        assert!(parse_endpoint(&format!("https://x.org/{}", "a".repeat(1100))).is_err());
    }

    /// The check at send time, for a name that resolved to a public address when it was registered and
    /// points inside now: the connection is refused by the client's own resolver.
    #[tokio::test]
    async fn a_push_to_a_name_that_resolves_inside_is_not_sent() {
        let vapid = Vapid::from_stored(&Vapid::generate(), "mailto:ops@example.org").unwrap();
        let sender = Sender::new(vapid, None, false).unwrap();
        let ua = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let subscription = PushSubscription::Webpush {
            endpoint: "https://localhost:9/push".into(),
            keys: PushKeys {
                p256dh: URL_SAFE_NO_PAD.encode(ua.public_key().to_encoded_point(false).as_bytes()),
                auth: URL_SAFE_NO_PAD.encode([1u8; 16]),
            },
        };
        let payload = PushPayload {
            v: 1,
            kind: chat_protocol::PushKind::Call,
            room: "r".into(),
            call: "c".into(),
            caller: "A".into(),
            caller_peer: "p".into(),
            media: vec![],
            expires_at: 0,
            decline: String::new(),
        };
        assert_eq!(sender.send(&subscription, &payload).await, Outcome::Refused);
        let resolved = PublicResolver {
            allow_private: false,
        }
        .resolve("localhost".parse().unwrap())
        .await;
        assert!(resolved.is_err());
        let allowed = PublicResolver {
            allow_private: true,
        }
        .resolve("localhost".parse().unwrap())
        .await;
        assert!(allowed.is_ok());
    }

    #[test]
    fn vapid_tokens_are_es256_for_the_endpoint_origin() {
        let vapid = Vapid::from_stored(&Vapid::generate(), "mailto:ops@example.org").unwrap();
        let header = vapid
            .authorization(&Url::parse("https://push.example.org:8443/a/b").unwrap())
            .unwrap();
        let (t, k) = header
            .strip_prefix("vapid t=")
            .unwrap()
            .split_once(", k=")
            .unwrap();
        assert_eq!(k, vapid.public);
        let point = URL_SAFE_NO_PAD.decode(k).unwrap();
        assert_eq!(point.len(), 65);
        let key = jsonwebtoken::DecodingKey::from_ec_components(
            &URL_SAFE_NO_PAD.encode(&point[1..33]),
            &URL_SAFE_NO_PAD.encode(&point[33..]),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://push.example.org:8443"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(t, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["sub"], "mailto:ops@example.org");
    }
}
