//! Webhook delivery of alert firings.
//!
//! A firing is POSTed to its rule's webhook as the same JSON the WebSocket
//! `alert` message carries, signed with HMAC-SHA256 of the body under
//! `--webhook-secret` (header [`SIGNATURE`], `sha256=<hex>`). Deliveries
//! queue here and run on their own tasks, so the hub never waits for a
//! receiver: a 2xx answer delivers, a 5xx, 408, 429 or a network failure is
//! retried with backoff (a 429's `Retry-After` honoured) up to
//! [`ATTEMPTS`] POSTs, any other answer fails at once.
//!
//! Webhook URLs are user input, so a target must match an entry of
//! `--webhook-allow` (none by default: no webhooks), requests time out,
//! redirects are not followed and at most [`MAX_RESPONSE`] bytes of an
//! answer are read.

use std::sync::Arc;
use std::time::Duration;

use app::protocol::{Delivery, DeliveryState};
use futures_util::StreamExt;
use reqwest::Url;
use ring::hmac;
use tokio::sync::{Semaphore, mpsc};

use crate::backoff::Backoff;
use crate::metrics::SharedMetrics;

/// The signature header: `sha256=` and the hex HMAC-SHA256 of the body.
pub const SIGNATURE: &str = "x-tickertape-signature";
/// Names one firing (`<alert id>-<trade ts>`); retries carry the same, so a
/// receiver can drop a duplicate.
pub const DELIVERY_ID: &str = "x-tickertape-delivery";
/// Which POST of this delivery it is, from 1.
pub const ATTEMPT: &str = "x-tickertape-attempt";

/// POSTs per delivery at most.
pub const ATTEMPTS: u32 = 6;
/// Bytes of an answer read at most (the rest is dropped with the connection).
pub const MAX_RESPONSE: usize = 64 * 1024;
/// Deliveries waiting to start; beyond this a firing's delivery is dropped
/// (and counted) rather than making the hub wait.
const QUEUE: usize = 1_024;
/// Deliveries in flight at once.
const CONCURRENT: usize = 32;

/// Where webhooks may go and how they are signed and paced.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub allow: Vec<Target>,
    pub secret: String,
    /// The limit on one POST, connection to the last byte read.
    pub timeout: Duration,
    /// Between attempts (grows, with jitter).
    pub backoff: Backoff,
}

impl WebhookConfig {
    pub fn new(allow: Vec<Target>, secret: String) -> WebhookConfig {
        WebhookConfig {
            allow,
            secret,
            timeout: Duration::from_secs(10),
            backoff: Backoff {
                base: Duration::from_secs(1),
                max: Duration::from_secs(60),
                reset_after: Duration::ZERO,
            },
        }
    }

    /// The URL `raw` names, if a target admits it; else why not.
    pub fn check(&self, raw: &str) -> Result<Url, String> {
        let url = Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http or https URL".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".into());
        }
        if self.allow.iter().any(|t| t.admits(&url)) {
            Ok(url)
        } else {
            Err("not an allowed target (--webhook-allow)".into())
        }
    }
}

/// An entry of `--webhook-allow`: a scheme, host and port, and a path
/// prefix (`https://hooks.example.com/tickertape/`). A URL matches when the
/// first three are equal and its path starts with the prefix.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    scheme: String,
    host: String,
    port: Option<u16>,
    path: String,
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(raw: &str) -> Result<Target, String> {
        let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{raw:?}: a webhook target must be http or https"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("{raw:?} names no host"))?;
        Ok(Target {
            scheme: url.scheme().to_owned(),
            host: host.to_owned(),
            port: url.port_or_known_default(),
            path: url.path().to_owned(),
        })
    }
}

impl Target {
    fn admits(&self, url: &Url) -> bool {
        url.scheme() == self.scheme
            && url.host_str() == Some(self.host.as_str())
            && url.port_or_known_default() == self.port
            && url.path().starts_with(&self.path)
    }
}

/// One firing to deliver.
#[derive(Debug)]
pub struct Job {
    pub alert: u64,
    /// The trade's time: with the alert id it names the firing.
    pub ts: i64,
    pub url: Url,
    pub body: Arc<str>,
}

/// Told where a delivery stands after each attempt.
pub type Report = Arc<dyn Fn(u64, i64, Delivery) + Send + Sync>;

/// The queue deliveries are handed to.
pub struct Webhooks {
    config: WebhookConfig,
    jobs: mpsc::Sender<Job>,
    metrics: SharedMetrics,
}

impl Webhooks {
    /// Starts delivering on the current runtime; `report` hears each
    /// delivery's progress.
    pub fn start(config: WebhookConfig, metrics: SharedMetrics, report: Report) -> Webhooks {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tickertape/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let sender = Sender {
            client,
            key: hmac::Key::new(hmac::HMAC_SHA256, config.secret.as_bytes()),
            backoff: config.backoff.clone(),
            metrics: metrics.clone(),
            report,
        };
        tokio::spawn(sender.run(queue));
        Webhooks {
            config,
            jobs,
            metrics,
        }
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// Queues a delivery without waiting; whether it was queued.
    pub fn send(&self, job: Job) -> bool {
        match self.jobs.try_send(job) {
            Ok(()) => true,
            Err(e) => {
                self.metrics
                    .webhook_deliveries
                    .with_label_values(&["dropped"])
                    .inc();
                tracing::warn!(error = %e, "a webhook delivery was dropped: the queue is full");
                false
            }
        }
    }
}

/// The hex HMAC-SHA256 of `body` under `secret`, as the signature header
/// carries it after `sha256=`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    hex(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), body).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Sender {
    client: reqwest::Client,
    key: hmac::Key,
    backoff: Backoff,
    metrics: SharedMetrics,
    report: Report,
}

