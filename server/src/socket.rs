//! The server's end of a client's WebSocket: the handshake, and frames
//! written without a copy per client.
//!
//! tungstenite reads what the client sends: it parses and checks the frames,
//! holds them to the size limits and answers pings and a close. Everything
//! the server sends is framed here instead, and written with one vectored
//! write of the frame header, the message's own head and a body it only
//! borrows. So a batch's shared encoding goes from the hub's buffer to the
//! kernel with no copy per client (tungstenite would copy every message into
//! its write buffer). Only what a full socket does not take at once is
//! copied, to be written later ([`Socket::poll_flush`]).

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Sink, Stream};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

/// A WebSocket handshake a client asked for (RFC 6455), not answered yet.
/// The server does not offer WebSockets over HTTP/2 (RFC 8441): browsers
/// then open them over HTTP/1.1.
pub struct Upgrade {
    /// `Sec-WebSocket-Key`.
    key: HeaderValue,
    /// The subprotocols the client offers.
    offered: Vec<String>,
    on_upgrade: OnUpgrade,
}

/// Why a request is not a WebSocket upgrade, and its status.
#[derive(Debug)]
pub struct NotAnUpgrade(pub StatusCode, pub &'static str);

impl IntoResponse for NotAnUpgrade {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = NotAnUpgrade;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Upgrade, NotAnUpgrade> {
        let bad = |why| NotAnUpgrade(StatusCode::BAD_REQUEST, why);
        if parts.version > Version::HTTP_11 {
            return Err(bad("WebSocket upgrades are HTTP/1.1 requests"));
        }
        if parts.method != Method::GET {
            return Err(NotAnUpgrade(
                StatusCode::METHOD_NOT_ALLOWED,
                "a WebSocket upgrade is a GET",
            ));
        }
        if !has_token(&parts.headers, header::CONNECTION, "upgrade")
            || !has_token(&parts.headers, header::UPGRADE, "websocket")
        {
            return Err(bad(
                "this is a WebSocket endpoint: the request needs `Connection: upgrade` and `Upgrade: websocket`",
            ));
        }
        let key = parts.headers.get(header::SEC_WEBSOCKET_KEY);
        let key = key
            .ok_or(bad("the upgrade has no Sec-WebSocket-Key"))?
            .clone();
        let version = parts.headers.get(header::SEC_WEBSOCKET_VERSION);
        if version.is_none_or(|v| v != "13") {
            return Err(bad("Sec-WebSocket-Version must be 13"));
        }
        let on_upgrade = parts.extensions.remove::<OnUpgrade>().ok_or(NotAnUpgrade(
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded",
        ))?;
        let offered = parts
            .headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        Ok(Upgrade {
            key,
            offered,
            on_upgrade,
        })
    }
}

impl Upgrade {
    /// The first of `ours` (our order of preference) the client offers.
    pub fn choose(&self, ours: &[&'static str]) -> Option<&'static str> {
        ours.iter()
            .copied()
            .find(|p| self.offered.iter().any(|o| o == p))
    }

    /// Answers the handshake, speaking `protocol` if any, and once the
    /// connection has switched runs `serve` on the socket.
    pub fn accept<F, Fut>(
        self,
        protocol: Option<&'static str>,
        config: WebSocketConfig,
        serve: F,
    ) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => serve(Socket::new(TokioIo::new(upgraded), config).await).await,
                Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
            }
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        // Base64: always a valid header value.
        if let Ok(accept) = HeaderValue::try_from(derive_accept_key(self.key.as_bytes())) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(protocol) = protocol {
            headers.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(protocol),
            );
        }
        response
    }
}

/// Whether a comma-separated header lists `token` (in any case).
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

/// Longest close reason: a control frame's payload is at most 125 bytes.
const MAX_CLOSE_REASON: usize = 123;

/// Answers to pings are dropped while this much waits unsent: a client that
/// sends pings and reads nothing cannot make the server hold its pongs.
const MAX_BACKLOG_FOR_PONGS: usize = 64 * 1024;

/// The first byte of a final pong frame.
const PONG_FRAME: u8 = 0x80 | 0xA;

/// One message to send: an owned head and a borrowed body, sent as one
/// frame of the two back to back.
#[derive(Debug)]
pub struct Outgoing<'a> {
    opcode: u8,
    head: Bytes,
    body: &'a [u8],
}

