//! Command line, environment and config file, parsed once into [`Config`].
//!
//! Precedence: command line, then `TICKERTAPE_*` environment variables, then
//! the TOML file named by `--config` (keys are the long flag names), then the
//! defaults written here.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};

use crate::feed::replay::Speed;
use crate::feed::sim::SimClock;
use crate::feed::{FeedSpec, alpaca, coinbase, finnhub, rest};

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What one process does in a deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Feeds, hub and browsers in one process; no bus.
    All,
    /// Runs the feeds and the hub and publishes to the bus; serves the API,
    /// probes and metrics (browsers only with --serve-browsers).
    Ingest,
    /// Runs no feeds: mirrors the ingest node from the bus and serves browsers.
    Edge,
}

/// tickertape: a live market dashboard. Serves the page, a WebSocket feed of
/// quote diffs (protocol v1 at /ws) and a JSON API, from simulated or real
/// market data.
#[derive(Clone, Debug, Parser)]
#[command(name = "tickertape", version, max_term_width = 100)]
pub struct Config {
    /// Address to serve HTTP and WebSocket on.
    #[arg(long, env = "TICKERTAPE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// What this process does: all (one process), ingest (feeds → bus) or edge (bus → browsers).
    #[arg(long, env = "TICKERTAPE_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,

    /// NATS server for --role ingest and edge, e.g. nats://127.0.0.1:4222 (comma-separated: several).
    #[arg(long, env = "TICKERTAPE_BUS", hide_env_values = true, required_if_eq_any = [("role", "ingest"), ("role", "edge")])]
    pub bus: Option<String>,

    /// User name on the bus (with --bus-password).
    #[arg(long, env = "TICKERTAPE_BUS_USER", requires = "bus_password")]
    pub bus_user: Option<String>,

