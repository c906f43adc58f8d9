//! Admission of TCP connections, before any session exists. A connection is *pending* from the moment it
//! is accepted until it is bound to a session (a valid `hello`) or closed: during the TLS and HTTP
//! handshakes, while it fetches files, and as an upgraded WebSocket that has not said hello. Pending
//! connections are cheap to open and cost the server buffers, so they are limited in number, overall and
//! per client address, and each must finish its handshake (first HTTP request headers) in time. After that
//! hyper's header-read timeout bounds each later request on the connection, and the hello timeout bounds
//! an upgraded socket.

use std::collections::HashMap;
use std::future::Ready;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tower_http::add_extension::AddExtension;

use crate::config::{ForwardedHeader, ProxyNet};
use crate::hub::ip_key;
use crate::metrics::Metrics;

/// Counts of pending connections, overall and per address.
pub struct Admission {
    max_pending: usize,
    /// 0: no per-address limit.
    max_pending_per_ip: usize,
    handshake_timeout: Duration,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    metrics: Arc<Metrics>,
    /// Reverse proxies whose forwarding headers name the client (`--trusted-proxy`).
    trusted_proxies: Vec<ProxyNet>,
    /// The one header those proxies write (`--forwarded-header`).
    forwarded_header: ForwardedHeader,
}

/// One pending connection's place under the limits; freed once, by [`PendingSlot::release`] or on drop.
pub struct PendingSlot {
    admission: Arc<Admission>,
    ip: IpAddr,
    released: AtomicBool,
    /// Set when the first HTTP request arrived: the handshake deadline no longer applies.
    handshake_done: AtomicBool,
}

impl Admission {
    pub fn new(
        max_pending: usize,
        max_pending_per_ip: usize,
        handshake_timeout: Duration,
        trusted_proxies: &[String],
        forwarded_header: ForwardedHeader,
        metrics: Arc<Metrics>,
    ) -> Arc<Admission> {
        Arc::new(Admission {
            max_pending,
            max_pending_per_ip,
            handshake_timeout,
            per_ip: Mutex::new(HashMap::new()),
            metrics,
            trusted_proxies: trusted_proxies
                .iter()
                .filter_map(|p| ProxyNet::parse(p))
                .collect(),
            forwarded_header,
        })
    }

    fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(ip))
    }

    /// The client's address: the TCP peer, or for a connection from a trusted proxy the rightmost entry of
    /// the `--forwarded-header` that is not itself a trusted proxy. Each proxy appends the address it
    /// received from, so everything left of the first untrusted entry could have been written by the
    /// client and is ignored; if that entry is not an address (`unknown`, an obfuscated name) the client is
    /// unknown and the proxy's own address counts, rather than a client-written entry further left.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.is_trusted_proxy(peer) {
            return peer;
        }
        let chain = forwarded_chain(headers, self.forwarded_header);
        chain
            .into_iter()
            .rev()
            .find(|entry| entry.is_none_or(|ip| !self.is_trusted_proxy(ip)))
            .flatten()
            .unwrap_or(peer)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.per_ip
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for a new connection from `ip`, or `None` when a pending limit is reached.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Arc<PendingSlot>> {
        let ip = ip_key(ip);
        let mut per_ip = self.lock();
        let total = usize::try_from(self.metrics.pending_connections.get()).unwrap_or(0);
        if total >= self.max_pending {
            self.metrics.connection_refused("pending");
            return None;
        }
        let count = per_ip.entry(ip).or_default();
        // A proxy carries many clients' connections; its own address is not one client.
        if self.max_pending_per_ip > 0
            && *count >= self.max_pending_per_ip
            && !self.is_trusted_proxy(ip)
        {
            self.metrics.connection_refused("pending_per_ip");
            return None;
        }
        *count += 1;
        self.metrics.pending_connections.inc();
        Some(Arc::new(PendingSlot {
            admission: self.clone(),
            ip,
            released: AtomicBool::new(false),
            handshake_done: AtomicBool::new(false),
        }))
    }
}

impl PendingSlot {
    /// The connection is no longer pending (it became a session); idempotent.
    pub fn release(&self) {
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut per_ip = self.admission.lock();
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.admission.metrics.pending_connections.dec();
    }

    fn finish_handshake(&self) {
        self.handshake_done.store(true, Ordering::Release);
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.release();
    }
}

/// The acceptor in front of the HTTP server (and of TLS, which it wraps): applies the pending limits,
/// starts the handshake deadline, and hands the slot to request handlers as an extension.
#[derive(Clone)]
pub struct Admit(pub Arc<Admission>);

impl<S> Accept<TcpStream, S> for Admit {
    type Stream = Guarded<TcpStream>;
    type Service = AddExtension<S, Arc<PendingSlot>>;
    type Future = Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream.peer_addr().and_then(|peer| {
            // Refused: dropping the stream closes the connection at once, before any buffer is allocated.
            let slot = self.0.admit(peer.ip()).ok_or_else(|| {
                io::Error::new(io::ErrorKind::ConnectionRefused, "pending limit reached")
            })?;
            let deadline = Box::pin(tokio::time::sleep(self.0.handshake_timeout));
            Ok((
                Guarded {
                    inner: stream,
                    slot: slot.clone(),
                    deadline: Some(deadline),
                    expired: false,
                },
                AddExtension::new(service, slot),
            ))
        });
        std::future::ready(admitted)
    }
}