impl<'a> Outgoing<'a> {
    /// A text message of `head` then `body`.
    pub fn text_of(head: String, body: &'a str) -> Outgoing<'a> {
        Outgoing {
            opcode: TEXT,
            head: head.into(),
            body: body.as_bytes(),
        }
    }

    /// A text message that is `text`, borrowed.
    pub fn text_ref(text: &'a str) -> Outgoing<'a> {
        Outgoing::text_of(String::new(), text)
    }

    /// A binary message of `head` then `body`.
    pub fn binary_of(head: Vec<u8>, body: &'a [u8]) -> Outgoing<'a> {
        Outgoing {
            opcode: BINARY,
            head: head.into(),
            body,
        }
    }
}

impl Outgoing<'static> {
    pub fn text(text: impl Into<String>) -> Outgoing<'static> {
        Outgoing::text_of(text.into(), "")
    }

    pub fn binary(bytes: Vec<u8>) -> Outgoing<'static> {
        Outgoing::binary_of(bytes, &[])
    }

    pub fn ping() -> Outgoing<'static> {
        Outgoing {
            opcode: PING,
            head: Bytes::new(),
            body: &[],
        }
    }

    /// A close frame with `code` and as much of `reason` as fits.
    pub fn close(code: u16, reason: &str) -> Outgoing<'static> {
        let mut end = reason.len().min(MAX_CLOSE_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let mut payload = Vec::with_capacity(2 + end);
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(&reason.as_bytes()[..end]);
        Outgoing {
            opcode: CLOSE,
            head: payload.into(),
            body: &[],
        }
    }
}

impl Outgoing<'_> {
    /// Bytes of the message's payload (what the byte counters count).
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Messages are equal when they send the same frame, however split.
impl PartialEq for Outgoing<'_> {
    fn eq(&self, other: &Outgoing<'_>) -> bool {
        let bytes = |m: &Outgoing<'_>| m.head.iter().chain(m.body).copied().collect::<Vec<u8>>();
        self.opcode == other.opcode && self.len() == other.len() && bytes(self) == bytes(other)
    }
}

/// A final, unmasked frame's header for `len` bytes of payload.
fn frame_header(opcode: u8, len: usize, out: &mut [u8; 10]) -> &[u8] {
    out[0] = 0x80 | opcode;
    if len < 126 {
        out[1] = len as u8;
        &out[..2]
    } else if let Ok(len) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&len.to_be_bytes());
        &out[..4]
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        &out[..10]
    }
}

/// The connection once switched: tungstenite reads it, [`Socket`]'s own
/// methods write it.
pub struct Socket<IO = TokioIo<Upgraded>> {
    reader: WebSocketStream<Tap<IO>>,
    /// Bytes of frames taken but not yet written, from `sent` on.
    unsent: Vec<u8>,
    sent: usize,
    /// Written since the connection was last flushed (TLS holds bytes back).
    dirty: bool,
    /// Our close frame is out: nothing more is written, not even
    /// tungstenite's answer to the client's close.
    closed: bool,
}