    /// Password for --bus-user.
    #[arg(
        long,
        env = "TICKERTAPE_BUS_PASSWORD",
        hide_env_values = true,
        requires = "bus_user"
    )]
    pub bus_password: Option<String>,

    /// Token for a bus that authorizes by token.
    #[arg(long, env = "TICKERTAPE_BUS_TOKEN", hide_env_values = true, conflicts_with_all = ["bus_user", "bus_nkey", "bus_creds"])]
    pub bus_token: Option<String>,

    /// File holding an NKey user seed (SU…) to sign in to the bus with.
    #[arg(long, env = "TICKERTAPE_BUS_NKEY", conflicts_with_all = ["bus_user", "bus_creds"])]
    pub bus_nkey: Option<PathBuf>,

    /// NATS credentials file (.creds: a user JWT and its NKey seed).
    #[arg(long, env = "TICKERTAPE_BUS_CREDS", conflicts_with = "bus_user")]
    pub bus_creds: Option<PathBuf>,

    /// PEM file of the CA that signed the bus's certificate: TLS to the bus is then required.
    #[arg(long, env = "TICKERTAPE_BUS_CA")]
    pub bus_ca: Option<PathBuf>,

    /// Subject prefix on the bus; the nodes of one cluster share it.
    #[arg(long, env = "TICKERTAPE_BUS_SUBJECT", default_value = "tickertape")]
    pub bus_subject: String,

    /// Milliseconds between the ingest node's heartbeats; edges call it gone after three missed.
    #[arg(long, env = "TICKERTAPE_BUS_HEARTBEAT_MS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub bus_heartbeat_ms: u64,

    /// With --role ingest: serve the page and /ws too (by default only the API, probes and metrics).
    #[arg(long, env = "TICKERTAPE_SERVE_BROWSERS")]
    pub serve_browsers: bool,

    /// Market-data source; repeat for several: sim, replay:<file.csv>, push:<name>, finnhub, coinbase, alpaca.
    #[arg(
        long = "feed",
        env = "TICKERTAPE_FEED",
        value_delimiter = ',',
        default_value = "sim"
    )]
    pub feeds: Vec<FeedSpec>,

    /// Symbols to serve, comma-separated (default: each feed's own list).
    #[arg(long, env = "TICKERTAPE_SYMBOLS", value_delimiter = ',')]
    pub symbols: Vec<String>,

    /// Seed of the simulator's random walk (default: random, logged at start).
    #[arg(long, env = "TICKERTAPE_SEED")]
    pub seed: Option<u64>,

    /// Serve exactly this many simulated symbols: the 40 default equities, then synthetic ones.
    #[arg(long, env = "TICKERTAPE_SIM_SYMBOLS", value_parser = clap::value_parser!(u32).range(1..=100_000), conflicts_with = "symbols")]
    pub sim_symbols: Option<u32>,

    /// Simulated trades per symbol per second (default: 1.5 to 8, random per symbol).
    #[arg(long, env = "TICKERTAPE_SIM_RATE", value_parser = trades_per_second)]
    pub sim_rate: Option<f64>,

    /// The simulator's clock: always (every hour a trading day's middle) or
    /// market (the US equities calendar: pre-market, regular, after hours,
    /// closed).
    #[arg(long, env = "TICKERTAPE_SIM_CLOCK", value_enum, default_value_t = SimClock::Always)]
    pub sim_clock: SimClock,

    /// Start the simulated clock at this instant (RFC 3339, e.g.
    /// 2026-03-09T09:29:00-04:00) instead of now.
    #[arg(long, env = "TICKERTAPE_SIM_START")]
    pub sim_start: Option<chrono::DateTime<chrono::FixedOffset>>,

    /// Run the simulated clock this many times as fast as the wall clock.
    #[arg(long, env = "TICKERTAPE_SIM_SPEED", default_value_t = 1.0, value_parser = sim_speed)]
    pub sim_speed: f64,

    /// Halt a simulated symbol now and then for a minute (with --sim-clock market).
    #[arg(long, env = "TICKERTAPE_SIM_HALTS")]
    pub sim_halts: bool,

    /// Start the simulator paused: it trades only when the control API steps it (needs --control-token).
    #[arg(long, env = "TICKERTAPE_SIM_PAUSED", requires = "control_token")]
    pub sim_paused: bool,

    /// Milliseconds between steps of the simulator's walk.
    #[arg(long, env = "TICKERTAPE_TICK_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub tick_ms: u64,

    /// Milliseconds between batches of changes sent to clients.
    #[arg(long, env = "TICKERTAPE_FLUSH_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub flush_ms: u64,

    /// Origin allowed to open /ws besides the page's own (e.g. https://dash.example.com); repeatable.
    #[arg(
        long = "allowed-origin",
        env = "TICKERTAPE_ALLOWED_ORIGIN",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// The origin browsers open the page at (e.g. https://dash.example.com): its host is served, and it may open /ws.
    #[arg(long, env = "TICKERTAPE_PUBLIC_ORIGIN", value_parser = public_origin)]
    pub public_origin: Option<String>,

    /// Host (name[:port]) requests may be addressed to, repeatable; with it or --public-origin, others get 421.
    #[arg(
        long = "allowed-host",
        env = "TICKERTAPE_ALLOWED_HOST",
        value_delimiter = ',',
        value_parser = allowed_host
    )]
    pub allowed_hosts: Vec<String>,

    /// Behind a TLS-terminating proxy: believe its X-Forwarded-Proto (https makes the token cookie Secure).
    #[arg(long, env = "TICKERTAPE_TRUST_PROXY")]
    pub trust_proxy: bool,

    /// Milliseconds between WebSocket pings to each client.
    #[arg(long, env = "TICKERTAPE_HEARTBEAT_MS", default_value_t = 15_000, value_parser = clap::value_parser!(u64).range(100..=DAY_MS))]
    pub heartbeat_ms: u64,

    /// Close a client silent for this many milliseconds (no frame, no pong).
    #[arg(long, env = "TICKERTAPE_HEARTBEAT_TIMEOUT_MS", default_value_t = 45_000, value_parser = clap::value_parser!(u64).range(100..=DAY_MS))]
    pub heartbeat_timeout_ms: u64,

    /// Client messages allowed per second on one connection (bursts of twice that).
    #[arg(long, env = "TICKERTAPE_CLIENT_MSG_RATE", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub client_msg_rate: u32,

    /// Shared secret every route but /healthz requires (Bearer header, ?token=, or the cookie it sets).
    #[arg(long, env = "TICKERTAPE_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,

    /// Secret a push feed's pushers present (Bearer header); without it only this machine may push.
    #[arg(long, env = "TICKERTAPE_PUSH_TOKEN", hide_env_values = true)]
    pub push_token: Option<String>,

    /// At shutdown (SIGTERM), clients are closed with 1012 and told to reconnect after a random
    /// delay within this many ms, so a restart does not bring them all back in the same second
    /// (0: no spread, every client told to come back at once).
    #[arg(long, env = "TICKERTAPE_RESTART_SPREAD_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub restart_spread_ms: u64,

    /// Turns on the control API at /api/control/… for end-to-end tests (pause and step the
    /// simulator, set prices, halt symbols, fail feeds, drop every WebSocket); requests need
    /// Authorization: Bearer <token>. Never on a server real users see.
    #[arg(long, env = "TICKERTAPE_CONTROL_TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,

    /// Seconds an `every` alert waits after firing before it can fire again.
    #[arg(long, env = "TICKERTAPE_ALERT_COOLDOWN", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=DAY_S))]
    pub alert_cooldown: u64,

    /// How far back an `every` alert's figure must go before it is re-armed: percent of a price level, or points of a change-% value.
    #[arg(long, env = "TICKERTAPE_ALERT_REARM", default_value_t = 0.1, value_parser = rearm_margin)]
    pub alert_rearm: f64,

    /// Where alert webhooks may be sent: URL prefixes (scheme, host, port and path start), comma-separated or repeated. None by default: webhooks are refused.
    #[arg(
        long,
        env = "TICKERTAPE_WEBHOOK_ALLOW",
        value_delimiter = ',',
        requires = "webhook_secret"
    )]
    pub webhook_allow: Vec<crate::webhook::Target>,

    /// Secret that signs each webhook POST (HMAC-SHA256 of the body, header X-Tickertape-Signature: sha256=<hex>).
    #[arg(long, env = "TICKERTAPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// PEM certificate chain: serve https and wss (with --tls-key).
    #[arg(long, env = "TICKERTAPE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "TICKERTAPE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// WebSocket clients served at once; more get HTTP 503.
    #[arg(long, env = "TICKERTAPE_MAX_CONNECTIONS", default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Symbols one connection may subscribe to by name (`*` always works).
    #[arg(long, env = "TICKERTAPE_MAX_SYMBOLS_PER_CLIENT", default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_symbols_per_client: u32,

    /// Seconds a new WebSocket client may take to send its first message.
    #[arg(long, env = "TICKERTAPE_FIRST_MESSAGE_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=DAY_S))]
    pub first_message_timeout: u64,

    /// Sockets open at once, HTTP and WebSocket (default: the open-file limit less 256); more are closed at once.
    #[arg(long, env = "TICKERTAPE_MAX_OPEN_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_open_connections: Option<u32>,

    /// Seconds from accepting a connection to its first request (TLS handshake and request head included).
    #[arg(long, env = "TICKERTAPE_HANDSHAKE_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=DAY_S))]
    pub handshake_timeout: u64,

    /// Seconds an HTTP/1.1 or HTTP/2 connection may stay open with no request and no byte moving.
    #[arg(long, env = "TICKERTAPE_IDLE_TIMEOUT", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=DAY_S))]
    pub idle_timeout: u64,

    /// Seconds an HTTP response may wait for a client that does not read it before it is abandoned.
    #[arg(long, env = "TICKERTAPE_WRITE_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=DAY_S))]
    pub write_timeout: u64,

    /// Milliseconds a send to one client may take; slower clients are closed with 1013.
    #[arg(long, env = "TICKERTAPE_SEND_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(10..=DAY_MS))]
    pub send_timeout_ms: u64,

    /// Seconds from SIGTERM to exit: requests in flight and WebSocket close frames get this long.
    #[arg(long, env = "TICKERTAPE_SHUTDOWN_TIMEOUT", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=3_600))]
    pub shutdown_timeout: u64,

    /// Directory of the history store (bars and session figures survive restarts here).
    #[arg(long, env = "TICKERTAPE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Keep history in memory only, as if every start were the first (no --data-dir).
    #[arg(long, env = "TICKERTAPE_EPHEMERAL", conflicts_with = "data_dir")]
    pub ephemeral: bool,
    /// Directory with the built site (wasm, JS, CSS, static assets).
    #[arg(long, env = "TICKERTAPE_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Log format.
    #[arg(long, env = "TICKERTAPE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Milliseconds a live feed's timestamp may be ahead of this server's clock; later ones are dropped.
    #[arg(long, env = "TICKERTAPE_CLOCK_SKEW_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub clock_skew_ms: u64,

    /// Seconds a live feed's timestamp may be behind this server's clock; older ones are dropped.
    #[arg(long, env = "TICKERTAPE_MAX_EVENT_AGE", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub max_event_age: u64,

    /// Seconds a provider feed may stay silent before it is reconnected.
    #[arg(long, env = "TICKERTAPE_FEED_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=DAY_S))]
    pub feed_timeout: u64,

    /// Replay pace: a factor of recorded time (2 = twice as fast), or max.
    #[arg(long, env = "TICKERTAPE_REPLAY_SPEED", default_value = "1")]
    pub replay_speed: Speed,

    /// Start a replay again (moved forward in time) when it reaches the end.
    #[arg(long, env = "TICKERTAPE_REPLAY_LOOP")]
    pub replay_loop: bool,

    /// Bars per interval (1m, 5m, 15m, 1h, 1d) a provider feed loads from
    /// its REST API at start (after a restart: only what the store lacks);
    /// after an outage it loads exactly the span it missed. 0: none.
    #[arg(long, env = "TICKERTAPE_BACKFILL_BARS", default_value_t = rest::DEFAULT_DEPTH)]
    pub backfill_bars: usize,

    /// Finnhub API token (sent as ?token=).
    #[arg(long, env = "TICKERTAPE_FINNHUB_TOKEN", hide_env_values = true)]
    pub finnhub_token: Option<String>,

    /// Finnhub WebSocket endpoint.
    #[arg(long, env = "TICKERTAPE_FINNHUB_URL", default_value = finnhub::DEFAULT_URL)]
    pub finnhub_url: String,

    /// Finnhub REST API (history).
    #[arg(long, env = "TICKERTAPE_FINNHUB_REST_URL", default_value = finnhub::DEFAULT_REST_URL)]
    pub finnhub_rest_url: String,

    /// Symbols to subscribe on Finnhub (default: --symbols, else the 40 default equities).
    #[arg(long, env = "TICKERTAPE_FINNHUB_SYMBOLS", value_delimiter = ',')]
    pub finnhub_symbols: Vec<String>,

    /// Coinbase Exchange WebSocket endpoint (public data, no key).
    #[arg(long, env = "TICKERTAPE_COINBASE_URL", default_value = coinbase::DEFAULT_URL)]
    pub coinbase_url: String,

    /// Coinbase Exchange REST API (history).
    #[arg(long, env = "TICKERTAPE_COINBASE_REST_URL", default_value = coinbase::DEFAULT_REST_URL)]
    pub coinbase_rest_url: String,

    /// Coinbase product ids (default: --symbols, else BTC-USD, ETH-USD, SOL-USD, XRP-USD, DOGE-USD, LTC-USD).
    #[arg(long, env = "TICKERTAPE_COINBASE_PRODUCTS", value_delimiter = ',')]
    pub coinbase_products: Vec<String>,

    /// Alpaca market data endpoint (…/v2/iex or …/v2/sip).
    #[arg(long, env = "TICKERTAPE_ALPACA_URL", default_value = alpaca::DEFAULT_URL)]
    pub alpaca_url: String,

    /// Alpaca market data REST API (history).
    #[arg(long, env = "TICKERTAPE_ALPACA_REST_URL", default_value = alpaca::DEFAULT_REST_URL)]
    pub alpaca_rest_url: String,

    /// Alpaca API key id.
    #[arg(long, env = "TICKERTAPE_ALPACA_KEY", hide_env_values = true)]
    pub alpaca_key: Option<String>,

    /// Alpaca API secret key.
    #[arg(long, env = "TICKERTAPE_ALPACA_SECRET", hide_env_values = true)]
    pub alpaca_secret: Option<String>,

    /// Symbols to subscribe on Alpaca (default: --symbols, else the 40 default equities).
    #[arg(long, env = "TICKERTAPE_ALPACA_SYMBOLS", value_delimiter = ',')]
    pub alpaca_symbols: Vec<String>,

    /// TOML file with defaults for any of these flags, keyed by long name (e.g. flush-ms = 250).
    #[arg(long, env = "TICKERTAPE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Whether `--feed` (or its variable, or the file) named the feeds, or
    /// they are the default.
    #[arg(skip)]
    pub feeds_given: bool,
}

