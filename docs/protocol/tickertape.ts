// tickertape WebSocket protocol v1 (docs/DESIGN.md), generated from
// app/src/protocol.rs. Do not edit: run `cargo run -p app --features typescript --example protocol-types`.

/**
 * A message from the server (JSON, tagged by `type`).
 */
export type ServerMsg = { "type": "hello", protocol: number, server_time: number, heartbeat_ms: number, 
/**
 * Names the server's batch numbering: `resume` needs the same.
 * (An addition to v1: empty from older servers.)
 */
epoch: string, } | { "type": "snapshot", seq: number, 
/**
 * The server's batch the quotes are current as of (for `resume`;
 * an addition to v1: 0 from older servers).
 */
batch: number, quotes: Array<Quote>, } | { "type": "diff", seq: number, 
/**
 * The server's newest batch this diff includes (see `Snapshot`).
 */
batch: number, ts: number, changes: Array<Change>, } | { "type": "status", feed: string, state: FeedState, } | { "type": "pong", t: number, server_time: number, } | { "type": "error", code: ErrorCode, message: string, } | { "type": "candles", symbol: string, interval: Interval, candles: Array<Candle>, 
/**
 * Which of the connection's charts (absent: 0).
 */
chart?: number, } | { "type": "candle", symbol: string, interval: Interval, candle: Candle, chart?: number, } | { "type": "trades", symbol: string, trades: Array<Trade>, chart?: number, } | { "type": "book", symbol: string, snapshot: boolean, live: boolean, bids: Array<[number, number]>, asks: Array<[number, number]>, 
/**
 * Server time of the state it describes, Unix milliseconds.
 */
ts: number, chart?: number, } | { "type": "alert", id: number, symbol: string, condition: AlertCondition, value: number, price: number, ts: number, } | { "type": "alert_created", alert: Alert, } | { "type": "alert_deleted", id: number, } | { "type": "alert_updated", alert: Alert, };

/**
 * A message from a client (text frame, JSON, tagged by `op`).
 */
export type ClientMsg = { "op": "subscribe", symbols: Array<string>, } | { "op": "unsubscribe", symbols: Array<string>, } | { "op": "resync" } | { "op": "resume", epoch: string, seq: number, batch: number, symbols: Array<string>, } | { "op": "rate", max_hz?: number | null, } | { "op": "ping", t: number, } | { "op": "chart", symbol?: string | null, interval?: Interval | null, limit?: number | null, chart?: number, trades?: boolean, book?: boolean, };

/**
 * The full current state of one symbol. Prices are in the symbol's
 * currency.
 */
export type Quote = { symbol: string, 
/**
 * The last trade's price, in any session.
 */
last: number, bid: number, ask: number, 
/**
 * The regular session's open, high and low (extended-hours trades do
 * not move them).
 */
open: number, high: number, low: number, 
/**
 * The close of the regular session before the current (or latest) one.
 */
prev_close: number, 
/**
 * Shares traded today in the regular session.
 */
volume: number, 
/**
 * Event time of the last update, Unix milliseconds.
 */
ts: number, 
/**
 * The session the symbol is in (absent from older servers: regular).
 */
session: MarketSession, 
/**
 * The latest regular session's last price: the close once it has
 * ended, the last price while it runs (absent from older servers: 0).
 */
close: number, };

/**
 * The fields of one quote that changed since the previous message.
 * A symbol the receiver has not seen yet arrives with every field set.
 */
export type Change = { symbol: string, last?: number, bid?: number, ask?: number, open?: number, high?: number, low?: number, prev_close?: number, volume?: number, ts?: number, session?: MarketSession, close?: number, };

/**
 * One OHLCV bar; `t` is the bucket start, Unix milliseconds.
 */
export type Candle = { t: number, o: number, h: number, l: number, c: number, v: number, };

/**
 * An alert rule as stored (`GET /api/alerts`).
 */
export type Alert = { id: number, symbol: string, condition: AlertCondition, value: number, repeat: AlertRepeat, note?: string, webhook?: string, 
/**
 * After this time (Unix ms) it no longer fires.
 */
expires?: number, 
/**
 * Whether it fires at the next crossing.
 */
armed: boolean, 
/**
 * When it was made and when it last fired (Unix ms).
 */
created: number, last_fired: number | null, 
/**
 * Its latest firings, oldest first (at most [`ALERT_HISTORY`]).
 */
history?: Array<Firing>, };

/**
 * What an alert watches: the price crossing a level, or the change from
 * the previous close (in percent) crossing a value.
 */
export type AlertCondition = "above" | "below" | "change_pct_above" | "change_pct_below";

/**
 * Whether an alert fires once (then it is disarmed) or every time it
 * crosses again (re-armed once the figure has moved back past its value by
 * a margin and a cool-down has passed).
 */
export type AlertRepeat = "once" | "every";

/**
 * Where a webhook delivery stands.
 */
export type Delivery = { state: DeliveryState, 
/**
 * POSTs made so far.
 */
attempts: number, 
/**
 * The receiver's last HTTP status, if it answered.
 */
status?: number, 
/**
 * Why the last attempt failed, if it did.
 */
error?: string, };

/**
 * `pending` while attempts remain, then `delivered` (a 2xx answer) or
 * `failed` (every attempt failed, or the receiver refused it with a 4xx).
 */
export type DeliveryState = "pending" | "delivered" | "failed";

/**
 * Machine-readable reason in an `error` message.
 */
export type ErrorCode = "bad_request" | "unknown_symbol" | "rate_limited" | "too_many_symbols";

/**
 * The state of one feed as clients see it.
 */
export type FeedState = "live" | "stale" | "reconnecting";

/**
 * One firing of an alert: the trade it fired on, and its webhook delivery
 * when the alert has a webhook.
 */
export type Firing = { ts: number, price: number, webhook?: Delivery, };

/**
 * A candle interval.
 */
export type Interval = "1s" | "5s" | "1m" | "5m" | "15m" | "1h" | "1d";

/**
 * Which part of the trading day a symbol is in. US equities: pre-market,
 * the regular session, after hours, or closed (nights, weekends,
 * holidays); crypto: always regular. `halted`: its market stopped trading
 * it for now (a feed says so).
 */
export type MarketSession = "pre" | "regular" | "post" | "closed" | "halted";

/**
 * One trade on the tape.
 */
export type Trade = { 
/**
 * Unix milliseconds.
 */
t: number, p: number, 
/**
 * Shares or units.
 */
s: number, 
/**
 * Unknown for the first trade a server sees of a symbol whose feed does
 * not say.
 */
side?: TradeSide, };

/**
 * Which side a trade was on: the buyer's or seller's initiative where the
 * feed says (`buy`: a buyer took an offer), else the tick test (`up`: above
 * the previous different price, `down`: below it).
 */
export type TradeSide = "buy" | "sell" | "up" | "down";

