//! The bus between one ingest node and many edge nodes, over NATS.
//!
//! The ingest node runs the feeds and the hub; every edge mirrors that hub
//! and serves browsers from its copy. Subjects, under a prefix
//! (`--bus-subject`, default `tickertape`):
//!
//! - `<prefix>.batch`: each batch the ingest hub publishes, as a [`BusBatch`]:
//!   the quote changes and every candle bar the interval changed.
//! - `<prefix>.heartbeat`: a [`Heartbeat`] every `--bus-heartbeat-ms` and at
//!   each feed state change; an edge that misses three calls the ingest
//!   node gone and marks every feed stale.
//! - `<prefix>.state`: request/reply. An edge sends an empty request; the
//!   ingest node answers on the request's reply subject with a stream of
//!   [`StatePart`]s (`head`, the symbol table in chunks, one message per
//!   candle series, `end`), each well under NATS's 1 MB payload limit.
//! - `<prefix>.alerts`: every alert event the ingest node's
//!   [`AlertBook`](crate::alerts::AlertBook) tells its pages (`alert`,
//!   `alert_created`, `alert_deleted`, `alert_updated`), as the exact
//!   encoded message; each edge passes it on to its own pages.
//! - `<prefix>.alerts.api`: request/reply. An edge forwards its alert API
//!   (list, create, delete) as an [`AlertsRequest`]; the ingest node, which
//!   holds and checks the rules, answers with an [`AlertsReply`]: the HTTP
//!   status and JSON body its own API gives.
//!
//! Numbers that keep the copies exact: `epoch` is random per ingest process,
//! `seq` is the ingest hub's batch number (consecutive within an epoch), and
//! `rev` counts rewrites of candle history (backfills), which batches do not
//! carry. An edge copies the whole state again (a resync) when it starts,
//! when `epoch` or `rev` changes, when `seq` skips, and after reconnecting.

pub mod edge;
pub mod ingest;

use std::path::PathBuf;
use std::time::Duration;

use app::protocol::{Candle, Change, FeedState, Interval, Level, Quote, SymbolInfo, Trade};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};

use crate::market::FeedStatus;
use crate::metrics::Metrics;

/// One ingest batch on the bus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BusBatch {
    pub epoch: u64,
    pub seq: u64,
    pub rev: u64,
    /// The batch's server time, Unix milliseconds (the diff's `ts`).
    pub ts: i64,
    pub changes: Vec<BusChange>,
    pub candles: Vec<BusCandle>,
    /// Each symbol's trades folded in the batch, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trades: Vec<BusTrades>,
    /// Each book the batch changed: its best levels, whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub books: Vec<BusBook>,
}

/// One change on the bus, kept as the JSON it came as: an edge sends its
/// clients the ingest node's encoding instead of making its own. The JSON is
/// only passed on once it parses as a [`Change`], with the parser every
/// client reads changes with.
#[derive(Clone, Debug)]
pub struct BusChange {
    pub change: Change,
    pub json: Box<RawValue>,
}

impl BusChange {
    /// A change with `json`, its encoding (made by the hub).
    pub fn encoded(change: &Change, json: &str) -> BusChange {
        let json = RawValue::from_string(json.to_string())
            .or_else(|_| serde_json::value::to_raw_value(change));
        BusChange {
            change: change.clone(),
            // Our own encoding of our own type: it cannot fail; `null`
            // would be refused by every edge rather than mislead one.
            json: json.unwrap_or_else(|_| RawValue::NULL.to_owned()),
        }
    }

    /// The change and its JSON, as a hub entry takes them.
    pub fn into_parts(self) -> (Change, String) {
        (self.change, Box::<str>::from(self.json).into_string())
    }
}

impl From<Change> for BusChange {
    fn from(change: Change) -> BusChange {
        let json = serde_json::to_string(&change).unwrap_or_default();
        BusChange::encoded(&change, &json)
    }
}

impl PartialEq for BusChange {
    fn eq(&self, other: &BusChange) -> bool {
        self.change == other.change && self.json.get() == other.json.get()
    }
}

impl Serialize for BusChange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for BusChange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<BusChange, D::Error> {
        let json = Box::<RawValue>::deserialize(deserializer)?;
        let change = serde_json::from_str(json.get()).map_err(serde::de::Error::custom)?;
        Ok(BusChange { change, json })
    }
}

/// A symbol's trades in one batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BusTrades {
    pub symbol: String,
    pub trades: Vec<Trade>,
}