/// The longest any timeout may be: beyond it, deadlines overflow the clock.
const DAY_S: u64 = 86_400;
const DAY_MS: u64 = DAY_S * 1_000;

/// `--sim-speed`: a positive, finite factor, at most 100,000.
fn sim_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(speed) if speed > 0.0 && speed <= 100_000.0 => Ok(speed),
        _ => Err(format!(
            "must be a factor from above 0 to 100000, not {text:?}"
        )),
    }
}

/// `--sim-rate`: a positive, finite number of trades a second, at most 10,000.
fn trades_per_second(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate <= 10_000.0 => Ok(rate),
        _ => Err(format!(
            "must be a number of trades per second from above 0 to 10000, not {text:?}"
        )),
    }
}

/// `--alert-rearm`: a margin from 0 to 100.
fn rearm_margin(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(margin) if (0.0..=100.0).contains(&margin) => Ok(margin),
        _ => Err(format!("must be a number from 0 to 100, not {text:?}")),
    }
}

/// `--public-origin`: `http` or `https`, `://`, a host and maybe a port;
/// nothing after (a trailing `/` is dropped). Kept lower-case.
fn public_origin(text: &str) -> Result<String, String> {
    let origin = text.trim_end_matches('/').to_ascii_lowercase();
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match host {
        Some(host) if crate::guard::is_host_syntax(host) && !host.is_empty() => Ok(origin),
        _ => Err(format!(
            "must be an origin such as https://dash.example.com (scheme, host, optional port), not {text:?}"
        )),
    }
}