/// The connection as tungstenite sees it: it reads the socket, and what it
/// writes (pongs, the answer to a close) waits here for [`Socket`] to send.
struct Tap<IO> {
    io: IO,
    replies: Vec<u8>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tap<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<IO: Unpin> AsyncWrite for Tap<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().replies.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// `done` bytes into `parts`, what is left of them.
fn rest<'a>(parts: &[&'a [u8]; 3], mut done: usize) -> [&'a [u8]; 3] {
    let mut left: [&[u8]; 3] = [&[]; 3];
    for (slot, part) in left.iter_mut().zip(parts) {
        let skip = done.min(part.len());
        *slot = &part[skip..];
        done -= skip;
    }
    left
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Socket<IO> {
    async fn new(io: IO, config: WebSocketConfig) -> Socket<IO> {
        let tap = Tap {
            io,
            replies: Vec::new(),
        };
        Socket {
            reader: WebSocketStream::from_raw_socket(tap, Role::Server, Some(config)).await,
            unsent: Vec::new(),
            sent: 0,
            dirty: false,
            closed: false,
        }
    }

    fn io(&mut self) -> Pin<&mut IO> {
        Pin::new(&mut self.reader.get_mut().io)
    }

    /// The client's next message; `None` once it has gone. Also sends what
    /// tungstenite answered to what it read.
    pub fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, tungstenite::Error>>> {
        let next = Pin::new(&mut self.reader).poll_next(cx);
        if let Poll::Ready(Some(Ok(Message::Ping(_) | Message::Close(_)))) = &next {
            // tungstenite has the answer ready; it would write it only at
            // the next read.
            let _ = Sink::<Message>::poll_flush(Pin::new(&mut self.reader), cx);
        }
        if self.take_replies() {
            // A broken connection shows on the next read or send.
            let _ = self.poll_flush(cx);
        }
        next
    }

    /// Queues tungstenite's replies behind what is unsent; whether any came.
    fn take_replies(&mut self) -> bool {
        let replies = std::mem::take(&mut self.reader.get_mut().replies);
        if replies.is_empty() || self.closed {
            return false;
        }
        let backlog = self.unsent.len() - self.sent;
        if replies[0] == PONG_FRAME && backlog > MAX_BACKLOG_FOR_PONGS {
            return false;
        }
        self.unsent.extend_from_slice(&replies);
        self.dirty = true;
        true
    }

    /// Sends `message`: as much as the socket takes now is written at once,
    /// in one vectored write; the rest is kept for [`Socket::poll_flush`].
    pub fn write(&mut self, message: &Outgoing<'_>) -> io::Result<()> {
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the close frame is sent",
            ));
        }
        self.closed = message.opcode == CLOSE;
        self.dirty = true;
        let mut header = [0; 10];
        let parts = [
            frame_header(message.opcode, message.len(), &mut header),
            &message.head[..],
            message.body,
        ];
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut done = 0;
        if self.sent == self.unsent.len() {
            let mut cx = Context::from_waker(Waker::noop());
            while done < total {
                let left = rest(&parts, done);
                let slices = left.map(IoSlice::new);
                match self.io().poll_write_vectored(&mut cx, &slices) {
                    Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                    Poll::Ready(Ok(n)) => done += n,
                    Poll::Ready(Err(e)) => return Err(e),
                    Poll::Pending => break,
                }
            }
        }
        for part in rest(&parts, done) {
            self.unsent.extend_from_slice(part);
        }
        Ok(())
    }

    /// Writes out what earlier writes left, and flushes the connection.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.unsent.len() {
            let Socket {
                reader,
                unsent,
                sent,
                ..
            } = self;
            let io = Pin::new(&mut reader.get_mut().io);
            match ready!(io.poll_write(cx, &unsent[*sent..]))? {
                0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                n => *sent += n,
            }
        }
        self.unsent.clear();
        self.sent = 0;
        if self.dirty {
            ready!(self.io().poll_flush(cx))?;
            self.dirty = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Answers the client's close (tungstenite has the answer ready) and
    /// shuts the connection.
    pub fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writing asks tungstenite for its pending answer; after a close it
        // reports the connection closed, which is the point.
        let _ = Sink::<Message>::poll_flush(Pin::new(&mut self.reader), cx);
        self.take_replies();
        self.closed = true;
        ready!(self.poll_flush(cx))?;
        self.io().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use futures_util::{SinkExt, StreamExt};
    use tokio::io::DuplexStream;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;

    use super::*;

    /// Our socket and a client's end of a pipe that holds 64 bytes, so
    /// every frame of any size fills it.
    async fn pipe() -> (Socket<DuplexStream>, WebSocketStream<DuplexStream>) {
        let (ours, theirs) = tokio::io::duplex(64);
        let socket = Socket::new(ours, WebSocketConfig::default()).await;
        let client = WebSocketStream::from_raw_socket(theirs, Role::Client, None).await;
        (socket, client)
    }

    /// `f` done, or a failed test rather than a hung one.
    async fn soon<T>(f: impl Future<Output = T>) -> T {
        let limit = std::time::Duration::from_secs(5);
        tokio::time::timeout(limit, f).await.expect("done in time")
    }

    async fn recv(socket: &mut Socket<DuplexStream>) -> Message {
        let next = soon(poll_fn(|cx| socket.poll_recv(cx))).await;
        next.expect("a message").expect("read")
    }

    #[tokio::test]
    async fn frames_a_full_socket_left_arrive_whole_and_in_order() {
        let (mut socket, mut client) = pipe().await;
        let shared = "x".repeat(1000);
        let bytes = vec![7u8; 70_000];
        for n in 0..20 {
            let head = format!("{{\"n\":{n},");
            socket.write(&Outgoing::text_of(head, &shared)).unwrap();
        }
        socket
            .write(&Outgoing::binary_of(vec![1, 2], &bytes))
            .unwrap();
        socket.write(&Outgoing::ping()).unwrap();
        assert!(
            socket.unsent.len() > 20 * 1000,
            "the pipe took more than it holds"
        );
        let reading = async {
            for n in 0..20 {
                let Some(Ok(Message::Text(text))) = client.next().await else {
                    panic!("no text frame {n}");
                };
                assert_eq!(text.as_str(), format!("{{\"n\":{n},{shared}"));
            }
            let Some(Ok(Message::Binary(data))) = client.next().await else {
                panic!("no binary frame");
            };
            assert_eq!(data.len(), 70_002);
            assert_eq!((&data[..2], &data[2..]), (&[1u8, 2][..], &bytes[..]));
            let next = client.next().await;
            assert!(matches!(next, Some(Ok(Message::Ping(_)))), "{next:?}");
        };
        let (flushed, ()) =
            soon(async { tokio::join!(poll_fn(|cx| socket.poll_flush(cx)), reading) }).await;
        flushed.unwrap();
        assert!(socket.unsent.is_empty());
    }

    #[tokio::test]
    async fn a_clients_ping_gets_its_pong_and_its_close_an_answer() {
        let (mut socket, mut client) = pipe().await;
        client
            .send(Message::Ping(b"hi".to_vec().into()))
            .await
            .unwrap();
        assert!(matches!(recv(&mut socket).await, Message::Ping(_)));
        let next = soon(client.next()).await;
        assert!(
            matches!(&next, Some(Ok(Message::Pong(data))) if &data[..] == b"hi"),
            "{next:?}"
        );
        let bye = CloseFrame {
            code: 1000.into(),
            reason: "bye".into(),
        };
        client.send(Message::Close(Some(bye))).await.unwrap();
        assert!(matches!(recv(&mut socket).await, Message::Close(_)));
        let answer = async {
            let next = client.next().await;
            assert!(matches!(next, Some(Ok(Message::Close(_)))), "{next:?}");
        };
        let (closed, ()) =
            soon(async { tokio::join!(poll_fn(|cx| socket.poll_close(cx)), answer) }).await;
        closed.unwrap();
    }

    #[tokio::test]
    async fn pongs_to_a_client_that_does_not_read_stop_piling_up() {
        let (mut socket, mut client) = pipe().await;
        let pings = 2_000;
        let flooding = async {
            for _ in 0..pings {
                client
                    .send(Message::Ping(vec![1; 100].into()))
                    .await
                    .unwrap();
            }
        };
        let reading = async {
            for _ in 0..pings {
                assert!(matches!(recv(&mut socket).await, Message::Ping(_)));
            }
        };
        soon(async { tokio::join!(flooding, reading) }).await;
        // 2,000 pongs would be 204,000 bytes.
        let backlog = socket.unsent.len() - socket.sent;
        assert!(
            backlog <= MAX_BACKLOG_FOR_PONGS + 102,
            "{backlog} bytes of pongs held"
        );
        assert!(backlog > MAX_BACKLOG_FOR_PONGS, "pongs were dropped early");
    }

    #[tokio::test]
    async fn after_our_close_the_clients_answer_is_not_answered() {
        let (mut socket, mut client) = pipe().await;
        let (wrote, next) = soon(async {
            tokio::join!(
                async {
                    socket.write(&Outgoing::close(1012, "restart")).unwrap();
                    poll_fn(|cx| socket.poll_flush(cx)).await
                },
                client.next()
            )
        })
        .await;
        wrote.unwrap();
        let Some(Ok(Message::Close(Some(frame)))) = next else {
            panic!("no close frame: {next:?}");
        };
        assert_eq!(
            (u16::from(frame.code), frame.reason.as_str()),
            (1012, "restart")
        );
        // The client sends its answer (tungstenite queued it on reading).
        let _ = client.flush().await;
        assert!(matches!(recv(&mut socket).await, Message::Close(_)));
        assert!(socket.unsent.is_empty(), "the answer was answered");
        assert!(socket.write(&Outgoing::text("late")).is_err());
    }

    #[test]
    fn frame_headers_take_the_shortest_length_that_fits() {
        let mut out = [0; 10];
        assert_eq!(frame_header(TEXT, 125, &mut out), [0x81, 125]);
        assert_eq!(frame_header(BINARY, 126, &mut out), [0x82, 126, 0, 126]);
        assert_eq!(
            frame_header(BINARY, 65_535, &mut out),
            [0x82, 126, 0xff, 0xff]
        );
        assert_eq!(
            frame_header(TEXT, 65_536, &mut out),
            [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
    }

    #[test]
    fn what_is_left_skips_whole_and_partly_written_parts() {
        let parts: [&[u8]; 3] = [b"ab", b"cde", b"f"];
        assert_eq!(rest(&parts, 0), parts);
        assert_eq!(rest(&parts, 3), [&b""[..], b"de", b"f"]);
        assert_eq!(rest(&parts, 6), [&b""[..], b"", b""]);
    }

    #[test]
    fn a_close_reason_is_cut_to_fit_a_control_frame_on_a_character_boundary() {
        let reason = "é".repeat(100);
        let close = Outgoing::close(1013, &reason);
        assert_eq!(&close.head[..2], &1013u16.to_be_bytes());
        assert!(close.len() <= 125);
        assert!(std::str::from_utf8(&close.head[2..]).is_ok());
    }
}