/// A symbol's book after a batch: the best levels a side, best first, and
/// whether it can be trusted (whole: an edge that missed batches is right
/// again at the next).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BusBook {
    pub symbol: String,
    pub live: bool,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

/// A bar as it stands after a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BusCandle {
    pub symbol: String,
    pub interval: Interval,
    pub candle: Candle,
}

/// The ingest node is alive; its newest batch and its feeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub epoch: u64,
    pub seq: u64,
    pub rev: u64,
    pub feeds: Vec<BusFeed>,
}

/// A feed's name and state, as the ingest node reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BusFeed {
    pub name: String,
    pub state: FeedState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<FeedStatus> for BusFeed {
    fn from(f: FeedStatus) -> BusFeed {
        BusFeed {
            name: f.name,
            state: f.state,
            error: f.error,
        }
    }
}

/// One message of a state transfer; see the module docs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "part", rename_all = "snake_case")]
pub enum StatePart {
    /// The quotes of the symbol rows that follow are current as of `seq`.
    Head {
        epoch: u64,
        seq: u64,
        rev: u64,
        feeds: Vec<BusFeed>,
        /// Symbol rows that follow, in universe order.
        symbols: usize,
        /// Where to acknowledge parts, when the request asked for a window.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ack: Option<String>,
    },
    Symbols {
        rows: Vec<SymbolRow>,
    },
    /// One series' bars, oldest first (series without bars are not sent).
    Candles {
        symbol: String,
        interval: Interval,
        candles: Vec<Candle>,
        /// These bars include every batch before `as_of`: batches from
        /// `as_of` on carry newer states of them, older ones do not (0: not
        /// known, apply every batch).
        #[serde(default)]
        as_of: u64,
    },
    /// Every part has been sent; `parts` counts them, this one included.
    End {
        parts: usize,
    },
}

/// One symbol of the universe: who feeds it and its quote, if it has one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SymbolRow {
    #[serde(flatten)]
    pub info: SymbolInfo,
    pub feed: String,
    pub quote: Option<Quote>,
}

/// A state request's payload. With a `window`, the ingest node sends at
/// most that many parts beyond the last acknowledged one, so an edge never
/// buffers more, and stops when acknowledgements stop (the edge gave up).
/// An empty payload (an older edge) gets the whole stream unpaced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
}

/// An edge's acknowledgement: it has received this many parts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateAck {
    pub received: usize,
}

/// An edge's alert API request, answered by the ingest node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AlertsRequest {
    /// `GET /api/alerts`.
    List,
    /// `POST /api/alerts`, with the request's body as it came.
    Create { body: String },
    /// `DELETE /api/alerts/{id}`.
    Delete { id: u64 },
}

/// The ingest node's answer to an [`AlertsRequest`]: what its HTTP API
/// answers (the body is `null` for 204).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertsReply {
    pub status: u16,
    #[serde(default)]
    pub body: serde_json::Value,
}

/// How the ingest node answers an alert API request: what its own routes
/// answer (the node that assembles both hands the API's function to the bus).
pub type AnswerAlerts = std::sync::Arc<dyn Fn(AlertsRequest) -> AlertsReply + Send + Sync>;

/// How long an edge waits for the ingest node's answer to an alert API
/// request before telling its client the ingest node is unreachable.
pub const ALERTS_API_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an edge waits for the first part of a state transfer; a request
/// that waited longer than this in the ingest node's queue is dropped (its
/// edge has given up and asked again).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// How long either side waits for the next part or acknowledgement.
pub const PART_TIMEOUT: Duration = Duration::from_secs(5);

/// Parts in flight per transfer: ~5 MB of candle parts at most.
pub const STATE_WINDOW: usize = 64;

/// Symbol rows per `symbols` part: about 300 bytes each, so ~150 KB.
pub const SYMBOLS_PER_PART: usize = 500;

/// The subjects of one cluster.
#[derive(Clone, Debug)]
pub struct Subjects {
    pub batch: String,
    pub heartbeat: String,
    pub state: String,
    pub alerts: String,
    pub alerts_api: String,
}

impl Subjects {
    pub fn new(prefix: &str) -> Subjects {
        Subjects {
            batch: format!("{prefix}.batch"),
            heartbeat: format!("{prefix}.heartbeat"),
            state: format!("{prefix}.state"),
            alerts: format!("{prefix}.alerts"),
            alerts_api: format!("{prefix}.alerts.api"),
        }
    }

