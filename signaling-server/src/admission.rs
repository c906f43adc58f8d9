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
use axum::middleware::Next;
use axum::response::Response;
use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tower_http::add_extension::AddExtension;

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
        metrics: Arc<Metrics>,
    ) -> Arc<Admission> {
        Arc::new(Admission {
            max_pending,
            max_pending_per_ip,
            handshake_timeout,
            per_ip: Mutex::new(HashMap::new()),
            metrics,
        })
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
        if self.max_pending_per_ip > 0 && *count >= self.max_pending_per_ip {
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