/// What one attempt came to.
enum Attempt {
    Delivered(u16),
    /// Worth trying again (after the receiver's `Retry-After`, if it said).
    Retry {
        status: Option<u16>,
        error: String,
        after: Option<Duration>,
    },
    /// Trying again will not help.
    Refused(u16, String),
}

impl Sender {
    async fn run(self, mut queue: mpsc::Receiver<Job>) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(CONCURRENT));
        while let Some(job) = queue.recv().await {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let this = this.clone();
            tokio::spawn(async move {
                this.deliver(job).await;
                drop(slot);
            });
        }
    }

    async fn deliver(&self, job: Job) {
        let signature = format!(
            "sha256={}",
            hex(hmac::sign(&self.key, job.body.as_bytes()).as_ref())
        );
        let id = format!("{}-{}", job.alert, job.ts);
        let mut delivery = Delivery {
            state: DeliveryState::Pending,
            attempts: 0,
            status: None,
            error: None,
        };
        for attempt in 1..=ATTEMPTS {
            delivery.attempts = attempt;
            self.metrics.webhook_attempts.inc();
            let outcome = self.post(&job, &signature, &id, attempt).await;
            let wait = match outcome {
                Attempt::Delivered(status) => {
                    delivery.state = DeliveryState::Delivered;
                    delivery.status = Some(status);
                    delivery.error = None;
                    break;
                }
                Attempt::Refused(status, error) => {
                    delivery.state = DeliveryState::Failed;
                    delivery.status = Some(status);
                    delivery.error = Some(error);
                    break;
                }
                Attempt::Retry {
                    status,
                    error,
                    after,
                } => {
                    delivery.status = status;
                    delivery.error = Some(error);
                    after
                }
            };
            if attempt == ATTEMPTS {
                delivery.state = DeliveryState::Failed;
                break;
            }
            (self.report)(job.alert, job.ts, delivery.clone());
            let delay = wait
                .unwrap_or_else(|| self.backoff.delay(attempt - 1, &mut rand::rng()))
                .min(self.backoff.max);
            tokio::time::sleep(delay).await;
        }
        let outcome = match delivery.state {
            DeliveryState::Delivered => "delivered",
            _ => "failed",
        };
        self.metrics
            .webhook_deliveries
            .with_label_values(&[outcome])
            .inc();
        tracing::info!(alert = job.alert, ts = job.ts, outcome, attempts = delivery.attempts, error = ?delivery.error, "webhook delivery ended");
        (self.report)(job.alert, job.ts, delivery);
    }

    async fn post(&self, job: &Job, signature: &str, id: &str, attempt: u32) -> Attempt {
        let request = self
            .client
            .post(job.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE, signature)
            .header(DELIVERY_ID, id)
            .header(ATTEMPT, attempt.to_string())
            .body(job.body.to_string());
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return Attempt::Retry {
                    status: None,
                    error: describe(&e),
                    after: None,
                };
            }
        };
        let status = response.status();
        let after = crate::feed::rest::retry_after(response.headers());
        // Read a bounded part of the answer (for the error shown), within the timeout.
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(Ok(chunk)) = stream.next().await {
            let room = MAX_RESPONSE - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_RESPONSE {
                break;
            }
        }
        let code = status.as_u16();
        let said = || {
            let text = String::from_utf8_lossy(&body);
            let text: String = text.trim().chars().take(200).collect();
            if text.is_empty() {
                format!("HTTP {code}")
            } else {
                format!("HTTP {code}: {text}")
            }
        };
        if status.is_success() {
            Attempt::Delivered(code)
        } else if status.is_server_error() || code == 408 || code == 429 {
            Attempt::Retry {
                status: Some(code),
                error: said(),
                after,
            }
        } else if status.is_redirection() {
            Attempt::Refused(code, format!("HTTP {code}: redirects are not followed"))
        } else {
            Attempt::Refused(code, said())
        }
    }
}

/// A request error, without the URL (the receiver's address is the
/// user's; its query may hold a token).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(error);
    let mut detail = String::new();
    while let Some(e) = source {
        detail = e.to_string();
        source = e.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(allow: &[&str]) -> WebhookConfig {
        WebhookConfig::new(
            allow.iter().map(|a| a.parse().expect("target")).collect(),
            "s3cret".into(),
        )
    }

    #[test]
    fn only_urls_an_allowed_target_admits_pass() {
        let c = config(&[
            "https://hooks.example.com/tickertape/",
            "http://127.0.0.1:9000",
        ]);
        assert!(
            c.check("https://hooks.example.com/tickertape/a?x=1")
                .is_ok()
        );
        assert!(c.check("https://hooks.example.com:443/tickertape/").is_ok());
        assert!(c.check("http://127.0.0.1:9000/anything").is_ok());
        for bad in [
            "https://hooks.example.com/other",
            "http://hooks.example.com/tickertape/",
            "https://hooks.example.com.evil.net/tickertape/",
            "https://user:pw@hooks.example.com/tickertape/",
            "http://127.0.0.1:9001/",
            "http://localhost:9000/",
            "ftp://127.0.0.1:9000/",
            "not a url",
        ] {
            assert!(c.check(bad).is_err(), "{bad} must be refused");
        }
        assert!(
            config(&[]).check("http://127.0.0.1:9000/").is_err(),
            "none by default"
        );
        assert!("file:///etc".parse::<Target>().is_err());
    }

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