    /// A fresh subject for one transfer's acknowledgements.
    pub fn state_ack(&self) -> String {
        format!("{}.ack.{:016x}", self.state, rand::random::<u64>())
    }
}

/// How this node's link to the bus is doing, for `/readyz`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusHealth {
    Ok,
    /// Why this node is not serving current data.
    Down(String),
}

/// Shared view of [`BusHealth`].
pub type HealthWatch = watch::Receiver<BusHealth>;

/// Connection events from the NATS client, for the task that reacts to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Up,
    Down,
}

/// Could not start on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus {url}: {message}")]
    Connect { url: String, message: String },
    #[error("bus: {0}")]
    Subscribe(String),
    #[error("stopped before the ingest node's state arrived")]
    Stopped,
}

/// Where the bus is and how to sign in to it. Its `Debug` and
/// [`BusAccess::servers_shown`] never show a secret.
#[derive(Clone, Debug, Default)]
pub struct BusAccess {
    /// Server URLs, any credentials taken out of them.
    pub servers: Vec<String>,
    pub auth: BusAuth,
    /// The CA that signed the bus's certificate; TLS is then required.
    pub ca: Option<PathBuf>,
}

/// How a node signs in to the bus.
#[derive(Clone, Default)]
pub enum BusAuth {
    #[default]
    None,
    UserPassword {
        user: String,
        password: String,
    },
    Token(String),
    /// A file holding an NKey user seed (`SU…`).
    NKeyFile(PathBuf),
    /// A NATS `.creds` file (user JWT and seed).
    CredsFile(PathBuf),
}

impl std::fmt::Debug for BusAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BusAuth::None => f.write_str("None"),
            BusAuth::UserPassword { user, .. } => write!(f, "UserPassword({user}, ***)"),
            BusAuth::Token(_) => f.write_str("Token(***)"),
            BusAuth::NKeyFile(path) => write!(f, "NKeyFile({})", path.display()),
            BusAuth::CredsFile(path) => write!(f, "CredsFile({})", path.display()),
        }
    }
}

impl BusAccess {
    /// `--bus` (comma-separated URLs) and the explicit sign-in: credentials
    /// written into a URL (`nats://user:pass@host`, `nats://token@host`) are
    /// taken out of it and used when no flag names any.
    pub fn new(urls: &str, auth: BusAuth, ca: Option<PathBuf>) -> BusAccess {
        let mut found = None;
        let servers = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|url| {
                let (url, userinfo) = split_userinfo(url);
                if found.is_none() {
                    found = userinfo;
                }
                url
            })
            .collect();
        let auth = match (auth, found) {
            (BusAuth::None, Some(userinfo)) => match userinfo.split_once(':') {
                Some((user, password)) => BusAuth::UserPassword {
                    user: user.to_owned(),
                    password: password.to_owned(),
                },
                None => BusAuth::Token(userinfo),
            },
            (auth, _) => auth,
        };
        BusAccess { servers, auth, ca }
    }

    /// The servers, for logs and errors.
    pub fn servers_shown(&self) -> String {
        self.servers.join(",")
    }

    /// The client options for this access (reads the NKey or creds file).
    async fn options(&self) -> Result<async_nats::ConnectOptions, String> {
        let options = async_nats::ConnectOptions::new();
        let mut options = match &self.auth {
            BusAuth::None => options,
            BusAuth::UserPassword { user, password } => {
                options.user_and_password(user.clone(), password.clone())
            }
            BusAuth::Token(token) => options.token(token.clone()),
            BusAuth::NKeyFile(path) => {
                let seed = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read the NKey seed {}: {e}", path.display()))?;
                let seed = seed.trim();
                if !seed.starts_with("SU") {
                    return Err(format!(
                        "{} does not hold an NKey user seed (SU…)",
                        path.display()
                    ));
                }
                options.nkey(seed.to_owned())
            }
            BusAuth::CredsFile(path) => options
                .credentials_file(path)
                .await
                .map_err(|e| format!("cannot read the credentials file {}: {e}", path.display()))?,
        };
        if let Some(ca) = &self.ca {
            if !ca.is_file() {
                return Err(format!("no CA file at {}", ca.display()));
            }
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        Ok(options)
    }
}

/// A URL without its `user:password@` part, and that part.
fn split_userinfo(url: &str) -> (String, Option<String>) {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_owned(), None);
    };
    let userinfo = rest[..at].to_owned();
    let bare = match scheme {
        Some(scheme) => format!("{scheme}://{}", &rest[at + 1..]),
        None => rest[at + 1..].to_owned(),
    };
    (bare, Some(userinfo))
}