/// `--allowed-host`: a host name or address, maybe with a port. Kept lower-case.
fn allowed_host(text: &str) -> Result<String, String> {
    if crate::guard::is_host_syntax(text) && !text.is_empty() {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!(
            "must be a host such as dash.example.com or 10.0.0.5:3000, not {text:?}"
        ))
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Args(#[from] clap::Error),
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
}

impl Config {
    /// Parses the process's arguments, environment and config file.
    pub fn load() -> Result<Config, ConfigError> {
        Config::from_args(std::env::args_os())
    }

    /// Parses `args` (the first is the program name) as [`Config::load`] does.
    pub fn from_args<I: IntoIterator<Item = T>, T: Into<OsString>>(
        args: I,
    ) -> Result<Config, ConfigError> {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let command = Config::command();
        let matches = command.clone().try_get_matches_from(&args)?;
        let Some(path) = matches.get_one::<PathBuf>("config") else {
            return Config::parsed(&matches);
        };
        let file_args = file_arguments(path, &command, &matches)?;
        let merged = args
            .iter()
            .take(1)
            .cloned()
            .chain(file_args)
            .chain(args.iter().skip(1).cloned());
        let matches = command.try_get_matches_from(merged)?;
        Config::parsed(&matches)
    }

    fn parsed(matches: &clap::ArgMatches) -> Result<Config, ConfigError> {
        let mut config = Config::from_arg_matches(matches)?;
        config.feeds_given = matches
            .value_source("feeds")
            .is_some_and(|source| source != ValueSource::DefaultValue);
        config.checked()
    }

    /// How `every` alerts are re-armed.
    pub fn alert_rearm(&self) -> crate::alerts::Rearm {
        crate::alerts::Rearm {
            price_fraction: self.alert_rearm / 100.0,
            pct_points: self.alert_rearm,
            cooldown_ms: i64::try_from(self.alert_cooldown * 1_000).unwrap_or(i64::MAX),
        }
    }

    /// Where alert webhooks may go and how they are signed (none without `--webhook-allow`).
    pub fn webhooks(&self) -> Option<crate::webhook::WebhookConfig> {
        let secret = self.webhook_secret.clone()?;
        (!self.webhook_allow.is_empty())
            .then(|| crate::webhook::WebhookConfig::new(self.webhook_allow.clone(), secret))
    }

    /// Rules between flags that clap cannot express.
    fn checked(self) -> Result<Config, ConfigError> {
        if self.role == Role::All && self.bus.is_some() {
            let message =
                "--bus needs --role ingest or --role edge (--role all runs without a bus)";
            return Err(Config::command()
                .error(clap::error::ErrorKind::ArgumentConflict, message)
                .into());
        }
        Ok(self)
    }

    /// The bus and how to sign in to it, when `--bus` is given.
    pub fn bus_access(&self) -> Option<crate::bus::BusAccess> {
        use crate::bus::BusAuth;
        let auth = if let (Some(user), Some(password)) = (&self.bus_user, &self.bus_password) {
            BusAuth::UserPassword {
                user: user.clone(),
                password: password.clone(),
            }
        } else if let Some(token) = &self.bus_token {
            BusAuth::Token(token.clone())
        } else if let Some(path) = &self.bus_nkey {
            BusAuth::NKeyFile(path.clone())
        } else if let Some(path) = &self.bus_creds {
            BusAuth::CredsFile(path.clone())
        } else {
            BusAuth::None
        };
        let urls = self.bus.as_deref()?;
        Some(crate::bus::BusAccess::new(urls, auth, self.bus_ca.clone()))
    }

    /// The hosts requests may be addressed to (`--allowed-host` and the
    /// host of `--public-origin`); empty: any host.
    pub fn served_hosts(&self) -> Vec<String> {
        let public = self
            .public_origin
            .as_deref()
            .and_then(|origin| origin.split_once("://"))
            .map(|(_, host)| host.to_string());
        self.allowed_hosts.iter().cloned().chain(public).collect()
    }

    pub fn bus_heartbeat(&self) -> Duration {
        Duration::from_millis(self.bus_heartbeat_ms)
    }

    pub fn flush(&self) -> Duration {
        Duration::from_millis(self.flush_ms)
    }

    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms)
    }
}

