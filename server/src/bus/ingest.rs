//! The ingest node's side of the bus: publish batches, heartbeats and alert
//! events, answer state requests and edges' alert API requests. Tasks none
//! of which can hold up the hub: they read what the hub published, as
//! sessions do.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use app::protocol::Interval;
use async_nats::Client;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::{
    AlertsReply, AlertsRequest, AnswerAlerts, BusAccess, BusBatch, BusBook, BusCandle, BusChange,
    BusError, BusFeed, BusHealth, BusTrades, HEAD_TIMEOUT, Heartbeat, Link, PART_TIMEOUT,
    STATE_WINDOW, SYMBOLS_PER_PART, StateAck, StatePart, StateRequest, Subjects, SymbolRow,
};
use crate::candles::CAPACITY;
use crate::hub::{Hub, Lagged};

/// What the ingest tasks share.
#[derive(Clone)]
struct Ingest {
    client: Client,
    hub: Hub,
    subjects: Arc<Subjects>,
    epoch: u64,
    /// The feed each symbol comes from, by symbol id.
    symbol_feeds: Arc<[String]>,
    /// Answers edges' alert API requests as this node's routes do.
    answer_alerts: AnswerAlerts,
    /// The last batch handed to the bus (or skipped, when the publisher fell
    /// behind): what heartbeats announce. Announcing the hub's head instead
    /// let a heartbeat overtake its batch, and a busy edge took the late
    /// batch for a lost one and resynced.
    published: Arc<AtomicU64>,
}

/// Connects to the bus and starts publishing `hub`, and answering edges'
/// alert API requests with `answer_alerts`. Returns the bus health for
/// `/readyz` (down while NATS is unreachable).
pub async fn start(
    access: &BusAccess,
    prefix: &str,
    heartbeat: Duration,
    hub: Hub,
    symbol_feeds: Arc<[String]>,
    answer_alerts: AnswerAlerts,
    shutdown: CancellationToken,
) -> Result<watch::Receiver<BusHealth>, BusError> {
    let metrics = hub.metrics_handle();
    let (client, links) = super::connect(access, &super::client_name("ingest"), &metrics).await?;
    let subjects = Arc::new(Subjects::new(prefix));
    let subscribe = |subject: &String| client.subscribe(subject.clone());
    let requests = subscribe(&subjects.state)
        .await
        .map_err(|e| BusError::Subscribe(e.to_string()))?;
    let alert_requests = subscribe(&subjects.alerts_api)
        .await
        .map_err(|e| BusError::Subscribe(e.to_string()))?;
    // Before anything is served: every event of the book reaches the bus.
    let alert_events = hub.alerts().subscribe();
    // The hub's: clients of this node and of every edge resume alike.
    let epoch = hub.published().epoch();
    tracing::info!(epoch, bus = %access.servers_shown(), subject = %prefix, "publishing to the bus");
    let published = Arc::new(AtomicU64::new(*hub.published().watch_head().borrow()));
    let ingest = Ingest {
        client,
        hub,
        subjects,
        epoch,
        symbol_feeds,
        answer_alerts,
        published,
    };
    let (health_tx, health) = watch::channel(BusHealth::Down("connecting to the bus".into()));
    tokio::spawn(track_link(links, health_tx, shutdown.clone()));
    tokio::spawn(ingest.clone().publish_batches(shutdown.clone()));
    tokio::spawn(
        ingest
            .clone()
            .publish_heartbeats(heartbeat, shutdown.clone()),
    );
    tokio::spawn(
        ingest
            .clone()
            .publish_alerts(alert_events, shutdown.clone()),
    );
    tokio::spawn(
        ingest
            .clone()
            .serve_alerts_api(alert_requests, shutdown.clone()),
    );
    tokio::spawn(ingest.serve_state(requests, shutdown));
    Ok(health)
}

async fn track_link(
    mut links: mpsc::UnboundedReceiver<Link>,
    health: watch::Sender<BusHealth>,
    shutdown: CancellationToken,
) {
    loop {
        let link = tokio::select! {
            _ = shutdown.cancelled() => return,
            link = links.recv() => link,
        };
        let state = match link {
            Some(Link::Up) => BusHealth::Ok,
            Some(Link::Down) => BusHealth::Down("disconnected from the bus; reconnecting".into()),
            None => return,
        };
        health.send_replace(state);
    }
}