/// Middleware: a request arrived, so its connection finished the handshake.
pub async fn handshake_done(request: Request, next: Next) -> Response {
    if let Some(slot) = request.extensions().get::<Arc<PendingSlot>>() {
        slot.finish_handshake();
    }
    next.run(request).await
}

/// A TCP stream that fails its reads once the handshake deadline passes before the first request arrived
/// (hyper then closes the connection), and that holds the connection's pending slot until it closes.
pub struct Guarded<S> {
    inner: S,
    slot: Arc<PendingSlot>,
    /// Running until the first request arrived.
    deadline: Option<Pin<Box<Sleep>>>,
    expired: bool,
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(deadline) = &mut this.deadline {
            if this.slot.handshake_done.load(Ordering::Acquire) {
                this.deadline = None;
            } else if deadline.as_mut().poll(cx).is_ready() {
                this.deadline = None;
                this.expired = true;
                this.slot.admission.metrics.handshake_timeouts.inc();
            }
        }
        if this.expired {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "handshake timeout",
            )));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The entries of `header` a request passed through, oldest first, each an address or `None` for one
/// that is not (`unknown`, an obfuscated name).
fn forwarded_chain(headers: &HeaderMap, header: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let values = |name| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
    };
    match header {
        ForwardedHeader::XForwardedFor => values("x-forwarded-for")
            .map(|entry| entry.parse().ok())
            .collect(),
        ForwardedHeader::Forwarded => values("forwarded")
            .map(|element| {
                element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.eq_ignore_ascii_case("for").then_some(value)
                })
            })
            // An element without `for=` names no address, like `for=unknown`.
            .map(|value| value.and_then(parse_forwarded_node))
            .collect(),
    }
}

/// `192.0.2.1`, `"192.0.2.1:4711"`, `"[2001:db8::1]:4711"` → the address.
fn parse_forwarded_node(value: &str) -> Option<IpAddr> {
    let value = value.trim().trim_matches('"');
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    value
        .parse()
        .ok()
        .or_else(|| value.rsplit_once(':')?.0.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(trusted: &[&str]) -> Arc<Admission> {
        admission_reading(trusted, ForwardedHeader::XForwardedFor)
    }

    fn admission_reading(trusted: &[&str], header: ForwardedHeader) -> Arc<Admission> {
        let trusted: Vec<String> = trusted.iter().map(|s| s.to_string()).collect();
        Admission::new(
            10,
            1,
            Duration::from_secs(1),
            &trusted,
            header,
            Arc::new(Metrics::new()),
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let a = admission(&["10.0.0.0/8", "::1"]);
        let xff = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1")]);
        // From an untrusted peer the header is the client's own claim: ignored.
        assert_eq!(a.client_ip(ip("198.51.100.1"), &xff), ip("198.51.100.1"));
        // Through two trusted proxies: the rightmost untrusted entry, never the client-written left part.
        assert_eq!(a.client_ip(ip("10.0.0.2"), &xff), ip("203.0.113.9"));
        // A trusted proxy that forwards nothing usable: the proxy itself.
        assert_eq!(a.client_ip(ip("10.0.0.2"), &headers(&[])), ip("10.0.0.2"));
        let garbage = headers(&[("x-forwarded-for", "unknown, not-an-ip")]);
        assert_eq!(a.client_ip(ip("10.0.0.2"), &garbage), ip("10.0.0.2"));
    }

    /// A client cannot choose the address its limits count: only the configured header is read (a
    /// client-sent `Forwarded` behind an X-Forwarded-For proxy, or the reverse, is ignored), and an entry
    /// the proxy wrote that is not an address does not let a client-written one further left count.
    #[test]
    fn a_client_cannot_pick_its_address_through_the_other_header_or_an_unknown_entry() {
        let a = admission(&["10.0.0.0/8", "::1"]);
        // nginx appended the real client (203.0.113.9) to X-Forwarded-For; the client added Forwarded.
        let both = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=6.6.6.6"),
        ]);
        assert_eq!(a.client_ip(ip("10.0.0.2"), &both), ip("203.0.113.9"));
        // A proxy writing Forwarded passes a client's X-Forwarded-For through: only Forwarded counts.
        let f = admission_reading(&["10.0.0.0/8", "::1"], ForwardedHeader::Forwarded);
        let spoofed = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("forwarded", "for=\"[2001:db8::7]:4711\";proto=https"),
        ]);
        assert_eq!(f.client_ip(ip("::1"), &spoofed), ip("2001:db8::7"));
        assert_eq!(
            f.client_ip(ip("::1"), &headers(&[("x-forwarded-for", "6.6.6.6")])),
            ip("::1")
        );
        // The proxy saw an unknown client: not the address the client wrote before it.
        let unknown = headers(&[("x-forwarded-for", "6.6.6.6, unknown")]);
        assert_eq!(a.client_ip(ip("10.0.0.2"), &unknown), ip("10.0.0.2"));
        let unknown = headers(&[("forwarded", "for=6.6.6.6, for=unknown;proto=https")]);
        assert_eq!(f.client_ip(ip("10.0.0.2"), &unknown), ip("10.0.0.2"));
    }

    #[test]
    fn the_pending_limit_per_address_does_not_apply_to_a_trusted_proxy() {
        let a = admission(&["127.0.0.2"]);
        let first = a.admit(ip("127.0.0.3"));
        assert!(first.is_some());
        assert!(a.admit(ip("127.0.0.3")).is_none(), "limit 1 per address");
        let proxied: Vec<_> = (0..3).map(|_| a.admit(ip("127.0.0.2"))).collect();
        assert!(proxied.iter().all(Option::is_some));
    }
}
