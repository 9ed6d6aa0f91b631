//! A WebSocket connection to a provider, as every provider adapter needs it:
//! connect with a timeout (ws:// or wss://), send JSON, and read text
//! messages until `stop` fires, failing on a close, a broken connection, or
//! silence longer than the idle timeout.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use tokio_util::sync::CancellationToken;

use super::FeedError;

/// How long a connect (TCP, TLS and WebSocket handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Upstream {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    name: &'static str,
    idle: Duration,
}

impl Upstream {
    /// Connects to `url`; `name` prefixes every error (e.g. "finnhub").
    pub async fn connect(
        name: &'static str,
        url: &str,
        idle: Duration,
    ) -> Result<Upstream, FeedError> {
        let connecting = tokio::time::timeout(CONNECT_TIMEOUT, connect_async(url));
        let (ws, _) = connecting
            .await
            .map_err(|_| fail(name, format!("no connection within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| fail(name, describe_connect_error(&e)))?;
        Ok(Upstream { ws, name, idle })
    }

    pub async fn send_json<T: Serialize>(&mut self, value: &T) -> Result<(), FeedError> {
        let text = serde_json::to_string(value).map_err(|e| fail(self.name, e.to_string()))?;
        self.ws
            .send(Message::text(text))
            .await
            .map_err(|e| fail(self.name, format!("send failed: {e}")))
    }

    /// The next text message, or `None` once `stop` fires. WebSocket pings
    /// are answered by the library; binary frames are skipped.
    pub async fn next_text(
        &mut self,
        stop: &CancellationToken,
    ) -> Result<Option<String>, FeedError> {
        loop {
            let frame = tokio::select! {
                biased;
                _ = stop.cancelled() => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
                    return Ok(None);
                }
                frame = tokio::time::timeout(self.idle, self.ws.next()) => frame,
            };
            match frame {
                Err(_) => return Err(fail(self.name, format!("silent for {:?}", self.idle))),
                Ok(None) => return Err(fail(self.name, "connection closed".into())),
                Ok(Some(Err(e))) => return Err(fail(self.name, format!("connection lost: {e}"))),
                Ok(Some(Ok(Message::Text(text)))) => return Ok(Some(text.to_string())),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    let why = frame
                        .map(|f| format!("{} {}", u16::from(f.code), f.reason))
                        .unwrap_or_default();
                    return Err(fail(
                        self.name,
                        format!("closed by the provider {why}")
                            .trim_end()
                            .to_string(),
                    ));
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }
}

fn fail(name: &str, message: String) -> FeedError {
    FeedError::Upstream(format!("{name}: {message}"))
}

/// Connect errors a user can act on, said plainly.
fn describe_connect_error(error: &tungstenite::Error) -> String {
    match error {
        tungstenite::Error::Http(response) => match response.status().as_u16() {
            401 | 403 => format!(
                "refused with HTTP {} (check the API token or key)",
                response.status()
            ),
            429 => "refused with HTTP 429 (too many connections or requests)".into(),
            _ => format!("refused with HTTP {}", response.status()),
        },
        other => format!("cannot connect: {other}"),
    }
}

/// Adds `key=value` to a URL's query string (and the `/` path a bare
/// `wss://host` needs before a query).
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let authority_end = url.find("://").map_or(0, |i| i + 3);
    let has_path = url[authority_end..].contains('/');
    let url = match url.find('?') {
        None if !has_path => format!("{url}/"),
        Some(q) if !url[authority_end..q].contains('/') => format!("{}/{}", &url[..q], &url[q..]),
        _ => url.to_string(),
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    let encoded: String = value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{url}{separator}{key}={encoded}")
}

/// The start of a message, for logs.
pub fn preview(text: &str) -> String {
    text.chars().take(120).collect()
}

/// A number a provider may send as a JSON number or as a decimal string.
pub fn number(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

/// An RFC 3339 time as Unix milliseconds.
pub fn rfc3339_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Unix milliseconds as RFC 3339 (whole seconds, UTC).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_appended_and_encoded() {
        assert_eq!(
            with_query("wss://ws.finnhub.io", "token", "abc"),
            "wss://ws.finnhub.io/?token=abc"
        );
        assert_eq!(
            with_query("ws://127.0.0.1:9?x=1", "token", "t"),
            "ws://127.0.0.1:9/?x=1&token=t"
        );
        assert_eq!(
            with_query("ws://h/x?a=1", "token", "a b&c"),
            "ws://h/x?a=1&token=a%20b%26c"
        );
    }

    #[test]
    fn numbers_come_as_numbers_or_strings() {
        assert_eq!(number(&serde_json::json!(4388.01)), Some(4388.01));
        assert_eq!(number(&serde_json::json!("4388.01000000")), Some(4388.01));
        assert_eq!(number(&serde_json::json!("NaN")), None);
        assert_eq!(number(&serde_json::json!(null)), None);
        assert_eq!(
            rfc3339_ms("2017-09-02T17:05:49.250000Z"),
            Some(1_504_371_949_250)
        );
        assert_eq!(rfc3339_ms("yesterday"), None);
    }
}