impl Ingest {
    async fn publish<T: Serialize>(&self, subject: &str, kind: &str, value: &T) -> bool {
        match serde_json::to_vec(value) {
            Ok(payload) => self.publish_bytes(subject, kind, payload).await,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a bus message");
                false
            }
        }
    }

    /// Publishes an encoded message, counted under `kind`.
    async fn publish_bytes(&self, subject: &str, kind: &str, payload: Vec<u8>) -> bool {
        let metrics = self.hub.metrics();
        match self
            .client
            .publish(subject.to_owned(), payload.into())
            .await
        {
            Ok(()) => {
                metrics.bus_messages.with_label_values(&[kind]).inc();
                true
            }
            Err(e) => {
                metrics.bus_errors.with_label_values(&[kind]).inc();
                tracing::warn!(error = %e, kind, "bus publish failed");
                false
            }
        }
    }

    /// Every batch the hub publishes, in order. If this task falls further
    /// behind than the hub keeps, edges see the gap and resync.
    async fn publish_batches(self, shutdown: CancellationToken) {
        let mut head = self.hub.published().watch_head();
        let mut last = *head.borrow_and_update();
        self.published.store(last, Ordering::Release);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = head.changed() => if changed.is_err() { return },
            }
            let batches = match self.hub.published().batches_after(last) {
                Ok(batches) => batches,
                Err(Lagged) => {
                    tracing::warn!("bus publisher fell behind the hub; edges will resync");
                    last = *head.borrow_and_update();
                    // Announced, never sent: edges see the batches as lost.
                    self.published.store(last, Ordering::Release);
                    continue;
                }
            };
            for batch in batches {
                last = batch.no;
                let symbols = self.hub.symbols();
                let message = BusBatch {
                    epoch: self.epoch,
                    seq: batch.no,
                    rev: self.hub.charts().rev(),
                    ts: batch.ts,
                    changes: batch
                        .entries
                        .iter()
                        .map(|e| BusChange::encoded(&e.change, &e.json))
                        .collect(),
                    candles: batch
                        .candles
                        .iter()
                        .map(|c| BusCandle {
                            symbol: symbols[c.id].symbol.clone(),
                            interval: c.interval,
                            candle: c.candle,
                        })
                        .collect(),
                    trades: batch
                        .trades
                        .iter()
                        .map(|t| BusTrades {
                            symbol: symbols[t.id].symbol.clone(),
                            trades: t.trades.clone(),
                        })
                        .collect(),
                    books: batch
                        .books
                        .iter()
                        .map(|b| BusBook {
                            symbol: symbols[b.id].symbol.clone(),
                            live: b.live,
                            bids: b.view.bids.clone(),
                            asks: b.view.asks.clone(),
                        })
                        .collect(),
                };
                if self
                    .publish(&self.subjects.batch, "batch_out", &message)
                    .await
                {
                    self.hub.metrics().bus_seq.set(batch.no as i64);
                }
                // Sent or lost, it is behind us: a heartbeat published after
                // this (on the same connection, so after the batch) may name it.
                self.published.store(batch.no, Ordering::Release);
            }
        }
    }

    fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            epoch: self.epoch,
            seq: self.published.load(Ordering::Acquire),
            rev: self.hub.charts().rev(),
            feeds: self
                .hub
                .feeds()
                .all()
                .into_iter()
                .map(BusFeed::from)
                .collect(),
        }
    }

    /// A heartbeat on a fixed cadence and at every feed state change.
    async fn publish_heartbeats(self, every: Duration, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut feeds = self.hub.feeds().watch();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
                changed = feeds.changed() => if changed.is_err() { return },
            }
            feeds.borrow_and_update();
            let beat = self.heartbeat();
            self.publish(&self.subjects.heartbeat, "heartbeat_out", &beat)
                .await;
        }
    }

    /// Every event the alert book tells this node's pages, as encoded for
    /// them, for edges to tell theirs. Events missed when this task fell
    /// further behind than the book keeps are counted as errors.
    async fn publish_alerts(
        self,
        mut events: broadcast::Receiver<Arc<str>>,
        shutdown: CancellationToken,
    ) {
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => return,
                event = events.recv() => event,
            };
            match event {
                Ok(text) => {
                    let payload = text.as_bytes().to_vec();
                    self.publish_bytes(&self.subjects.alerts, "alert_out", payload)
                        .await;
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "alert events not published: the bus publisher fell behind"
                    );
                    let errors = &self.hub.metrics().bus_errors;
                    errors.with_label_values(&["alert_out"]).inc_by(missed);
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Answers edges' alert API requests with what this node's own routes
    /// answer, one at a time: each is quick, and edges see creations and
    /// deletions made in the order they were asked.
    async fn serve_alerts_api(
        self,
        mut requests: async_nats::Subscriber,
        shutdown: CancellationToken,
    ) {
        loop {
            let request = tokio::select! {
                _ = shutdown.cancelled() => return,
                request = requests.next() => request,
            };
            let Some(request) = request else { return };
            let Some(reply) = request.reply else {
                tracing::debug!("alert API request without a reply subject");
                continue;
            };
            let answer = self.answer_alerts(&request.payload);
            self.publish(&reply, "alert_api_served", &answer).await;
        }
    }

    /// The answer to one alert API request; a request that is not one is
    /// counted and answered 400.
    fn answer_alerts(&self, payload: &[u8]) -> AlertsReply {
        match serde_json::from_slice::<AlertsRequest>(payload) {
            Ok(request) => (self.answer_alerts)(request),
            Err(e) => {
                let errors = &self.hub.metrics().bus_errors;
                errors.with_label_values(&["alert_api_served"]).inc();
                let error = format!("malformed alert API request: {e}");
                AlertsReply {
                    status: 400,
                    body: serde_json::json!({ "error": error }),
                }
            }
        }
    }

    /// Answers state requests on their reply subjects (see [`StatePart`]),
    /// [`MAX_TRANSFERS`] at a time; the rest wait in a bounded queue, and a
    /// request that waited longer than its edge does ([`HEAD_TIMEOUT`]) is
    /// dropped, since that edge has asked again.
    async fn serve_state(self, mut requests: async_nats::Subscriber, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(MAX_TRANSFERS));
        let mut queue: VecDeque<(Instant, async_nats::Message)> = VecDeque::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                request = requests.next() => {
                    let Some(request) = request else { return };
                    if queue.len() == MAX_QUEUED {
                        queue.pop_front();
                        self.count_transfer("queue_full");
                    }
                    queue.push_back((Instant::now(), request));
                }
                Ok(slot) = slots.clone().acquire_owned(), if !queue.is_empty() => {
                    let Some((at, request)) = queue.pop_front() else { continue };
                    if at.elapsed() >= HEAD_TIMEOUT {
                        self.count_transfer("expired");
                        continue;
                    }
                    let Some(reply) = request.reply else {
                        tracing::debug!("state request without a reply subject");
                        continue;
                    };
                    let asked: StateRequest =
                        serde_json::from_slice(&request.payload).unwrap_or_default();
                    let window = asked.window.map(|w| w.clamp(2, STATE_WINDOW * 4));
                    let ingest = self.clone();
                    tokio::spawn(async move {
                        match ingest.send_state(reply.as_str(), window).await {
                            Ok(()) => ingest.count_transfer("done"),
                            Err(why) => {
                                tracing::info!(%why, "stopped a state transfer");
                                ingest.count_transfer(why.label());
                            }
                        }
                        drop(slot);
                    });
                }
            }
        }
    }

    /// Counts a state request by what became of it.
    fn count_transfer(&self, outcome: &str) {
        self.hub
            .metrics()
            .bus_state_transfers
            .with_label_values(&[outcome])
            .inc();
    }

    /// One state transfer. Bars are read with the batch number they are
    /// current as of, under the lock the hub publishes with, so an edge can
    /// tell which later batches carry newer states of them (`as_of`).
    async fn send_state(&self, reply: &str, window: Option<usize>) -> Result<(), Stopped> {
        let hub = &self.hub;
        let mut out = Transfer::open(self, reply, window).await?;
        // The history revision before the quotes and bars it covers: a
        // backfill racing this copy makes the edge copy again.
        let rev = hub.charts().rev();
        let (seq, quotes) = hub.published().state();
        let head = StatePart::Head {
            epoch: self.epoch,
            seq,
            rev,
            feeds: hub.feeds().all().into_iter().map(BusFeed::from).collect(),
            symbols: quotes.len(),
            ack: out.ack_subject(),
        };
        out.send(&head).await?;
        let rows: Vec<SymbolRow> = hub
            .symbols()
            .iter()
            .zip(quotes)
            .zip(self.symbol_feeds.iter())
            .map(|((info, quote), feed)| SymbolRow {
                info: info.clone(),
                feed: feed.clone(),
                quote,
            })
            .collect();
        for chunk in rows.chunks(SYMBOLS_PER_PART) {
            let part = StatePart::Symbols {
                rows: chunk.to_vec(),
            };
            out.send(&part).await?;
        }
        for (id, info) in hub.symbols().iter().enumerate() {
            for interval in Interval::ALL {
                let (as_of, candles) = hub.candles_as_of(id, interval, CAPACITY);
                if candles.is_empty() {
                    continue;
                }
                let part = StatePart::Candles {
                    symbol: info.symbol.clone(),
                    interval,
                    candles,
                    as_of,
                };
                out.send(&part).await?;
            }
        }
        let parts = out.sent + 1;
        out.send(&StatePart::End { parts }).await?;
        tracing::info!(seq, parts, "sent the state to an edge");
        Ok(())
    }
}