/// The config file's settings as arguments, for every flag that neither the
/// command line nor the environment set.
fn file_arguments(
    path: &PathBuf,
    command: &clap::Command,
    matches: &clap::ArgMatches,
) -> Result<Vec<OsString>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let file_error = |message: String| ConfigError::File {
        path: path.clone(),
        message,
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| file_error(e.message().to_string()))?;
    let mut out = Vec::new();
    for (key, value) in table {
        let long = key.replace('_', "-");
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && long != "config")
            .ok_or_else(|| file_error(format!("unknown setting {key:?}")))?;
        let id = arg.get_id().as_str();
        if matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let values = match value {
            toml::Value::Array(items) => items,
            single => vec![single],
        };
        for value in values {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                // A switch: present when true, absent when false.
                toml::Value::Boolean(true) => {
                    out.push(format!("--{long}").into());
                    continue;
                }
                toml::Value::Boolean(false) => continue,
                other => return Err(file_error(format!("{key}: unsupported value {other}"))),
            };
            out.push(format!("--{long}").into());
            out.push(text.into());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_config(text: &str) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.path().join("tickertape.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// A scratch directory removed on drop (std only).
    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                let name = format!(
                    "tickertape-test-{}-{}",
                    std::process::id(),
                    rand::random::<u64>()
                );
                let path = std::env::temp_dir().join(name);
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn defaults_serve_the_simulator_on_port_3000() {
        let config = Config::from_args(["tickertape"]).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(config.feeds, vec![FeedSpec::Sim]);
        assert_eq!(config.flush(), Duration::from_millis(100));
    }

    #[test]
    fn the_command_line_overrides_the_config_file() {
        let (_dir, path) = write_config(
            "flush-ms = 250\ntick_ms = 50\nreplay-loop = true\nallowed-origin = [\"https://a.test\", \"https://b.test\"]\n",
        );
        let path = path.to_str().unwrap();
        let config =
            Config::from_args(["tickertape", "--config", path, "--flush-ms", "40"]).unwrap();
        assert_eq!(
            (config.flush_ms, config.tick_ms, config.replay_loop),
            (40, 50, true)
        );
        assert_eq!(
            config.allowed_origins,
            vec!["https://a.test", "https://b.test"]
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let (_dir, path) = write_config("flush-msec = 250\n");
        let err =
            Config::from_args(["tickertape", "--config", path.to_str().unwrap()]).unwrap_err();
        assert!(
            err.to_string().contains("unknown setting \"flush-msec\""),
            "{err}"
        );
        let err = Config::from_args(["tickertape", "--feed", "bogus"]).unwrap_err();
        assert!(err.to_string().contains("unknown feed \"bogus\""), "{err}");
        assert!(Config::from_args(["tickertape", "--flush-ms", "0"]).is_err());
    }

    #[test]
    fn hosts_and_the_public_origin_are_checked_and_combined() {
        let config = Config::from_args([
            "tickertape",
            "--allowed-host",
            "Edge-1.Internal:3000,10.0.0.5",
            "--public-origin",
            "https://Dash.Example.com/",
        ])
        .unwrap();
        assert_eq!(
            config.public_origin.as_deref(),
            Some("https://dash.example.com")
        );
        assert_eq!(
            config.served_hosts(),
            ["edge-1.internal:3000", "10.0.0.5", "dash.example.com"]
        );
        assert!(
            Config::from_args(["tickertape"])
                .unwrap()
                .served_hosts()
                .is_empty()
        );
        for [flag, value] in [
            ["--public-origin", "dash.example.com"],
            ["--public-origin", "https://dash.example.com/app"],
            ["--public-origin", "ftp://dash.example.com"],
            ["--allowed-host", "a b"],
            ["--allowed-host", "x;y"],
        ] {
            let err = Config::from_args(["tickertape", flag, value]).unwrap_err();
            assert!(err.to_string().contains(flag), "{flag} {value}: {err}");
        }
    }

    #[test]
    fn values_that_would_overflow_or_spin_are_refused_at_start() {
        let refused = [
            ["--replay-speed", "1e-300"],
            ["--replay-speed", "1e300"],
            ["--sim-rate", "0"],
            ["--sim-rate", "NaN"],
            ["--sim-rate", "1e300"],
            ["--shutdown-timeout", "18446744073709551615"],
            ["--handshake-timeout", "18446744073709551615"],
            ["--idle-timeout", "100000000"],
            ["--write-timeout", "100000000"],
            ["--heartbeat-ms", "18446744073709551615"],
            ["--send-timeout-ms", "18446744073709551615"],
            ["--clock-skew-ms", "0"],
            ["--max-event-age", "18446744073709551615"],
        ];
        for [flag, value] in refused {
            let err = Config::from_args(["tickertape", flag, value]).unwrap_err();
            assert!(err.to_string().contains(flag), "{flag} {value}: {err}");
        }
        let config = Config::from_args(["tickertape", "--sim-rate", "2.5"]).unwrap();
        assert_eq!(config.sim_rate, Some(2.5));
    }
}
