// Messages as docs/DESIGN.md shows them, checked against the generated
// types: `make lint` compiles this file with `tsc --noEmit --strict`. The
// lines marked as expected errors must stay errors, so the types cannot
// quietly become looser than the protocol.
import type { Alert, Candle, ClientMsg, Quote, ServerMsg } from "./tickertape";

const quote: Quote = {
  symbol: "AAPL", last: 230.15, bid: 230.14, ask: 230.16, open: 228.5, high: 231.02,
  low: 228.1, prev_close: 227.9, volume: 18_250_300, ts: 1_767_225_600_000,
  session: "regular", close: 230.15,
};

const fromServer: ServerMsg[] = [
  { type: "hello", protocol: 1, server_time: 1_767_225_600_000, heartbeat_ms: 15_000, epoch: "9c41e07a5b3d2f18" },
  { type: "snapshot", seq: 1, batch: 5120, quotes: [quote] },
  { type: "diff", seq: 2, batch: 5121, ts: 1_767_225_600_100, changes: [{ symbol: "AAPL", last: 230.2, volume: 18_250_400 }] },
  { type: "status", feed: "sim", state: "reconnecting" },
  { type: "pong", t: 1_767_225_600_123, server_time: 1_767_225_600_125 },
  { type: "error", code: "unknown_symbol", message: "unknown symbols: NOPE" },
  { type: "candles", symbol: "AAPL", interval: "1m", candles: [{ t: 60_000, o: 1.5, h: 2, l: 1.25, c: 1.75, v: 300 }] },
  { type: "candle", symbol: "AAPL", interval: "5m", candle: { t: 300_000, o: 1, h: 1, l: 1, c: 1, v: 0 }, chart: 2 },
  { type: "trades", symbol: "BTC-USD", trades: [{ t: 1000, p: 64000.5, s: 0.25, side: "sell" }, { t: 1001, p: 64001, s: 2 }] },
  { type: "book", symbol: "BTC-USD", snapshot: false, live: true, bids: [[63999.5, 0]], asks: [[64001, 1.5]], ts: 7, chart: 1 },
  { type: "alert_deleted", id: 7 },
];

const alert: Alert = {
  id: 7, symbol: "AAPL", condition: "above", value: 230.5, repeat: "once", armed: true,
  created: 1_767_225_600_000, last_fired: null,
};

const fromClient: ClientMsg[] = [
  { op: "subscribe", symbols: ["AAPL", "*"] },
  { op: "unsubscribe", symbols: ["AAPL"] },
  { op: "resync" },
  { op: "resume", epoch: "9c41e07a5b3d2f18", seq: 2, batch: 5121, symbols: ["*"] },
  { op: "rate", max_hz: 1 },
  { op: "ping", t: 1_767_225_600_123 },
  { op: "chart", symbol: "AAPL", interval: "1m", limit: 1000 },
  { op: "chart" },
];

// @ts-expect-error a diff carries its seq
const noSeq: ServerMsg = { type: "diff", batch: 1, ts: 1, changes: [] };
// @ts-expect-error a resume says which batch the client holds
const noBatch: ClientMsg = { op: "resume", epoch: "9c41e07a5b3d2f18", seq: 2, symbols: ["*"] };
// @ts-expect-error feed states are live, stale or reconnecting
const badState: ServerMsg = { type: "status", feed: "sim", state: "down" };
// @ts-expect-error intervals are named, not counted
const badInterval: ClientMsg = { op: "chart", symbol: "AAPL", interval: 60 };
// @ts-expect-error a candle's volume is a number
const badCandle: Candle = { t: 0, o: 1, h: 1, l: 1, c: 1, v: "300" };

/** Reads a frame's text as the generated types say it is. */
function read(frame: string): ServerMsg {
  return JSON.parse(frame) as ServerMsg;
}

export { alert, badCandle, badInterval, badState, fromClient, fromServer, noBatch, noSeq, read };
