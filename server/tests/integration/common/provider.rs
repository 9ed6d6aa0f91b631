//! A local stand-in for a market-data provider's WebSocket server: accepts
//! connections (or refuses them with an HTTP status), lets the test read what
//! the adapter sends and answer in the provider's wire format, and can drop a
//! connection abruptly (no close frame), as a network failure would.

// tungstenite's handshake callback returns its own (large) error response type.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

pub struct MockProvider {
    pub url: String,
    conns: mpsc::Receiver<MockConn>,
    refuse: mpsc::Sender<Option<StatusCode>>,
}

pub struct MockConn {
    ws: WebSocketStream<TcpStream>,
    /// The request line's path and query, e.g. `/?token=abc`.
    pub uri: String,
}

impl MockProvider {
    pub async fn start() -> MockProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let (conns_tx, conns) = mpsc::channel(16);
        let (refuse, mut refuse_rx) = mpsc::channel::<Option<StatusCode>>(4);
        tokio::spawn(async move {
            let mut refusal = None;
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                while let Ok(next) = refuse_rx.try_recv() {
                    refusal = next;
                }
                match refusal {
                    Some(status) => refuse_upgrade(tcp, status).await,
                    None => {
                        let mut uri = String::new();
                        let accepted = tokio_tungstenite::accept_hdr_async(
                            tcp,
                            |req: &Request, res: Response| {
                                uri = req.uri().to_string();
                                Ok::<_, ErrorResponse>(res)
                            },
                        )
                        .await;
                        if let Ok(ws) = accepted {
                            let _ = conns_tx.send(MockConn { ws, uri }).await;
                        }
                    }
                }
            }
        });
        MockProvider { url, conns, refuse }
    }

    /// From now on, refuse WebSocket handshakes with `status` (None: accept).
    pub async fn refuse_with(&self, status: Option<StatusCode>) {
        self.refuse.send(status).await.unwrap();
    }

    /// The next connection the adapter opens.
    pub async fn accept(&mut self) -> MockConn {
        tokio::time::timeout(Duration::from_secs(15), self.conns.recv())
            .await
            .expect("the adapter connects")
            .unwrap()
    }
}

/// Answers the upgrade request with a plain HTTP error, as a provider does
/// for a bad token.
async fn refuse_upgrade(mut tcp: TcpStream, status: StatusCode) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let response = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = tcp.write_all(response.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

impl MockConn {
    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("mock send");
    }

    /// The next JSON message the adapter sends.
    pub async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("a message from the adapter");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text).expect("JSON from the adapter");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// Closes the TCP connection without a WebSocket close frame.
    pub fn drop_abruptly(self) {
        drop(self.ws);
    }
}
