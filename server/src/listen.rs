//! Accepting connections: TCP or TLS on the same port, HTTP/1.1 and HTTP/2
//! with WebSocket upgrades, and a bounded graceful stop.
//!
//! Every connection runs on a [`Guarded`] socket that holds it to three
//! clocks until it is upgraded to a WebSocket (whose session keeps its own):
//! from accept to its first request, `--handshake-timeout` (the TLS
//! handshake, hyper's protocol detection and the request head all count, so
//! a socket that sends nothing, half a preface or half a head is closed);
//! between requests, `--idle-timeout`; and a write the client does not read,
//! `--write-timeout`. Open sockets are capped (`--max-open-connections`):
//! beyond the cap a new one is closed at once, the others served as before.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;

use crate::metrics::SharedMetrics;

/// A certificate and key that cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsError(String);

/// Reads a PEM certificate chain and private key into a TLS acceptor.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            TlsError(format!(
                "cannot read certificates from {}: {e}",
                cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(TlsError(format!("no certificate in {}", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        TlsError(format!(
            "cannot read a private key from {}: {e}",
            key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| TlsError(format!("certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// How long a connection may take at each stage, and how many may be open.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// From accept to the first request (TLS handshake and request head).
    pub handshake: Duration,
    /// With no request in flight and no byte either way, between requests.
    pub idle: Duration,
    /// A write the client does not take.
    pub write: Duration,
    /// Sockets open at once, upgraded ones included.
    pub max_open: usize,
    /// From the stop signal to giving up on requests still in flight.
    pub shutdown: Duration,
}

/// A failed accept (out of file descriptors, most likely) is retried after
/// this pause, so a full descriptor table does not spin the loop.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` until `stop` fires, then lets the HTTP
/// requests in flight finish for at most `limits.shutdown` (upgraded
/// WebSockets are the sessions' business). Returns when it stopped accepting.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    metrics: SharedMetrics,
    stop: CancellationToken,
) -> Instant {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.handshake);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
        };
        let Some(slot) = Slot::take(&open, limits.max_open, &metrics) else {
            refuse(tcp, tls.is_none(), &metrics);
            continue;
        };
        // Quotes are small frames that must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let stage = Arc::new(Stage::default());
        let io = Guarded::new(tcp, limits, stage.clone(), slot);
        let service = Watched {
            inner: TowerToHyperService::new(router.clone()),
            stage,
            peer,
        };
        let (builder, tls) = (builder.clone(), tls.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let io = match tls {
                None => Either::Left(io),
                Some(acceptor) => match acceptor.accept(io).await {
                    Ok(stream) => Either::Right(stream),
                    Err(e) => return tracing::debug!(error = %e, "TLS handshake failed"),
                },
            };
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(io), service)
                .into_owned();
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    let stopped = Instant::now();
    drop(listener);
    if tokio::time::timeout(limits.shutdown, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP requests still in flight at the shutdown timeout; abandoned");
    }
    stopped
}

/// Closes a socket beyond the cap at once, with a 503 if it speaks plain
/// HTTP (one non-blocking write; whatever the client sent is not read).
fn refuse(tcp: TcpStream, plain: bool, metrics: &SharedMetrics) {
    metrics.http_closed.with_label_values(&["limit"]).inc();
    if plain {
        let body = r#"{"error":"this server is at its connection limit; try again later"}"#;
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = tcp.try_write(response.as_bytes());
    }
}

/// One of the `--max-open-connections` places; freed when the socket closes.
struct Slot {
    open: Arc<AtomicUsize>,
    metrics: SharedMetrics,
}

impl Slot {
    fn take(open: &Arc<AtomicUsize>, max: usize, metrics: &SharedMetrics) -> Option<Slot> {
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()?;
        metrics.http_connections.inc();
        Some(Slot {
            open: open.clone(),
            metrics: metrics.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.metrics.http_connections.dec();
    }
}

/// Where a connection is, shared by its socket and its service.
#[derive(Debug, Default)]
struct Stage {
    /// The first request has been seen.
    started: AtomicBool,
    /// Requests whose response head is not yet out.
    in_flight: AtomicUsize,
    /// The connection was upgraded: its session keeps its own clocks.
    upgraded: AtomicBool,
}

/// A socket held to the connection's clocks (see the module docs). Reads
/// fail once the handshake or idle deadline has passed, writes once one has
/// waited `limits.write` for the client; after an upgrade it is transparent.
struct Guarded<IO> {
    io: IO,
    limits: Limits,
    stage: Arc<Stage>,
    _slot: Slot,
    accepted: Instant,
    /// The last byte read or written.
    active: Instant,
    /// Since when a write has waited for the client.
    blocked: Option<Instant>,
    /// Wakes the connection at (or before) its next deadline.
    timer: Pin<Box<Sleep>>,
}

/// Which clock ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expired {
    Handshake,
    Idle,
    Write,
}

impl Expired {
    fn label(self) -> &'static str {
        match self {
            Expired::Handshake => "handshake_timeout",
            Expired::Idle => "idle_timeout",
            Expired::Write => "write_timeout",
        }
    }
}

impl<IO> Guarded<IO> {
    fn new(io: IO, limits: Limits, stage: Arc<Stage>, slot: Slot) -> Guarded<IO> {
        let now = Instant::now();
        Guarded {
            io,
            limits,
            stage,
            _slot: slot,
            accepted: now,
            active: now,
            blocked: None,
            timer: Box::pin(tokio::time::sleep_until(now + limits.handshake)),
        }
    }

    fn transparent(&self) -> bool {
        self.stage.upgraded.load(Ordering::Acquire)
    }

    /// The next deadline and the clock it belongs to, if any runs.
    fn deadline(&self) -> Option<(Instant, Expired)> {
        let read = if !self.stage.started.load(Ordering::Acquire) {
            Some((self.accepted + self.limits.handshake, Expired::Handshake))
        } else if self.stage.in_flight.load(Ordering::Acquire) == 0 {
            Some((self.active + self.limits.idle, Expired::Idle))
        } else {
            None
        };
        let write = self
            .blocked
            .map(|since| (since + self.limits.write, Expired::Write));
        match (read, write) {
            (Some(r), Some(w)) => Some(if w.0 < r.0 { w } else { r }),
            (r, w) => r.or(w),
        }
    }

    /// An error once a deadline has passed; otherwise arms the timer so the
    /// task wakes when it does.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let Some((at, clock)) = self.deadline() else {
            return Ok(());
        };
        if Instant::now() >= at {
            self._slot
                .metrics
                .http_closed
                .with_label_values(&[clock.label()])
                .inc();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                clock.label().replace('_', " "),
            ));
        }
        // The timer may be later than the deadline (a write just blocked) or
        // earlier (bytes moved since): either way point it at the deadline.
        if self.timer.deadline() != at {
            self.timer.as_mut().reset(at);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        Ok(())
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.transparent() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.active = Instant::now();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                this.check(cx)?;
                Poll::Pending
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> Guarded<IO> {
    /// Runs one write-side poll: progress clears the write clock, waiting
    /// starts it.
    fn write_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut IO>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if self.transparent() {
            return op(Pin::new(&mut self.io), cx);
        }
        match op(Pin::new(&mut self.io), cx) {
            Poll::Ready(result) => {
                self.blocked = None;
                self.active = Instant::now();
                Poll::Ready(result)
            }
            Poll::Pending => {
                self.blocked.get_or_insert_with(Instant::now);
                self.check(cx)?;
                Poll::Pending
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_with(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_with(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().write_with(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().write_with(cx, |io, cx| io.poll_shutdown(cx))
    }
}

/// The router, telling the connection's [`Stage`] when requests start and
/// when one became a WebSocket.
#[derive(Clone)]
struct Watched<S> {
    inner: S,
    stage: Arc<Stage>,
    /// The connection's peer, for handlers that ask (`ConnectInfo`).
    peer: std::net::SocketAddr,
}

impl<S, B, R> hyper::service::Service<Request<B>> for Watched<S>
where
    S: hyper::service::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn call(&self, mut request: Request<B>) -> Self::Future {
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(self.peer));
        self.stage.started.store(true, Ordering::Release);
        let in_flight = InFlight::new(self.stage.clone());
        let connect = request.method() == Method::CONNECT;
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            if let Ok(r) = &response {
                let status = r.status();
                if status == StatusCode::SWITCHING_PROTOCOLS || (connect && status.is_success()) {
                    in_flight.0.upgraded.store(true, Ordering::Release);
                }
            }
            response
        })
    }
}

/// A request whose response head is not out yet (dropped with its future,
/// also when the client gives up on it).
struct InFlight(Arc<Stage>);

impl InFlight {
    fn new(stage: Arc<Stage>) -> InFlight {
        stage.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(stage)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
