//! Prometheus metrics (`GET /metrics`), one registry per server.

use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric the server keeps. Cheap to update from hot paths (atomics).
pub struct Metrics {
    registry: Registry,
    /// WebSocket sessions open now.
    pub connections: IntGauge,
    /// Sockets open now (HTTP, TLS and upgraded), capped by `--max-open-connections`.
    pub http_connections: IntGauge,
    /// Tasks alive on the server's runtime, read when scraped (a leak shows
    /// as a rise that does not come back).
    pub tasks: IntGauge,
    /// Sockets closed by the server's clocks or refused, by reason
    /// (`handshake_timeout`, `idle_timeout`, `write_timeout`, `limit`).
    pub http_closed: IntCounterVec,
    /// WebSocket sessions ever opened.
    pub sessions_opened: IntCounter,
    /// Sessions ended, by close code the server sent (`none` when the peer left).
    pub sessions_closed: IntCounterVec,
    /// Upgrades refused, by reason (`origin`, `capacity`).
    pub upgrades_refused: IntCounterVec,
    pub messages_out: IntCounter,
    pub bytes_out: IntCounter,
    /// Diffs merged from several batches for a session that fell behind.
    pub conflations: IntCounter,
    /// Of them, those that reused a merge another session made.
    pub merges_shared: IntCounter,
    /// Diffs the fan-out writers sent (the rest went from sessions' own tasks).
    pub fanout_sends: IntCounter,
    /// `resume` requests, by answer (`diff`: continued; `snapshot`).
    pub resumes: IntCounterVec,
    /// Sessions closed for not keeping up (1013).
    pub evictions: IntCounter,
    pub batches: IntCounter,
    /// Time to diff and encode one batch.
    pub batch_encode_seconds: Histogram,
    /// How late a flush ran after its scheduled time.
    pub flush_lag_seconds: Histogram,
    /// Trades and book updates received, by feed.
    pub events_in: IntCounterVec,
    /// Events dropped for a timestamp too far from this server's clock, by
    /// feed and reason (`future`, `old`).
    pub events_rejected: IntCounterVec,
    /// Feed state by feed: 2 live, 1 reconnecting, 0 stale.
    pub feed_state: IntGaugeVec,
    /// Client messages refused for rate.
    pub rate_limited: IntCounter,
    /// 1 while connected to the bus (ingest and edge nodes), else 0.
    pub bus_connected: IntGauge,
    /// Bus messages by kind: batch_out, batch_in, heartbeat_out, heartbeat_in, state_served, state_received;
    /// alert events published (alert_out) and relayed by an edge (alert_in); alert API
    /// requests an edge forwarded and had answered (alert_api), and the ingest node answered
    /// (alert_api_served).
    pub bus_messages: IntCounterVec,
    /// Edge: the age of each batch when it arrives (its server time to now).
    pub bus_lag_seconds: Histogram,
    /// Edge: full state transfers, by reason (start, gap, epoch, rev, reconnect).
    pub bus_resyncs: IntCounterVec,
    /// Ingest: state requests by outcome (`done`, `gave_up`, `publish_failed`,
    /// `expired`, `queue_full`).
    pub bus_state_transfers: IntCounterVec,
    /// Bus messages that could not be sent or read, by kind (as `bus_messages`;
    /// `alert_api`: a forwarded request unanswered, or its answer unreadable).
    pub bus_errors: IntCounterVec,
    /// The ingest node's newest batch number this node published or applied.
    pub bus_seq: IntGauge,
    /// Bytes the history store takes on disk (database and write-ahead log).
    pub store_bytes: IntGauge,
    /// From a change reaching the history store to its commit.
    pub store_write_lag_seconds: Histogram,
    /// 1 while the history store's last write failed, else 0.
    pub store_failing: IntGauge,
    /// Bars and quotes written to the history store.
    pub store_rows_written: IntCounter,
    /// Rows waiting for the history store's next write.
    pub store_pending_rows: IntGauge,
    /// Bars of feeds' history not yet handed to the history store.
    pub store_history_waiting: IntGauge,
    /// Bars dropped because too many waited while writes failed.
    pub store_dropped_rows: IntCounter,
    /// History store writes that failed (each is retried).
    pub store_errors: IntCounter,
    /// Webhook deliveries ended, by outcome (`delivered`, `failed`, `dropped`).
    pub webhook_deliveries: IntCounterVec,
    /// Webhook POSTs made (retries included).
    pub webhook_attempts: IntCounter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

fn counter_vec(registry: &Registry, name: &str, help: &str, label: &str) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("valid metric");
    registry
        .register(Box::new(h.clone()))
        .expect("unique metric");
    h
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new_custom(Some("tickertape".into()), None).expect("valid prefix");
        let connections = gauge(&r, "connections", "WebSocket sessions open now");
        let feed_state = IntGaugeVec::new(
            Opts::new("feed_state", "Feed state: 2 live, 1 reconnecting, 0 stale"),
            &["feed"],
        )
        .expect("valid metric");
        r.register(Box::new(feed_state.clone()))
            .expect("unique metric");
        let events_rejected = IntCounterVec::new(
            Opts::new(
                "feed_events_rejected_total",
                "Feed events dropped for a timestamp too far from the server's clock, by feed and reason",
            ),
            &["feed", "reason"],
        )
        .expect("valid metric");
        r.register(Box::new(events_rejected.clone()))
            .expect("unique metric");
        let fast = vec![
            0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05,
        ];
        let lag = vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];
        Metrics {
            sessions_opened: counter(&r, "sessions_opened_total", "WebSocket sessions opened"),
            sessions_closed: counter_vec(
                &r,
                "sessions_closed_total",
                "WebSocket sessions ended, by close code sent",
                "code",
            ),
            upgrades_refused: counter_vec(
                &r,
                "upgrades_refused_total",
                "WebSocket upgrades refused, by reason",
                "reason",
            ),
            tasks: gauge(
                &r,
                "tasks_alive",
                "Tasks alive on the server's runtime (read when scraped)",
            ),
            http_connections: gauge(
                &r,
                "http_connections",
                "Sockets open now, HTTP and upgraded",
            ),
            http_closed: counter_vec(
                &r,
                "http_connections_closed_total",
                "Sockets closed by a timeout or refused at the cap, by reason",
                "reason",
            ),
            messages_out: counter(&r, "messages_out_total", "WebSocket messages sent"),
            bytes_out: counter(&r, "bytes_out_total", "WebSocket payload bytes sent"),
            conflations: counter(
                &r,
                "conflations_total",
                "Diffs merged for sessions that fell behind",
            ),
            resumes: counter_vec(
                &r,
                "resumes_total",
                "resume requests, by answer: diff (continued) or snapshot",
                "answer",
            ),
            merges_shared: counter(
                &r,
                "conflations_shared_total",
                "Merged diffs reused from another session behind by the same span",
            ),
            fanout_sends: counter(
                &r,
                "fanout_sends_total",
                "Diffs sent by the fan-out writers for sessions that keep up",
            ),
            evictions: counter(
                &r,
                "slow_consumer_evictions_total",
                "Sessions closed with 1013 for not keeping up",
            ),
            batches: counter(&r, "batches_total", "Batches published by the hub"),
            batch_encode_seconds: histogram(
                &r,
                "batch_encode_seconds",
                "Time to diff and encode one batch",
                fast,
            ),
            flush_lag_seconds: histogram(
                &r,
                "flush_lag_seconds",
                "How late a flush ran after its schedule",
                lag.clone(),
            ),
            events_in: counter_vec(
                &r,
                "feed_events_total",
                "Trades and book updates received, by feed",
                "feed",
            ),
            rate_limited: counter(&r, "rate_limited_total", "Client messages refused for rate"),
            bus_connected: gauge(&r, "bus_connected", "1 while connected to the bus"),
            bus_messages: counter_vec(&r, "bus_messages_total", "Bus messages, by kind", "kind"),
            bus_lag_seconds: histogram(
                &r,
                "bus_lag_seconds",
                "Age of a batch from the bus when an edge receives it",
                lag,
            ),
            bus_resyncs: counter_vec(
                &r,
                "bus_resyncs_total",
                "Full state transfers from the ingest node, by reason",
                "reason",
            ),
            bus_state_transfers: counter_vec(
                &r,
                "bus_state_transfers_total",
                "State requests an ingest node handled, by outcome",
                "outcome",
            ),
            bus_errors: counter_vec(
                &r,
                "bus_errors_total",
                "Bus messages not sent or not understood, by kind",
                "kind",
            ),
            bus_seq: gauge(
                &r,
                "bus_seq",
                "Newest ingest batch number published or applied",
            ),
            store_bytes: gauge(&r, "store_bytes", "Bytes the history store takes on disk"),
            store_write_lag_seconds: histogram(
                &r,
                "store_write_lag_seconds",
                "From a change reaching the history store to its commit",
                vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0],
            ),
            store_failing: gauge(
                &r,
                "store_failing",
                "1 while the history store cannot write",
            ),
            store_rows_written: counter(
                &r,
                "store_rows_written_total",
                "Bars and quotes written to the history store",
            ),
            store_pending_rows: gauge(
                &r,
                "store_pending_rows",
                "Rows waiting for the history store's next write",
            ),
            store_history_waiting: gauge(
                &r,
                "store_history_waiting",
                "Bars of feeds' history not yet handed to the history store",
            ),
            store_dropped_rows: counter(
                &r,
                "store_dropped_rows_total",
                "Bars dropped while the history store could not write",
            ),
            store_errors: counter(
                &r,
                "store_errors_total",
                "History store writes that failed (and were retried)",
            ),
            webhook_deliveries: counter_vec(
                &r,
                "webhook_deliveries_total",
                "Alert webhook deliveries ended, by outcome (delivered, failed, dropped)",
                "outcome",
            ),
            webhook_attempts: counter(
                &r,
                "webhook_attempts_total",
                "Alert webhook POSTs made, retries included",
            ),
            connections,
            events_rejected,
            feed_state,
            registry: r,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let alive = runtime.metrics().num_alive_tasks();
            self.tasks.set(i64::try_from(alive).unwrap_or(i64::MAX));
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Shared handle.
pub type SharedMetrics = Arc<Metrics>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_in_prometheus_text_format() {
        let m = Metrics::new();
        m.connections.set(3);
        m.sessions_closed.with_label_values(&["1013"]).inc();
        m.feed_state.with_label_values(&["sim"]).set(2);
        let text = m.render();
        assert!(text.contains("# TYPE tickertape_connections gauge"));
        assert!(text.contains("tickertape_connections 3"));
        assert!(text.contains("tickertape_sessions_closed_total{code=\"1013\"} 1"));
        assert!(text.contains("tickertape_feed_state{feed=\"sim\"} 2"));
    }
}
