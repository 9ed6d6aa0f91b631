// The peer baseline: what a user would otherwise pick for a live ticker —
// a Node.js server on the `ws` package — producing the same workload as
// `tickertape --sim-symbols N --sim-rate R --flush-ms F` and the same
// protocol-v1 JSON, so one load generator drives both.
//
// It is written the way a careful Node developer would: quotes are diffed
// once per flush, the changes are serialised once, and each client gets that
// body behind its own seq by string concatenation (no per-client
// JSON.stringify of the changes).
//
// Usage: node peer/server.js --port 3700 --symbols 100 --rate 10 --flush-ms 100

"use strict";
const { WebSocketServer } = require("ws");

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith("--") ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const PORT = Number(args.port ?? 3700);
const SYMBOLS = Number(args.symbols ?? 100);
const RATE = Number(args.rate ?? 10);
const FLUSH_MS = Number(args["flush-ms"] ?? 100);
const TICK_MS = Number(args["tick-ms"] ?? 100);
const HEARTBEAT_MS = 15000;

// Seeded PRNG (mulberry32) so runs are reproducible.
let seed = Number(args.seed ?? 1) >>> 0;
function random() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
function normal() {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}
const cents = (x) => Math.round(x * 100) / 100;

// The same quote fields as tickertape.
const FIELDS = ["last", "bid", "ask", "open", "high", "low", "prev_close", "volume", "ts"];
const quotes = [];
const sent = [];
for (let i = 0; i < SYMBOLS; i++) {
  const price = 10 + ((i * 7919) % 49000) / 100;
  const symbol = `SYM${String(i + 1).padStart(3, "0")}`;
  const q = { symbol, last: price, bid: price - 0.01, ask: price + 0.01, open: price, high: price, low: price, prev_close: price, volume: 0, ts: Date.now() };
  quotes.push({ q, mid: price, sigma: 0.3 * Math.sqrt(TICK_MS / 1000 / (252 * 6.5 * 3600)) });
  sent.push({ ...q });
}
const dirty = new Set();

// The random walk: RATE trades per symbol per second.
setInterval(() => {
  const now = Date.now();
  const perStep = (RATE * TICK_MS) / 1000;
  for (let i = 0; i < SYMBOLS; i++) {
    const s = quotes[i];
    s.mid *= Math.exp(s.sigma * normal());
    const n = Math.floor(perStep) + (random() < perStep % 1 ? 1 : 0);
    for (let k = 0; k < n; k++) {
      const half = Math.max(0.005, s.mid * 1e-4);
      const q = s.q;
      q.bid = Math.floor((s.mid - half) * 100) / 100;
      q.ask = Math.max(Math.ceil((s.mid + half) * 100) / 100, q.bid + 0.01);
      q.last = cents(random() < 0.5 ? q.bid : q.ask);
      q.high = Math.max(q.high, q.last);
      q.low = Math.min(q.low, q.last);
      q.volume += 100 * (1 + Math.floor(random() * 10));
      q.ts = now;
      dirty.add(i);
    }
  }
}, TICK_MS);

const wss = new WebSocketServer({ host: "127.0.0.1", port: PORT, path: "/ws", perMessageDeflate: false });
const clients = new Set();

wss.on("connection", (ws) => {
  const client = { ws, seq: 0, all: false, symbols: new Set(), alive: true };
  clients.add(client);
  ws.send(JSON.stringify({ type: "hello", protocol: 1, server_time: Date.now(), heartbeat_ms: HEARTBEAT_MS }));
  ws.on("pong", () => (client.alive = true));
  ws.on("message", (data) => {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (e) {
      return ws.send(JSON.stringify({ type: "error", code: "bad_request", message: "malformed JSON" }));
    }
    if (msg.op === "subscribe") {
      for (const s of msg.symbols ?? []) s === "*" ? (client.all = true) : client.symbols.add(s);
      const subscribed = quotes.filter((s) => client.all || client.symbols.has(s.q.symbol)).map((s) => s.q);
      client.seq += 1;
      ws.send(JSON.stringify({ type: "snapshot", seq: client.seq, quotes: subscribed }));
    } else if (msg.op === "ping") {
      ws.send(JSON.stringify({ type: "pong", t: msg.t, server_time: Date.now() }));
    }
  });
  ws.on("close", () => clients.delete(client));
});

// Heartbeat, as tickertape does.
setInterval(() => {
  for (const c of clients) {
    if (!c.alive) {
      c.ws.terminate();
      continue;
    }
    c.alive = false;
    c.ws.ping();
  }
}, HEARTBEAT_MS);

// One batch per flush: diff once, serialise once, send to every client.
setInterval(() => {
  if (dirty.size === 0) return;
  const ts = Date.now();
  const changes = [];
  for (const i of [...dirty].sort((a, b) => a - b)) {
    const q = quotes[i].q;
    const before = sent[i];
    const change = { symbol: q.symbol };
    for (const f of FIELDS) if (q[f] !== before[f]) change[f] = before[f] = q[f];
    changes.push(change);
  }
  dirty.clear();
  const tail = `,"ts":${ts},"changes":${JSON.stringify(changes)}}`;
  for (const c of clients) {
    if (c.seq === 0) continue;
    if (c.all) {
      c.seq += 1;
      c.ws.send(`{"type":"diff","seq":${c.seq}${tail}`);
    } else {
      const mine = changes.filter((ch) => c.symbols.has(ch.symbol));
      if (mine.length === 0) continue;
      c.seq += 1;
      c.ws.send(JSON.stringify({ type: "diff", seq: c.seq, ts, changes: mine }));
    }
  }
}, FLUSH_MS);

wss.on("listening", () => console.log(`peer listening on ws://127.0.0.1:${PORT}/ws (${SYMBOLS} symbols, ${RATE}/s, flush ${FLUSH_MS} ms)`));
process.on("SIGTERM", () => process.exit(0));