/// Connects to NATS in the background (retrying forever with backoff, also
/// for the first connection). Link changes arrive on the returned channel.
pub async fn connect(
    access: &BusAccess,
    name: &str,
    metrics: &std::sync::Arc<Metrics>,
) -> Result<(async_nats::Client, mpsc::UnboundedReceiver<Link>), BusError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let metrics_cb = metrics.clone();
    let connect_error = |message: String| BusError::Connect {
        url: access.servers_shown(),
        message,
    };
    let client = access
        .options()
        .await
        .map_err(connect_error)?
        .name(name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(3))
        .reconnect_delay_callback(|attempt| reconnect_delay(attempt as u32))
        .event_callback(move |event| {
            let tx = tx.clone();
            let metrics = metrics_cb.clone();
            async move {
                let link = match event {
                    async_nats::Event::Connected => Some(Link::Up),
                    async_nats::Event::Disconnected | async_nats::Event::Closed => Some(Link::Down),
                    other => {
                        tracing::warn!(event = %other, "bus");
                        None
                    }
                };
                if let Some(link) = link {
                    tracing::info!(?link, "bus connection");
                    metrics.bus_connected.set(i64::from(link == Link::Up));
                    let _ = tx.send(link);
                }
            }
        })
        .connect(access.servers.as_slice())
        .await
        .map_err(|e| connect_error(e.to_string()))?;
    Ok((client, rx))
}

/// Exponential from 100 ms to 5 s with jitter, like the feed supervisor.
fn reconnect_delay(attempt: u32) -> Duration {
    let backoff = crate::backoff::Backoff {
        base: Duration::from_millis(100),
        max: Duration::from_secs(5),
        ..Default::default()
    };
    backoff.delay(attempt, &mut rand::rng())
}