/// State transfers served at once: each encodes the whole candle history,
/// so a crowd of edges resyncing together is served a few at a time.
const MAX_TRANSFERS: usize = 2;

/// State requests waiting for a transfer slot; beyond this the oldest goes.
const MAX_QUEUED: usize = 256;

/// Why a transfer stopped before its end.
#[derive(Debug, thiserror::Error)]
enum Stopped {
    #[error("the edge stopped acknowledging (it gave up)")]
    GaveUp,
    #[error("cannot publish to the bus")]
    Publish,
}

impl Stopped {
    fn label(&self) -> &'static str {
        match self {
            Stopped::GaveUp => "gave_up",
            Stopped::Publish => "publish_failed",
        }
    }
}

/// The sending side of one transfer, paced by the edge's acknowledgements
/// when it asked for a window.
struct Transfer<'a> {
    ingest: &'a Ingest,
    reply: &'a str,
    sent: usize,
    paced: Option<Paced>,
}

struct Paced {
    subject: String,
    acks: async_nats::Subscriber,
    window: usize,
    acked: usize,
}

impl<'a> Transfer<'a> {
    async fn open(
        ingest: &'a Ingest,
        reply: &'a str,
        window: Option<usize>,
    ) -> Result<Transfer<'a>, Stopped> {
        let paced = match window {
            None => None,
            Some(window) => {
                let subject = ingest.subjects.state_ack();
                let acks = ingest
                    .client
                    .subscribe(subject.clone())
                    .await
                    .map_err(|_| Stopped::Publish)?;
                Some(Paced {
                    subject,
                    acks,
                    window,
                    acked: 0,
                })
            }
        };
        Ok(Transfer {
            ingest,
            reply,
            sent: 0,
            paced,
        })
    }

    fn ack_subject(&self) -> Option<String> {
        self.paced.as_ref().map(|p| p.subject.clone())
    }

    /// Publishes one part once the window has room for it.
    async fn send(&mut self, part: &StatePart) -> Result<(), Stopped> {
        if let Some(paced) = &mut self.paced {
            while self.sent >= paced.acked + paced.window {
                let ack = tokio::time::timeout(PART_TIMEOUT, paced.acks.next())
                    .await
                    .map_err(|_| Stopped::GaveUp)?
                    .ok_or(Stopped::GaveUp)?;
                if let Ok(StateAck { received }) = serde_json::from_slice(&ack.payload) {
                    paced.acked = paced.acked.max(received.min(self.sent));
                }
            }
        }
        if !self.ingest.publish(self.reply, "state_served", part).await {
            return Err(Stopped::Publish);
        }
        self.sent += 1;
        Ok(())
    }
}