/// The node name NATS shows in its monitoring, e.g. `tickertape-edge-4242`.
fn client_name(role: &str) -> String {
    format!("tickertape-{role}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_with(changes: &str) -> String {
        format!(
            r#"{{"epoch":1,"seq":2,"rev":0,"ts":1700000000000,"changes":{changes},"candles":[]}}"#
        )
    }

    #[test]
    fn a_change_crosses_the_bus_as_the_json_the_ingest_node_made() {
        let change = Change {
            last: Some(101.25),
            volume: Some(7),
            symbol: "AAPL".into(),
            ..Change::default()
        };
        let json = serde_json::to_string(&change).unwrap();
        let sent = serde_json::to_string(&BusBatch {
            epoch: 1,
            seq: 2,
            rev: 0,
            ts: 1_700_000_000_000,
            changes: vec![BusChange::encoded(&change, &json)],
            candles: Vec::new(),
            trades: Vec::new(),
            books: Vec::new(),
        })
        .unwrap();
        assert!(sent.contains(&format!(r#""changes":[{json}]"#)), "{sent}");
        let got: BusBatch = serde_json::from_str(&sent).unwrap();
        let [copied] = &got.changes[..] else {
            panic!("{:?}", got.changes);
        };
        assert_eq!(copied.change, change);
        assert_eq!(copied.clone().into_parts().1, json);
    }

    #[test]
    fn a_bus_change_that_is_not_a_change_refuses_the_batch() {
        for bad in [
            r#"[{"symbol":5}]"#,
            r#"[{"last":1.5}]"#,
            "[7]",
            r#"["AAPL"]"#,
        ] {
            let refused = serde_json::from_str::<BusBatch>(&batch_with(bad));
            assert!(refused.is_err(), "{bad} was taken");
        }
        let good =
            serde_json::from_str::<BusBatch>(&batch_with(r#"[{"symbol":"AAPL","last":1.5}]"#));
        assert_eq!(
            good.unwrap().changes[0].json.get(),
            r#"{"symbol":"AAPL","last":1.5}"#
        );
    }

    #[test]
    fn credentials_come_out_of_urls_and_never_show() {
        let access = BusAccess::new(
            "nats://edge:s3cret@10.0.0.1:4222, nats://edge:s3cret@10.0.0.2",
            BusAuth::None,
            None,
        );
        assert_eq!(
            access.servers,
            vec!["nats://10.0.0.1:4222", "nats://10.0.0.2"]
        );
        assert!(
            matches!(&access.auth, BusAuth::UserPassword { user, password } if user == "edge" && password == "s3cret")
        );
        let shown = format!("{} {:?}", access.servers_shown(), access);
        assert!(!shown.contains("s3cret"), "{shown}");
        let token = BusAccess::new("tls://t0ken@bus.example:4443", BusAuth::None, None);
        assert!(matches!(&token.auth, BusAuth::Token(t) if t == "t0ken"));
        assert!(!format!("{token:?}").contains("t0ken"));
        // A flag wins over the URL; a URL without credentials is kept whole.
        let flagged = BusAccess::new("nats://a:b@h", BusAuth::Token("flag".into()), None);
        assert!(matches!(&flagged.auth, BusAuth::Token(t) if t == "flag"));
        assert_eq!(
            split_userinfo("nats://h:4222/x@y"),
            ("nats://h:4222/x@y".into(), None)
        );
    }

    #[test]
    fn state_parts_are_tagged_and_round_trip() {
        let part = StatePart::Symbols {
            rows: vec![SymbolRow {
                info: SymbolInfo {
                    symbol: "AAPL".into(),
                    name: "Apple Inc.".into(),
                    currency: "USD".into(),
                    trading_day: Default::default(),
                },
                feed: "sim".into(),
                quote: None,
            }],
        };
        let json = serde_json::to_string(&part).unwrap();
        assert_eq!(
            json,
            r#"{"part":"symbols","rows":[{"symbol":"AAPL","name":"Apple Inc.","currency":"USD","trading_day":"utc","feed":"sim","quote":null}]}"#
        );
        assert_eq!(serde_json::from_str::<StatePart>(&json).unwrap(), part);
        let end: StatePart = serde_json::from_str(r#"{"part":"end","parts":7}"#).unwrap();
        assert_eq!(end, StatePart::End { parts: 7 });
    }

    #[test]
    fn alert_api_requests_and_replies_have_their_documented_shape() {
        let cases = [
            (AlertsRequest::List, r#"{"op":"list"}"#),
            (
                AlertsRequest::Create {
                    body: r#"{"symbol":"AAPL"}"#.into(),
                },
                r#"{"op":"create","body":"{\"symbol\":\"AAPL\"}"}"#,
            ),
            (AlertsRequest::Delete { id: 7 }, r#"{"op":"delete","id":7}"#),
        ];
        for (request, json) in cases {
            assert_eq!(serde_json::to_string(&request).unwrap(), json);
            assert_eq!(
                serde_json::from_str::<AlertsRequest>(json).unwrap(),
                request
            );
        }
        let reply: AlertsReply = serde_json::from_str(r#"{"status":204}"#).unwrap();
        assert_eq!((reply.status, reply.body), (204, serde_json::Value::Null));
        assert!(serde_json::from_str::<AlertsRequest>(r#"{"op":"drop"}"#).is_err());
    }

    #[test]
    fn a_full_symbol_table_part_stays_far_below_the_nats_payload_limit() {
        let quote = Quote {
            symbol: "SYNTH12345".into(),
            last: 12345.678,
            bid: 12345.67,
            ask: 12345.69,
            open: 12000.01,
            high: 12999.99,
            low: 11999.99,
            prev_close: 12001.5,
            volume: 123_456_789,
            ts: 1_790_000_000_000,
            session: app::protocol::MarketSession::Halted,
            close: 12001.5,
        };
        let row = SymbolRow {
            info: SymbolInfo {
                symbol: "SYNTH12345".into(),
                name: "Synthetic Holdings 12345 Incorporated".into(),
                currency: "USD".into(),
                trading_day: Default::default(),
            },
            feed: "sim".into(),
            quote: Some(quote),
        };
        let part = StatePart::Symbols {
            rows: vec![row; SYMBOLS_PER_PART],
        };
        let bytes = serde_json::to_vec(&part).unwrap().len();
        assert!(bytes < 512 * 1024, "{bytes} bytes");
        let bars = vec![
            Candle {
                t: 1_790_000_000_000,
                o: 12345.678,
                h: 12345.678,
                l: 12345.678,
                c: 12345.678,
                v: 123_456_789,
            };
            crate::candles::CAPACITY
        ];
        let series = StatePart::Candles {
            symbol: "SYNTH12345".into(),
            interval: Interval::S1,
            candles: bars,
            as_of: u64::MAX >> 11,
        };
        let bytes = serde_json::to_vec(&series).unwrap().len();
        assert!(bytes < 512 * 1024, "{bytes} bytes");
    }
}
