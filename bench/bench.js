// `make bench`: runs the standard matrix against tickertape and the peer
// (bench/peer/server.js) with the same load generator, and writes
// BENCHMARKS.md with the machine, versions, commands, medians of 3 runs and
// tickertape/peer ratios measured in the same run.
//
// Usage: node bench/bench.js [--runs 3] [--only fanout-2000,overload,idle-10000,browser,trader,cluster,storm,resync,restart,soak,store-capacity,chart-load,...] [--soak-minutes 30] [--out BENCHMARKS.md]
//        node bench/bench.js --render-only 1   (rewrite BENCHMARKS.md from the last run's target/bench-results.json)
//        [--results FILE]   saved results to read (--only, --render-only) and write instead of target/bench-results.json
//        [--before PATH --before-commit SHA]   an older tickertape binary (built from SHA), measured with
//                           the identical commands in the same run: the storm and resync sections' peer,
//                           and a third server in the fanout and idle sections
//
// A section with no results in this run and none saved (a fresh clone, an
// --only run) is kept verbatim from the existing output file (--out if it
// exists, else BENCHMARKS.md), and the header says when it was measured.

"use strict";
const { spawn, execSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const net = require("node:net");

const root = path.resolve(__dirname, "..");
const args = require("./lib").parseArgs();
const RUNS = Number(args.runs ?? 3);
const ONLY = args.only ? new Set(args.only.split(",")) : null;
const OUT = path.resolve(root, args.out ?? "BENCHMARKS.md");
const LOADGEN = path.join(root, "target/release/tickertape-loadgen");
const TICKERTAPE = path.join(root, "target/release/tickertape");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = xs.filter((x) => x !== null && x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : null;
};

function freePort() {
  return new Promise((ok) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

function rssKiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

/** Starts a server (tickertape or peer) with the workload; resolves when it accepts connections. */
async function startServer(kind, w) {
  const port = await freePort();
  let dataDir = null;
  const [cmd, argv] =
    kind !== "peer"
      ? [
          kind === "before" ? path.resolve(args.before) : TICKERTAPE,
          // The history store off (a build before it has no such flag), unless this run measures it: `store`.
          ["--addr", `127.0.0.1:${port}`, "--sim-symbols", w.symbols, "--sim-rate", w.rate, "--flush-ms", w.flush, "--seed", "1", "--log-format", "json", ...(kind === "before" ? [] : kind === "store" ? ["--data-dir", (dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tickertape-bench-")))] : ["--ephemeral"])],
        ]
      : ["node", [path.join(__dirname, "peer/server.js"), "--port", port, "--symbols", w.symbols, "--rate", w.rate, "--flush-ms", w.flush, "--seed", "1"]];
  const child = spawn(cmd, argv.map(String), { cwd: root, stdio: "ignore" });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise((ok) => {
      const s = net.connect(port, "127.0.0.1", () => (s.destroy(), ok(true))).on("error", () => ok(false));
    });
    if (up) break;
    await sleep(50);
  }
  await sleep(1500); // let the simulator open and the first batches flow
  const rowsAtStart = dataDir ? await storeSettled(port) : null;
  const command = [path.relative(root, cmd) || cmd, ...argv.map(String)].join(" ").replace(String(port), "<port>").replace(dataDir ?? "\0", "<empty dir>");
  return { child, port, baselineRss: rssKiB(child.pid), command, dataDir, rowsAtStart, startedAt: Date.now() };
}

/** A metric's value in a /metrics text. */
const metricValue = (text, name) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);

/**
 * Waits until the simulator's generated history is in the store (written
 * once, at the first start on an empty directory): the measurement is of the
 * store keeping up with live changes.
 */
async function storeSettled(port) {
  for (let i = 0; i < 1200; i++) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    if (metricValue(text, "tickertape_store_history_waiting") === 0 && metricValue(text, "tickertape_store_pending_rows") < 10_000)
      return metricValue(text, "tickertape_store_rows_written_total");
    await sleep(100);
  }
  throw new Error("the store never caught up with the simulator's history");
}

/** Stops the server; for a run on a store, what the store wrote and its bytes on disk. */
async function stopServer(server) {
  let store = null;
  if (server.dataDir) {
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    const written = metricValue(text, "tickertape_store_rows_written_total") - server.rowsAtStart;
    store = { rowsPerSec: written / ((Date.now() - server.startedAt) / 1000), bytes: metricValue(text, "tickertape_store_bytes") };
  }
  server.child.kill("SIGTERM");
  await new Promise((r) => server.child.once("exit", r));
  if (server.dataDir) fs.rmSync(server.dataDir, { recursive: true, force: true });
  return store;
}

/** Runs the load generator against `server`; returns its JSON report. */
function loadgen(server, s, kind) {
  const argv = [
    "--url", `ws://127.0.0.1:${server.port}/ws`, "--clients", s.clients, "--ramp-secs", s.ramp, "--duration", s.duration,
    "--warmup", s.warmup, "--subscribe", s.subscribe, "--stall", s.stall ?? 0, "--server-pid", server.child.pid,
    // `binary`: the same server, its clients on tickertape.v1.bin.
    ...(kind === "binary" ? ["--encoding", "bin"] : []),
  ].map(String);
  return new Promise((ok, fail) => {
    const child = spawn(LOADGEN, argv, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("exit", (code) => (code === 0 ? ok({ report: JSON.parse(out), command: `target/release/tickertape-loadgen ${argv.join(" ").replace(/--server-pid \d+/, "--server-pid <pid>").replace(/127\.0\.0\.1:\d+/, "127.0.0.1:<port>")}` }) : fail(new Error(`loadgen exited ${code}`))));
  });
}

const fanout = (clients) => ({
  workload: { symbols: 100, rate: 10, flush: 100 },
  load: { clients, ramp: 5, duration: 15, warmup: 3, subscribe: "*" },
  servers: ["tickertape", "binary", "peer"],
});

const SCENARIOS = {
  "fanout-2000": { title: "2,000 clients, 100 symbols × 10 ticks/s, flush 100 ms, all subscribed to everything", ...fanout(2000) },
  "fanout-4000": { title: "4,000 clients, same workload (twice the fan-out)", ...fanout(4000) },
  "fanout-2000-store": {
    title: "fanout-2000 with the history store on (`--data-dir`, an empty directory) vs off (`--ephemeral`)",
    ...fanout(2000),
    servers: ["tickertape", "store"],
    store: true,
  },
  overload: {
    title: "the fan-out workload to 1,000 … 16,000 clients, tickertape (JSON clients) and the peer alternating at each point",
    ...fanout(1000),
    servers: ["tickertape", "peer"],
    curve: [1000, 2000, 4000, 8000, 12000, 16000],
  },
  "idle-10000": {
    title: "10,000 idle clients (connected, nothing subscribed), 100 symbols × 10 ticks/s",
    workload: { symbols: 100, rate: 10, flush: 100 },
    load: { clients: 10000, ramp: 15, duration: 8, warmup: 3, subscribe: "none" },
    servers: ["tickertape", "peer"],
  },
  "slow-consumers": {
    title: "200 healthy clients next to 10 that never read, 500 symbols × 10 ticks/s (≈ 30 KB per diff)",
    workload: { symbols: 500, rate: 10, flush: 100 },
    load: { clients: 210, stall: 10, ramp: 2, duration: 30, warmup: 3, subscribe: "*" },
    servers: ["tickertape"],
    control: { clients: 200, stall: 0 },
  },
};

async function runScenario(name, sc) {
  const rows = [];
  const servers = args.before && !sc.control && !sc.curve ? [...sc.servers, "before"] : sc.servers;
  // A curve measures each number of clients; its rows' variant is that number.
  const variants = sc.curve ? sc.curve.map(String) : sc.control ? ["with", "control"] : ["main"];
  for (let run = 1; run <= RUNS; run++) {
    // A curve's points in turn, each server at a point before the next point.
    for (const point of sc.curve ? variants : [null]) {
    for (const kind of servers) {
      for (const variant of point ? [point] : variants) {
        const load = variant === "control" ? { ...sc.load, ...sc.control } : sc.curve ? { ...sc.load, clients: Number(variant), ramp: Math.max(sc.load.ramp, Number(variant) / 1000) } : sc.load;
        const server = await startServer(kind, sc.workload);
        let row = null;
        try {
          const { report, command } = await loadgen(server, load, kind);
          const commit = kind === "before" ? args["before-commit"] : undefined;
          row = { kind, variant, run, report, baselineRss: server.baselineRss, serverCommand: server.command, loadCommand: command, commit };
          rows.push(row);
          const l = report.latency_ms;
          console.error(`${name} ${kind} ${variant} run ${run}: p50 ${l.p50} p99 ${l.p99} ms, ${Math.round(report.changes_per_sec)} changes/s, ${report.failed} failed`);
        } finally {
          const store = await stopServer(server);
          if (row && store) row.store = store;
        }
        await sleep(1000);
      }
    }
    }
  }
  return rows;
}

/** The overload curve: per number of clients, tickertape and the peer side by side. */
function renderCurve(p, rows, sc) {
  const at = (kind, n) => summarise(rows, kind, String(n));
  const unloaded = at("tickertape", sc.curve[0]).cpuPerMillion;
  p("| clients | tickertape: changes/s delivered | CPU s per M changes (× at " + fmt(sc.curve[0]) + ") | p99 ms | failed | peer: changes/s delivered | CPU s per M changes | p99 ms | failed | changes/s tickertape / peer |");
  p("|---|---|---|---|---|---|---|---|---|---|");
  const verdicts = [];
  for (const n of sc.curve) {
    const [t, q] = [at("tickertape", n), at("peer", n)];
    const rise = t.cpuPerMillion / unloaded;
    verdicts.push({ n, delivers: t.changesPerSec >= q.changesPerSec, refused: t.failed, rise });
    p(`| ${fmt(n)} | ${fmt(t.changesPerSec)} | ${fmt(t.cpuPerMillion, 3)} (${fmt(rise, 2)}×) | ${fmt(t.p99)} | ${t.failed} | ${fmt(q.changesPerSec)} | ${fmt(q.cpuPerMillion, 3)} | ${fmt(q.p99)} | ${q.failed} | **${ratio(t.changesPerSec, q.changesPerSec)}** |`);
  }
  p();
  const all = (f) => verdicts.every(f);
  p(`Targets (issue 19) at every point: tickertape delivers at least the peer's changes/s: ${mark(all((v) => v.delivers))};`);
  p(`no refused clients: ${mark(all((v) => v.refused === 0))}; CPU per change at most 1.5× its value at ${fmt(sc.curve[0])} clients: ${mark(all((v) => v.rise <= 1.5))}`);
  // The runs this section was measured with, not this invocation's --runs.
  const runs = new Set(rows.map((r) => r.run)).size;
  p(`(largest ${fmt(Math.max(...verdicts.map((v) => v.rise)), 2)}×). Medians of ${runs} run${runs === 1 ? "" : "s"}; the load generator shares the machine's two cores.`);
  p();
  const t = at("tickertape", sc.curve[0]);
  p(`Commands: \`${t.serverCommand}\` / \`node bench/peer/server.js --port <port> --symbols ${sc.workload.symbols} --rate ${sc.workload.rate} --flush-ms ${sc.workload.flush} --seed 1\`; load: \`${t.loadCommand}\` with \`--clients\` set per row.`);
  p();
}

/** The same scenario against an older build, measured alternating with this one in the same run. */
function renderBefore(p, t, b, sc, commit) {
  p(`The same run also measured an older build (\`--before\`, commit ${commit ?? "unknown"}), alternating with this one:`);
  p();
  p("| | this build | older build | this / older |");
  p("|---|---|---|---|");
  if (sc.load.subscribe !== "none") {
    p(`| changes delivered per second | ${fmt(t.changesPerSec)} | ${fmt(b.changesPerSec)} | ${ratio(t.changesPerSec, b.changesPerSec)} |`);
    p(`| delivery latency p50 / p99 (ms) | ${fmt(t.p50)} / ${fmt(t.p99)} | ${fmt(b.p50)} / ${fmt(b.p99)} | ${ratio(t.p50, b.p50)} / **${ratio(t.p99, b.p99)}** |`);
    p(`| server CPU seconds per million delivered changes | ${fmt(t.cpuPerMillion, 3)} | ${fmt(b.cpuPerMillion, 3)} | **${ratio(t.cpuPerMillion, b.cpuPerMillion)}** |`);
  }
  p(`| server RSS peak | ${fmt(t.rssPeakMiB, 1)} MiB | ${fmt(b.rssPeakMiB, 1)} MiB | ${ratio(t.rssPeakMiB, b.rssPeakMiB)} |`);
  p();
}

function summarise(rows, kind, variant = "main") {
  const rs = rows.filter((r) => r.kind === kind && r.variant === variant);
  const pick = (f) => median(rs.map((r) => f(r)));
  return {
    runs: rs.length,
    connected: pick((r) => r.report.connected),
    failed: Math.max(...rs.map((r) => r.report.failed)),
    gaps: Math.max(...rs.map((r) => r.report.seq_gaps)),
    changesPerSec: pick((r) => r.report.changes_per_sec),
    bytesPerSec: pick((r) => r.report.bytes_per_sec),
    p50: pick((r) => r.report.latency_ms.p50),
    p99: pick((r) => r.report.latency_ms.p99),
    max: pick((r) => r.report.latency_ms.max),
    cpuPerMillion: pick((r) => r.report.server?.cpu_secs_per_million_changes),
    userPerMillion: pick((r) => r.report.server?.user_secs_per_million_changes),
    systemPerMillion: pick((r) => r.report.server?.system_secs_per_million_changes),
    wireBytesPerChange: pick((r) => r.report.wire_bytes_per_change),
    cpuSecs: pick((r) => r.report.server?.cpu_secs),
    rssPeakMiB: pick((r) => r.report.server?.rss_peak_kib / 1024),
    rssPerClientKiB: pick((r) => (r.report.server ? (r.report.server.rss_end_kib - r.baselineRss) / r.report.connected : null)),
    endings: rs.map((r) => r.report.closed_by_server),
    serverCommand: rs[0]?.serverCommand?.replace(/127\.0\.0\.1:\d+/, "127.0.0.1:<port>"),
    loadCommand: rs[0]?.loadCommand,
  };
}

/** A fan-out section with tickertape's JSON and binary clients next to the peer's (JSON), all in one run. */
function renderEncodings(p, t, b, peer) {
  p("| | tickertape, JSON | tickertape, binary | peer (JSON) | JSON / peer | binary / peer | binary / JSON |");
  p("|---|---|---|---|---|---|---|");
  const row = (label, f, digits = 0, bold = []) => {
    const [x, y, z] = [f(t), f(b), f(peer)];
    const r = (a, c, key) => (bold.includes(key) ? `**${ratio(a, c)}**` : ratio(a, c));
    p(`| ${label} | ${fmt(x, digits)} | ${fmt(y, digits)} | ${fmt(z, digits)} | ${r(x, z, "jp")} | ${r(y, z, "bp")} | ${r(y, x, "bj")} |`);
  };
  p(`| clients connected (failed) | ${fmt(t.connected)} (${t.failed}) | ${fmt(b.connected)} (${b.failed}) | ${fmt(peer.connected)} (${peer.failed}) | | | |`);
  p(`| seq gaps | ${t.gaps} | ${b.gaps} | ${peer.gaps} | | | |`);
  row("changes delivered per second", (s) => s.changesPerSec);
  row("delivery latency p50 (ms)", (s) => s.p50);
  row("delivery latency p99 (ms)", (s) => s.p99, 0, ["jp", "bp"]);
  row("delivery latency max (ms)", (s) => s.max);
  row("server CPU seconds per million delivered changes", (s) => s.cpuPerMillion, 3, ["jp", "bp"]);
  row("… of it in user space", (s) => s.userPerMillion, 3, ["jp", "bp"]);
  row("… of it in the kernel (system)", (s) => s.systemPerMillion, 3);
  row("WebSocket bytes per delivered change (payload + frame headers)", (s) => s.wireBytesPerChange, 1, ["bj"]);
  row("server RSS peak (MiB)", (s) => s.rssPeakMiB, 1);
  p();
  const bytes = b.wireBytesPerChange / t.wireBytesPerChange;
  const user = b.userPerMillion / peer.userPerMillion;
  const total = b.cpuPerMillion / peer.cpuPerMillion;
  p(`Targets (issue 19, binary against the peer and JSON): bytes per change ≤ 0.35× JSON: ${fmt(bytes, 2)}× ${mark(bytes <= 0.35)};`);
  p(`user-space CPU per change ≤ 0.5× the peer's: ${fmt(user, 2)}× ${mark(user <= 0.5)}; total ≤ 0.8×: ${fmt(total, 2)}× ${mark(total <= 0.8)}.`);
  p();
}

/** The store's section: the same fan-out with the store on and off, alternated in one run. */
function renderStore(p, rows, off, sc) {
  const on = summarise(rows, "store");
  const stored = rows.filter((r) => r.kind === "store" && r.store);
  const rowsPerSec = median(stored.map((r) => r.store.rowsPerSec));
  p("| | store off (`--ephemeral`) | store on | on / off |");
  p("|---|---|---|---|");
  p(`| changes delivered per second | ${fmt(off.changesPerSec)} | ${fmt(on.changesPerSec)} | ${ratio(on.changesPerSec, off.changesPerSec)} |`);
  p(`| delivery latency p50 / p99 (ms) | ${fmt(off.p50)} / ${fmt(off.p99)} | ${fmt(on.p50)} / ${fmt(on.p99)} | ${ratio(on.p99, off.p99)} (p99) |`);
  p(`| server CPU seconds (user + system) per million delivered changes | ${fmt(off.cpuPerMillion, 3)} | ${fmt(on.cpuPerMillion, 3)} | **${ratio(on.cpuPerMillion, off.cpuPerMillion)}** (target ≤ 1.10: ${on.cpuPerMillion / off.cpuPerMillion <= 1.1 ? "✓ met" : "✗ not met"}) |`);
  p(`| server RSS peak | ${fmt(off.rssPeakMiB, 1)} MiB | ${fmt(on.rssPeakMiB, 1)} MiB | ${ratio(on.rssPeakMiB, off.rssPeakMiB)} |`);
  p();
  p(`Each store run starts on an empty directory and begins once the simulator's generated history (about 1.4 million`);
  p(`bars for 100 symbols) is written, so this is the cost of keeping up with live changes. Rows the store wrote per`);
  p(`second from then to the end (bars and quotes: each changed 1 s, 5 s and 1 m bar and quote once a second however often`);
  p(`it changed, longer bars as they close): median ${fmt(rowsPerSec)}; database and WAL at the end, history included:`);
  p(`median ${fmt(median(stored.map((r) => r.store.bytes)) / 2 ** 20, 1)} MiB.`);
  p();
  p(`Server: \`${on.serverCommand}\` vs \`${off.serverCommand}\`; load: \`${off.loadCommand}\`.`);
  p();
}

const fmt = (x, digits = 0) => (x === null || x === undefined ? "–" : Number(x).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const ratio = (a, b, digits = 2) => (a === null || b === null || !b ? "–" : (a / b).toFixed(digits));

function machine() {
  const cpu = os.cpus();
  const sh = (cmd) => {
    try {
      return execSync(cmd, { cwd: root, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
    } catch {
      return "unknown";
    }
  };
  return {
    cpu: `${cpu[0]?.model ?? "unknown"} × ${cpu.length} logical CPUs`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    rustc: sh("rustc --version"),
    node: process.version,
    ws: (() => {
      try {
        return require(path.join(__dirname, "node_modules/ws/package.json")).version;
      } catch {
        return "not installed (cd bench && npm ci)";
      }
    })(),
    tickertape: sh(`${TICKERTAPE} --version`),
    commit: sh("git rev-parse --short HEAD"),
    date: new Date().toISOString().slice(0, 10),
  };
}

// Targets for the browser section: Chromium CPU as a multiple of the
// reference page with the same symbols, and two absolute ones.
const BROWSER_TARGETS = { dashboard: 2.5, "dashboard-500": 3, hidden: 0.2 };
const FIRST_UPDATE_TARGET_MS = 600;
const WASM_GZIP_TARGET_KIB = 350;
const REFERENCE_OF = { dashboard: "reference", "dashboard-reduced-motion": "reference", "dashboard-no-chart": "reference", hidden: "reference", "dashboard-500": "reference-500" };
const mark = (ok) => (ok ? "✓ met" : "✗ not met");

/** Under a section: a visible line (and one on stderr) when the code it measured changed since. */
function stale(p, commit, paths, section) {
  if (!commit || commit === "unknown") return;
  let log;
  try {
    // What the code is, not how it got there: a change made and reverted since does not count.
    // Tests are not the code a benchmark runs.
    const spec = `${paths.join(" ")} ':(exclude,glob)**/tests/**'`;
    const git = (cmd) => execSync(cmd, { cwd: root, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
    if (!git(`git diff --name-only ${commit} HEAD -- ${spec}`)) return;
    log = git(`git log --oneline ${commit}..HEAD -- ${spec}`);
  } catch {
    return; // not a commit of this repository (any more): nothing to compare
  }
  if (!log) return;
  const n = log.split("\n").length;
  const warning = `⚠ measured at ${commit}; the code it describes changed since (${n} commit${n === 1 ? "" : "s"}): re-run \`node bench/bench.js --only ${section}\``;
  p(`**${warning}**`);
  p();
  console.error(`${section}: ${warning}`);
}

function renderBrowser(p, b) {
  if (!b.scenarios) {
    // A result saved by the earlier browser.js (one 500-symbol scenario).
    p("## browser: 500 symbols updating at 10 Hz in headless Chromium");
    p();
    p("| | median of 3 |");
    p("|---|---|");
    p(`| main thread busy (CDP Performance TaskDuration / wall time) | ${fmt(b.busyPct, 1)} % |`);
    p(`| navigation → first live update in the table | ${fmt(b.firstUpdateMs)} ms |`);
    p(`| release wasm (gzip -9) | ${fmt(b.wasmGzipKiB, 1)} KiB (${fmt(b.wasmRawKiB, 1)} KiB raw) |`);
    p();
    p(`Command: \`${b.command}\`. Measured before the all-process CPU benchmark existed: re-run \`node bench/bench.js --only browser\`.`);
    p();
    return;
  }
  const sc = b.scenarios;
  p("## browser: what a user's machine pays for the page, next to a minimal reference page");
  p();
  p(`Headless Chromium ${b.chromium}, viewport ${b.window.viewport}; every scenario starts its own server and browser, waits`);
  p(`for the page to be live, lets it warm up ${b.window.warmupSecs} s, then measures ${b.window.secs} s. **Chromium CPU** is the CPU time of all`);
  p("Chromium processes (browser, zygotes, renderer, GPU/raster, network and other utility processes; `/proc/<pid>/stat`");
  p("of the browser and every descendant) as % of one core; **main thread** is the renderer main thread's busy share");
  p("(CDP Performance `TaskDuration` / wall time). The reference, `bench/reference.html`, is the floor: one `<table>`,");
  p("plain inline JavaScript on the same `/ws` protocol, each diff setting the changed cells' `textContent`; served");
  p("same-origin by the benchmark. **× reference** is Chromium CPU over the reference's with the same symbols, taken");
  p(`per run (scenarios interleaved, so noise hits them alike) and then the median of ${b.runs} run${b.runs === 1 ? "" : "s"}. The server`);
  p("runs on the same machine but is not counted. Chromium runs with Playwright's switches except the three that keep");
  p("hidden tabs running like visible ones (`--disable-background-timer-throttling`, `--disable-backgrounding-occluded-windows`,");
  p("`--disable-renderer-backgrounding`), which a user's browser does not have. Like the dashboard's table, the reference");
  p("draws only the rows that fit the window and keeps every other quote current in memory.");
  p();
  p("| scenario | Chromium CPU, % of one core: total (user / system) | by process | main thread busy | × reference | target |");
  p("|---|---|---|---|---|---|");
  for (const [name, s] of Object.entries(sc)) {
    const ref = REFERENCE_OF[name];
    const r = ref && b.ratios[`${name}/${ref}`]?.cpu;
    const target = BROWSER_TARGETS[name];
    const by = Object.entries(s.cpu.byType)
      .filter(([, v]) => v >= 0.05)
      .sort((x, y) => y[1] - x[1])
      .map(([t, v]) => `${t} ${fmt(v, 1)}`)
      .join(", ");
    const ratioCell = r === undefined || r === null ? (ref ? "–" : "1.00") : target ? `**${r.toFixed(2)}**` : r.toFixed(2);
    const targetCell = target ? `≤ ${target}× ${ref}: ${r === undefined || r === null ? "–" : mark(r <= target)}` : "";
    p(`| \`${name}\`: ${s.title} | ${fmt(s.cpu.totalPct, 1)} % (${fmt(s.cpu.userPct, 1)} / ${fmt(s.cpu.systemPct, 1)}) | ${by} | ${fmt(s.main.busyPct, 1)} % | ${ratioCell} | ${targetCell} |`);
  }
  p();
  if (b.chart) {
    const share = sc.dashboard ? ` (${fmt((100 * b.chart.cpuPct) / sc.dashboard.cpu.totalPct, 0)} % of the dashboard's)` : "";
    p(`The chart's share (dashboard − dashboard-no-chart, per run, median): ${fmt(b.chart.cpuPct, 1)} % of one core of Chromium CPU${share},`);
    p(`${fmt(b.chart.mainBusyPct, 1)} points of main-thread busy.`);
    p();
  }
  if (sc.hidden && b.hiddenBy) {
    p(`\`hidden\`: ${b.hiddenBy}`);
    p();
  }
  if (b.firstUpdateMs !== null && b.firstUpdateMs !== undefined) {
    p("Navigation → first live update: from the start of navigation to the first time a row's last price differs from the");
    p("server-rendered one (wasm loaded, page hydrated, socket open, snapshot applied). Until commit b4a14ef the probe took the");
    p("first change of any kind in the table body, which is the virtual scroll rendering the rows in view right after hydration,");
    p("before the socket opens; figures measured with it (390–630 ms) were early by the socket's opening and the snapshot.");
    p();
  }
  p("| | median | target |");
  p("|---|---|---|");
  if (b.firstUpdateMs !== null && b.firstUpdateMs !== undefined)
    p(`| navigation → first live update in the table (500 symbols) | ${fmt(b.firstUpdateMs)} ms | ≤ ${FIRST_UPDATE_TARGET_MS} ms: ${mark(b.firstUpdateMs <= FIRST_UPDATE_TARGET_MS)} |`);
  p(`| release wasm (gzip -9) | ${fmt(b.wasmGzipKiB, 1)} KiB (${fmt(b.wasmRawKiB, 1)} KiB raw) | ≤ ${WASM_GZIP_TARGET_KIB} KiB: ${mark(b.wasmGzipKiB <= WASM_GZIP_TARGET_KIB)} |`);
  p();
  const m = b.measured ?? {};
  p(`Command: \`${b.command}\`; Chromium ${b.chromium}; measured ${m.date}, commit ${m.commit}${m.dirty ? " (with uncommitted changes to the page or server)" : ""}.`);
  p();
  if (b.rebuiltDuringRun) {
    p("**⚠ the release build changed while this was measured: the figures mix builds; re-run `node bench/bench.js --only browser`.**");
    p();
  }
  stale(p, m.commit, ["app", "frontend", "style", "public", "server"], "browser");
}

// Targets for the trader's screen (bench/trader.js): absolute, on its own medians.
const TRADER_BUSY_TARGET_PCT = 35;
const TRADER_FRAME_P95_TARGET_MS = 8;

/** The trader's screen next to the single-chart page, measured alternating (bench/trader.js). */
function renderTrader(p, t) {
  const tr = t.summary.trader;
  const si = t.summary.single;
  const runs = `${t.runs} run${t.runs === 1 ? "" : "s"}`;
  const q = (key, bold = false) => {
    const r = t.ratios?.[key]?.median;
    const text = r === null || r === undefined ? "–" : r.toFixed(2);
    return bold ? `**${text}**` : text;
  };
  const cpu = (c) => `${fmt(c.totalPct, 1)} % (${fmt(c.userPct, 1)} / ${fmt(c.systemPct, 1)})`;
  const frames = (f) => `${fmt(f.p50, 2)} / ${fmt(f.p95, 2)} / ${fmt(f.p99, 2)} / ${fmt(f.max, 1)}`;
  p("## trader: the trader's screen, 4 linked charts with 2 indicators each and the tape and order book open, symbols at 10 Hz");
  p();
  wrap(
    `Headless Chromium ${t.chromium}, viewport ${t.viewport}. The trader's screen is \`${t.pages.trader.path}\`: four linked charts of 1 s ` +
      "bars (a new bar every second on each, the most chart work per second), SMA 20 and RSI 14 on every chart, and the order book and " +
      `trades tape open (the panel's remembered choice: localStorage \`${t.depth.key}\` = \`${t.depth.value}\`). The single chart is ` +
      `\`${t.pages.single.path}\` with nothing remembered: one chart, no indicators, the panel closed. Each page gets a fresh server and a ` +
      `fresh Chromium, the two alternating within each run (each run swaps which goes first). Once the page is live and drawn (every ` +
      `chart over 100 bars with its indicators; tape and book rows shown) and has warmed up ${t.warmupSecs} s, a ${t.secs} s window records: ` +
      "**chart frame time**, the time spent in requestAnimationFrame callbacks per frame that has any (where the charts paint); the " +
      "**frame interval** between animation frames (the page has a callback requested every frame to see them, on both pages alike); " +
      "**main thread busy**, the renderer main thread's CDP Performance `TaskDuration` / wall time; script seconds (`ScriptDuration`); and " +
      "the CPU of the renderer processes (the page's, and the browser's idle spare ones) and of all Chromium processes " +
      "(`/proc/<pid>/stat` user and system time) as % of one core. The " +
      `server runs on the same machine but is not counted. Medians of ${runs}; trader / single is the median of the per-run ratios.`,
  ).forEach((l) => p(l));
  p();
  p("| | trader's screen | single chart | trader / single | target |");
  p("|---|---|---|---|---|");
  p(`| chart frame time p50 / p95 / p99 / max (ms) | ${frames(tr.frameMs)} | ${frames(si.frameMs)} | ${q("frameP95", true)} (p95) | p95 ≤ ${TRADER_FRAME_P95_TARGET_MS} ms: ${tr.frameMs.p95 === null ? "–" : mark(tr.frameMs.p95 <= TRADER_FRAME_P95_TARGET_MS)} |`);
  p(`| frames with chart work per second | ${fmt(tr.framesPerSec, 1)} | ${fmt(si.framesPerSec, 1)} | ${ratio(tr.framesPerSec, si.framesPerSec)} | |`);
  p(`| frame interval p50 / p95 (ms) | ${fmt(tr.intervalMs.p50, 1)} / ${fmt(tr.intervalMs.p95, 1)} | ${fmt(si.intervalMs.p50, 1)} / ${fmt(si.intervalMs.p95, 1)} | ${ratio(tr.intervalMs.p95, si.intervalMs.p95)} (p95) | |`);
  p(`| main thread busy | ${fmt(tr.busyPct, 1)} % | ${fmt(si.busyPct, 1)} % | ${q("busyPct", true)} | ≤ ${TRADER_BUSY_TARGET_PCT} %: ${tr.busyPct === null ? "–" : mark(tr.busyPct <= TRADER_BUSY_TARGET_PCT)} |`);
  p(`| script in the window (s) | ${fmt(tr.scriptSecs, 2)} | ${fmt(si.scriptSecs, 2)} | ${ratio(tr.scriptSecs, si.scriptSecs)} | |`);
  p(`| renderer CPU, % of one core: total (user / system) | ${cpu(tr.renderer)} | ${cpu(si.renderer)} | ${q("rendererPct")} | |`);
  p(`| all Chromium processes' CPU, % of one core: total (user / system) | ${cpu(tr.chromium)} | ${cpu(si.chromium)} | ${ratio(tr.chromium.totalPct, si.chromium.totalPct)} | |`);
  if (tr.diffsPerSec !== null || si.diffsPerSec !== null)
    p(`| quote diffs applied per second | ${fmt(tr.diffsPerSec, 1)} | ${fmt(si.diffsPerSec, 1)} | | |`);
  p();
  p("Each run (main thread busy; chart frame time p95; renderer CPU, user / system):");
  p();
  p("| run | trader's screen | single chart | trader / single: busy; frame p95 |");
  p("|---|---|---|---|");
  const one = (r) => (r ? `${fmt(r.busyPct, 1)} %; ${fmt(r.frameMs.p95, 2)} ms; ${fmt(r.renderer.userPct, 1)} / ${fmt(r.renderer.systemPct, 1)} %` : "–");
  t.perRun.trader.forEach((r, i) => {
    const per = (key) => {
      const x = t.ratios?.[key]?.perRun?.[i];
      return x === null || x === undefined ? "–" : x.toFixed(2);
    };
    p(`| ${r.run} | ${one(r)} | ${one(t.perRun.single[i])} | ${per("busyPct")}; ${per("frameP95")} |`);
  });
  p();
  const toggled = t.perRun.trader.filter((r) => r.depthOpenedBy === "toggle").length;
  if (toggled) {
    p(`In ${toggled} of ${runs} the remembered choice did not open the panel and its toggle button was clicked instead.`);
    p();
  }
  const errors = Object.values(t.perRun).flat().filter((r) => r.consoleErrorCount);
  if (errors.length) {
    const first = errors[0].consoleErrors[0];
    wrap(`**⚠ the pages logged console errors in ${errors.length} measurement${errors.length === 1 ? "" : "s"}**; the first: \`${first.replace(/`/g, "'").slice(0, 200)}\`.`).forEach((l) => p(l));
    p();
  }
  const m = t.measured ?? {};
  p(`Command: \`${t.command}\`; server: \`${t.server}\`; Chromium ${t.chromium}; measured ${m.date}, commit ${m.commit}${m.dirty ? " (with uncommitted changes to the page or server)" : ""}.`);
  p();
  buildWarnings(p, t, "trader");
  stale(p, m.commit, ["app", "frontend", "style", "public", "server"], "trader");
}

/** A column heading naming the commit a binary was built from: "after (c1c47ac)". */
function builtFrom(side, b) {
  if (!b) return side;
  return `${side} (${b.commit ?? "commit not given"}${b.dirty ? ", with uncommitted changes" : ""})`;
}

/** The paragraph naming the two binaries of the storm and resync sections. */
function beforeAfter(p, x, what) {
  if (!x.before) {
    p("No older binary was measured: pass `--before <path> --before-commit <sha>` for the before column.");
    return;
  }
  const after = `commit ${x.after.commit}${x.after.dirty ? " with uncommitted changes to its sources" : ""}`;
  wrap(
    // The older binary's path is this machine's business: its commit says what it is.
    `**before** is a \`tickertape\` release build from commit ${x.before.commit ?? "(not given)"}; **after** is \`target/release/tickertape\`, ` +
      `built from ${after}. Both ran ${what} in the same run, alternating (each run swaps which goes first); after / before is ` +
      "the median of the per-run ratios.",
  ).forEach((l) => p(l));
}

/** Warnings under a section measured by storm.js or resync.js. */
function buildWarnings(p, x, section) {
  if (x.measured?.sourcesNewer) {
    p(`**⚠ a source file was newer than the release binary it is built into when this was measured: rebuild and re-run \`node bench/bench.js --only ${section}\`.**`);
    p();
  }
  if (x.rebuiltDuringRun) {
    p(`**⚠ a binary changed while this was measured: the figures mix builds; re-run \`node bench/bench.js --only ${section}\`.**`);
    p();
  }
}

/** "node bench/storm.js … (median of 3 runs each; measured <date>, commit <sha>)": how to repeat it, and when it was measured. */
function provenance(p, x) {
  const command = x.command.replace(/ --before \S+/, " --before <older tickertape>");
  p(`Command: \`${command}\` (median of ${x.runs} run${x.runs === 1 ? "" : "s"} each; measured ${x.measured.date}, commit ${x.measured.commit}).`);
  p();
}

function renderStorm(p, st) {
  const a = st.after.summary;
  const b = st.before?.summary;
  const cell = (s, key, digits) => (s ? fmt(s[key], digits) : "–");
  const row = (label, key, digits = 0, bold = false) => {
    const r = st.ratios?.[key];
    const q = r === null || r === undefined ? "–" : r.toFixed(2);
    p(`| ${label} | ${cell(a, key, digits)} | ${cell(b, key, digits)} | ${b ? (bold ? `**${q}**` : q) : ""} |`);
  };
  p(`## storm: ${fmt(st.clients)} clients resyncing at once, ${st.rounds} times, 500 symbols`);
  p();
  p(`A server with 500 simulated symbols (2 trades/s each, flush 100 ms) and ${fmt(st.clients)} clients subscribed to everything.`);
  p(`Once every client has its first snapshot and the ${st.warmupSecs} s warm-up is over, every client sends \`{"op":"resync"}\` at the`);
  p(`same instant, ${st.rounds} times one second apart (\`tickertape-loadgen --resync-storm ${st.rounds}\`), and times each request to`);
  p("its `snapshot`. Server CPU (user and system, `/proc/<pid>/stat` fields 14 and 15) covers the storm: from just before");
  p("the first round to the last snapshot of the last round, the ordinary diffs to every client meanwhile included.");
  beforeAfter(p, st, "the identical commands");
  p();
  p(`| | ${builtFrom("after", st.after)} | ${builtFrom("before", st.before)} | after / before |`);
  p("|---|---|---|---|");
  p(`| clients taking part (failed to connect) | ${fmt(a.clients)} (${a.failed}) | ${b ? `${fmt(b.clients)} (${b.failed})` : "–"} | |`);
  const answered = (s) => (s ? `${fmt(s.snapshots)} / ${fmt(s.requests)} (${s.missing})` : "–");
  p(`| snapshots received / resyncs sent (most missing in a run) | ${answered(a)} | ${answered(b)} | |`);
  p(`| seq gaps after a client's first resync (most in a run) | ${a.gaps} | ${b ? b.gaps : "–"} | |`);
  row("resync → snapshot p50 (ms)", "p50");
  row("resync → snapshot p99 (ms)", "p99", 0, true);
  row("resync → snapshot max (ms)", "max");
  row("server CPU during the storm: user (s)", "userSecs", 2);
  row("server CPU during the storm: system (s)", "systemSecs", 2);
  row("server CPU during the storm: user + system (s)", "cpuSecs", 2, true);
  p(`| the storm: first round → last snapshot (s) | ${cell(a, "windowSecs", 2)} | ${cell(b, "windowSecs", 2)} | |`);
  row("server RSS peak (MiB)", "rssPeakMiB", 1);
  p();
  p(`Server: \`${st.serverCommand}\`; load: \`${st.loadCommand}\`.`);
  provenance(p, st);
  buildWarnings(p, st, "storm");
  stale(p, st.measured?.commit, ["server", "app"], "storm");
}

/** The history store's capacity and its bytes on disk (bench/store.js). */
function renderStoreCapacity(p, st) {
  p(`## store-capacity: trades a second the history store keeps up with, and its bytes on disk`);
  p();
  p(`The release build on an empty \`--data-dir\`, the simulator over ${st.symbols} symbols at rising trade rates; each step starts once`);
  p(`the simulator's generated history is written and measures ${st.windowSecs} s. Write lag is from a change reaching the store to`);
  p("its commit (`tickertape_store_write_lag_seconds`, histogram buckets); server CPU is user + system over the window.");
  p();
  p("| trades/s offered | trades/s taken in | rows written/s | write lag p99 (bucket) | commits later than 2.5 s | rows pending (max) | rows dropped | server CPU user / system (% of a core) |");
  p("|---|---|---|---|---|---|---|---|");
  for (const s of st.steps) {
    p(`| ${fmt(s.rate * st.symbols)} | ${fmt(s.tradesPerSec)} | ${fmt(s.rowsPerSec)} | ≤ ${fmt(s.lagP99Le, 2)} s | ${fmt(100 * s.lateShare, 1)} % | ${fmt(s.pendingMax)} | ${fmt(s.dropped)} | ${fmt(s.cpuUserPct)} / ${fmt(s.cpuSystemPct)} |`);
  }
  p();
  const top = st.steps.at(-1);
  p(`The store's work is one row per changed bar per second, not per trade, so rows written stay flat as trades grow:`);
  p(`at ${fmt(top.tradesPerSec)} trades/s (the most tried) it wrote ${fmt(top.rowsPerSec)} rows/s with nothing piling up. Rows grow`);
  p("with the number of symbols that trade in a second; the fanout-2000-store section has its cost next to `--ephemeral`.");
  p();
  p(`Bytes on disk: **${fmt(st.bytesPerBar, 1)} bytes per stored bar** (database file after a clean shutdown over the bars`);
  p("written, median over the runs' databases). A symbol that trades every second of the day (crypto; a US equity's");
  p("regular session is 6.5 h, about a quarter of this) then takes:");
  p();
  p("| interval | bars per symbol-day | bytes per symbol-day | retention | bytes per symbol for the whole retention |");
  p("|---|---|---|---|---|");
  const size = (b) => (b >= 2 ** 20 ? `${fmt(b / 2 ** 20, 1)} MiB` : `${fmt(b / 1024, 1)} KiB`);
  for (const r of st.perInterval) {
    const days = r.retentionDays === null ? "for ever" : r.retentionDays >= 365 ? `${r.retentionDays / 365} year${r.retentionDays === 365 ? "" : "s"}` : `${r.retentionDays} days`;
    p(`| ${r.interval} | ${fmt(r.barsPerDay)} | ${size(r.bytesPerSymbolDay)} | ${days} | ${r.bytesPerSymbolRetained === null ? `${size(r.bytesPerSymbolDay * 365)} a year` : size(r.bytesPerSymbolRetained)} |`);
  }
  p();
  buildWarnings(p, st, "store-capacity");
  p(`Command: \`node bench/store.js --runs ${st.runs}\` (server: \`${st.command}\`; median of ${st.runs} run${st.runs === 1 ? "" : "s"} each; measured ${st.measured.date}, commit ${st.measured.commit}).`);
  p();
  stale(p, st.measured?.commit, ["server"], "store-capacity");
}

/** Chart load time for 5,000 1 m bars (bench/chart-load.js). */
function renderChartLoad(p, cl) {
  const t = cl.summary.tickertape;
  const l = cl.summary["lightweight-charts"];
  p(`## chart-load: ${fmt(cl.bars)} 1 m bars into the chart, in the browser`);
  p();
  p(`Headless Chromium ${cl.chromium ?? ""}, viewport 1440×900, the dashboard page live on the release server with a history`);
  p(`store (the bars older than memory holds come from the database). Each run, in a fresh page: \`GET /api/candles/AAPL?interval=1m&limit=${cl.bars}\``);
  p("and the body read (fetch), then the bars drawn until two animation frames later, the canvases painted (draw): by the");
  p("page's own chart module (`app/js/chart.js`: candles and volume, the theme, the readout's data), and, as the peer,");
  p("by Lightweight Charts alone with the same bars (candles and volume, its documented `setData`). Runs alternate which");
  p("goes first.");
  p();
  p("| | tickertape's chart | Lightweight Charts alone | tickertape / alone |");
  p("|---|---|---|---|");
  p(`| fetch ${fmt(cl.bars)} bars (ms) | ${fmt(t.fetchMs, 1)} | ${fmt(l.fetchMs, 1)} | ${ratio(t.fetchMs, l.fetchMs)} |`);
  p(`| draw them (ms) | ${fmt(t.drawMs, 1)} | ${fmt(l.drawMs, 1)} | ${ratio(t.drawMs, l.drawMs)} |`);
  p(`| load time: fetch + draw (ms) | **${fmt(t.totalMs, 1)}** | ${fmt(l.totalMs, 1)} | **${cl.ratio.toFixed(2)}** |`);
  p();
  p(`Command: \`node bench/chart-load.js --runs ${cl.runs}\` (median of ${cl.runs} runs each; measured ${cl.measured.date}, commit ${cl.measured.commit}).`);
  p();
  buildWarnings(p, cl, "chart-load");
  stale(p, cl.measured?.commit, ["server", "app"], "chart-load");
}

function renderResync(p, rs) {
  const a = rs.after.summary;
  const b = rs.before?.summary;
  const n = rs.edges;
  const q = (key) => {
    const r = rs.ratios?.[key];
    return r === null || r === undefined ? "–" : r.toFixed(2);
  };
  const took = (s) => {
    if (!s) return "–";
    const runs = `${s.convergedRuns} of ${rs.runs} run${rs.runs === 1 ? "" : "s"}`;
    if (s.convergedSecs === null) return `did not converge in ${rs.convergeTimeoutSecs} s (converged in ${runs})`;
    return `${fmt(s.convergedSecs, 2)} s${s.convergedRuns < rs.runs ? ` (converged in ${runs})` : ""}`;
  };
  /** A by-label count (`outcomes`, `edgeResyncs`) added up over every run: "done 15, gave_up 1". */
  const allRuns = (side, key) => {
    if (!side) return "–";
    const total = {};
    for (const run of side.runs) for (const [k, v] of Object.entries(run[key] ?? {})) total[k] = (total[k] ?? 0) + v;
    return Object.entries(total).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  };
  const requests = (s) => (s ? `${fmt(s.requests)} (${fmt(s.requestsPerEdge, 1)})` : "–");
  const rss = (s) => (s ? `${fmt(s.edgeRssBeforeMiB, 1)} → ${fmt(s.edgeRssPeakMiB, 1)}` : "–");
  const cpu = (s) => (s ? `${fmt(s.userSecs, 2)} / ${fmt(s.systemSecs, 2)}` : "–");
  const edges = `${n} edge${n === 1 ? "" : "s"}`;
  p(`## resync: ${edges} resyncing at once at 500 symbols (the cluster state transfer)`);
  p();
  p(`One \`--role ingest\` node (500 simulated symbols, a bus heartbeat every 200 ms) and ${n} \`--role edge\` node${n === 1 ? "" : "s"} on a local`);
  p("`nats-server`. Once every edge has copied the state and is ready, nats-server is killed (SIGKILL) and restarted on");
  p("the same port 0.5 s later, so every edge reconnects and copies the whole state again at the same time. Measured");
  p("from the restart: the time until every edge's `/readyz` is 200 with its `tickertape_bus_seq` at least the ingest");
  p("node's, and stays so for a second (an edge copying again falls behind meanwhile); polled every 100 ms, at most");
  p(`${rs.convergeTimeoutSecs} s. Then the state requests the edges made (copies received plus attempts that failed:`);
  p("the increase of `tickertape_bus_messages_total{kind=\"state_received\"}` and `tickertape_bus_errors_total{kind=\"state\"}`,");
  p("which binaries of any age count, read once that second is over), where about one per edge means no retry storm,");
  p("the ingest node's outcomes where it counts them (`tickertape_bus_state_transfers_total`), and why the edges copied");
  p("(`tickertape_bus_resyncs_total` by reason: `reconnect` once per edge,");
  p("anything more is a copy taken again); the largest edge's RSS before the kill and its peak during the resync");
  p("(VmHWM, reset just before the kill); and the CPU of the ingest node and the edges together from the restart to");
  p("convergence.");
  beforeAfter(p, rs, "the identical scenario");
  p();
  const ratioCell = (key, bold) => (b ? (bold ? `**${q(key)}**` : q(key)) : "");
  p(`| | ${builtFrom("after", rs.after)} | ${builtFrom("before", rs.before)} | after / before |`);
  p("|---|---|---|---|");
  p(`| restart → all ${edges} converged | ${took(a)} | ${took(b)} | ${ratioCell("convergedSecs", true)} |`);
  p(`| state requests the edges made (per edge) | ${requests(a)} | ${requests(b)} | ${ratioCell("requests", true)} |`);
  p(`| the ingest node's outcomes, all runs together | ${allRuns(rs.after, "outcomes")} | ${allRuns(rs.before, "outcomes")} | |`);
  p(`| the edges' resyncs by reason, all runs together | ${allRuns(rs.after, "edgeResyncs")} | ${allRuns(rs.before, "edgeResyncs")} | |`);
  p(`| largest edge's RSS: before the kill → peak (MiB) | ${rss(a)} | ${rss(b)} | ${ratioCell("edgeRssPeakMiB")} |`);
  p(`| CPU of ingest + edges: user / system (s) | ${cpu(a)} | ${cpu(b)} | ${b ? `${q("userSecs")} / ${q("systemSecs")}` : ""} |`);
  p();
  p(`Commands: \`${rs.commands.nats}\`; ingest: \`${rs.commands.ingest}\`; each edge: \`${rs.commands.edge}\`.`);
  provenance(p, rs);
  buildWarnings(p, rs, "resync");
  stale(p, rs.measured?.commit, ["server"], "resync");
}

const listNames = (xs) => (xs.length < 2 ? xs.join("") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`);
const sectionsWord = (xs) => (xs.length === 1 ? "section" : "sections");

/** Greedy word wrap for generated prose. */
function wrap(text, width = 116) {
  const out = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) out.push(line), (line = word);
    else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

/**
 * The existing output (--out if it exists, else BENCHMARKS.md) split at its
 * `## ` headings, keyed by the heading up to its first colon ("fanout-2000",
 * "browser", "Where the CPU goes"), plus what its header says about when the
 * scenario sections were measured and on which machine.
 */
function previousOutput() {
  const file = [OUT, path.join(root, "BENCHMARKS.md")].find((f) => fs.existsSync(f));
  const none = { sections: {}, measured: {}, table: [] };
  if (!file) return none;
  const header = [];
  const sections = {};
  let current = header;
  let fence = false;
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fence = !fence;
    if (!fence && line.startsWith("## ")) current = sections[line.slice(3).split(":")[0].trim()] = [];
    current.push(line);
  }
  for (const lines of Object.values(sections)) while (lines.length && !lines[lines.length - 1].trim()) lines.pop();
  // The header's first paragraph: either this script's single-run form
  // ("on <date>, commit <sha>. Every number is the median of N runs") or its
  // mixed form ("the a and b sections were measured on <date>, commit <sha>, median of N runs").
  const start = header.findIndex((l, i) => i > 0 && l.trim() && !l.startsWith("#"));
  const para = [];
  for (let i = start; i >= 0 && i < header.length && header[i].trim(); i++) para.push(header[i]);
  const text = para.join(" ").replace(/\s+/g, " ");
  const measured = {};
  const single = /Written by .*? on (\d{4}-\d{2}-\d{2}), commit (\w+)\. Every number is the median of (\d+) runs?/.exec(text);
  if (single) for (const name of Object.keys(SCENARIOS)) measured[name] = { date: single[1], commit: single[2], runs: Number(single[3]) };
  for (const c of text.matchAll(/\bthe ([\w-]+(?:(?:,? and |, )[\w-]+)*) sections? (?:was|were) measured on (\d{4}-\d{2}-\d{2}), commit (\w+)(?:, median of (\d+) runs?)?/gi))
    for (const name of c[1].split(/,? and |, /)) measured[name] = { date: c[2], commit: c[3], runs: c[4] ? Number(c[4]) : undefined };
  const table = header.filter((l) => l.startsWith("|") && !/^\|\s*machine\s*\|/.test(l) && !/^\|[-\s|]*$/.test(l));
  return { file, sections, measured, table };
}

/** When each saved scenario result was measured: per scenario if saved so, else the saved run's date. */
function savedMeasured(saved) {
  const out = {};
  for (const name of Object.keys(saved.results ?? {})) {
    const m = saved.measured?.[name] ?? saved.meta;
    if (m?.date) out[name] = { date: m.date, commit: m.commit };
  }
  return out;
}

/**
 * The header paragraph and machine table. With every scenario section from
 * one run it reads as it always has; otherwise it says which sections were
 * measured when, and which were kept from the previous file.
 */
function renderHeader(p, m, prov, old) {
  const scen = prov.filter((x) => x.scenario);
  const others = prov.filter((x) => !x.scenario);
  const same = (a, b) => a.date === b.date && a.commit === b.commit;
  const single =
    scen.length > 0 && scen.every((x) => !x.kept && !x.unknown && same(x, scen[0]) && x.runs === scen[0].runs) && others.every((x) => !x.unknown);
  const rest = [
    "(`tickertape-loadgen`, a Rust tokio-tungstenite client) on that machine too — so both servers share the 2 cores",
    "with it. These machines are noisy: compare ratios, not absolute numbers.",
  ];
  if (single) {
    const g = scen[0];
    p(`Written by \`make bench\` (\`node bench/bench.js\`) on ${g.date}, commit ${g.commit}. Every number is the median of ${g.runs} runs;`);
    p("tickertape and the peer were measured in the same run, alternating, on the same machine, with the load generator");
    rest.forEach((l) => p(l));
    const own = others.filter((x) => !same(x.own, g)).map((x) => x.name);
    if (own.length) wrap(`The ${listNames(own)} ${sectionsWord(own)} ${own.length === 1 ? "gives its" : "give their"} own date and commit.`).forEach((l) => p(l));
  } else {
    const clauses = [];
    const groups = new Map();
    for (const x of scen.filter((x) => !x.unknown)) {
      const key = [x.date, x.commit, x.runs, x.kept].join(" ");
      if (!groups.has(key)) groups.set(key, { ...x, names: [] });
      groups.get(key).names.push(x.name);
    }
    for (const g of groups.values()) {
      const runs = g.runs ? `, median of ${g.runs} run${g.runs === 1 ? "" : "s"}${g.names.length > 1 ? " each" : ""}` : "";
      clauses.push(
        `the ${listNames(g.names)} ${sectionsWord(g.names)} ${g.names.length === 1 ? "was" : "were"} measured on ${g.date}, commit ${g.commit}${runs}` +
          (g.kept ? ", kept from the previous version of this file" : ""),
      );
    }
    const own = others.filter((x) => x.own).map((x) => x.name);
    if (own.length) clauses.push(`the ${listNames(own)} ${sectionsWord(own)} ${own.length === 1 ? "gives its" : "give their"} own date and commit`);
    const unknown = prov.filter((x) => x.unknown).map((x) => x.name);
    if (unknown.length)
      clauses.push(`the ${listNames(unknown)} ${sectionsWord(unknown)} ${unknown.length === 1 ? "does" : "do"} not record when ${unknown.length === 1 ? "it was" : "they were"} measured`);
    const first = `Written by \`make bench\` (\`node bench/bench.js\`) on ${m.date}, commit ${m.commit}${clauses.length ? `, from these measurements: ${clauses.join("; ")}.` : "."}`;
    wrap(`${first} In each run, tickertape and the peer were measured alternating, on the same machine, with the load generator ${rest.join(" ")}`).forEach((l) => p(l));
  }
  p();
  const rows = [
    ["CPU", m.cpu],
    ["memory", m.memory],
    ["kernel", m.kernel],
    ["tickertape", `${m.tickertape} (${m.rustc})`],
    ["peer", `Node.js ${m.node}, ws ${m.ws} (bench/peer/server.js)`],
  ];
  p("| machine | |");
  p("|---|---|");
  // No scenario measured here: the table describes the machine the kept numbers came from.
  const measuredHere = scen.some((x) => !x.kept && !x.unknown);
  if (!measuredHere && old.table.length) {
    old.table.forEach((l) => p(l));
    p();
    return;
  }
  rows.forEach(([k, v]) => p(`| ${k} | ${v} |`));
  p();
  if (scen.some((x) => x.kept) && old.table.length) {
    const now = new Map(rows);
    const differ = old.table
      .map((l) => l.split("|").slice(1, -1).map((c) => c.trim()))
      .filter(([k, v]) => now.has(k) && now.get(k) !== v)
      .map(([k, v]) => `${k} ${v}`);
    if (differ.length) {
      wrap(`The sections kept from the previous version of this file were measured with: ${differ.join("; ")}.`).forEach((l) => p(l));
      p();
    }
  }
}

/** `own`: the sections with their own scripts and provenance (browser, trader, cluster, storm, resync, …), each null if not measured. */
function render(results, m, own, measured = {}, old = previousOutput()) {
  results = results ?? {};
  const { browser, trader, cluster, storm, resync, restart, soak, store, chartLoad } = own;
  const lines = [];
  const p = (s = "") => lines.push(s);
  /** A section with nothing new to show: the previous file's text, verbatim. */
  const keep = (name) => {
    old.sections[name].forEach((l) => p(l));
    p();
  };
  // Where each section's numbers come from, for the header.
  const prov = [];
  for (const name of Object.keys(SCENARIOS)) {
    if (results[name]) prov.push({ name, scenario: true, ...(measured[name] ?? { date: m.date, commit: m.commit }), runs: new Set(results[name].map((r) => r.run)).size });
    else if (old.sections[name]) prov.push(old.measured[name] ? { name, scenario: true, kept: true, ...old.measured[name] } : { name, scenario: true, kept: true, unknown: true });
  }
  for (const [name, data] of Object.entries({ browser, trader, cluster, storm, resync, restart, soak })) {
    if (!data && !old.sections[name]) continue;
    // A kept section says in its text when it was measured ("measured <date>, commit <sha>"), if it does.
    const said = !data && /measured (\d{4}-\d{2}-\d{2}), commit (\w+)/.exec(old.sections[name].join(" "));
    const own = data ? data.measured : said && { date: said[1], commit: said[2] };
    prov.push(own?.date ? { name, own } : { name, unknown: true });
  }
  p("# Benchmarks");
  p();
  renderHeader(p, m, prov, old);
  p("The peer is what a user would otherwise pick: a Node.js server on the `ws` package producing the same workload");
  p("(same symbols, rates and flush interval) and the same protocol-v1 JSON, written carefully (one diff and one");
  p("serialisation per flush, shared by every client behind its own `seq`).");
  p();
  for (const [name, sc] of Object.entries(SCENARIOS)) {
    const rows = results[name];
    if (!rows) {
      if (old.sections[name]) keep(name);
      continue;
    }
    const t = summarise(rows, "tickertape");
    p(`## ${name}: ${sc.title}`);
    p();
    if (sc.store) {
      renderStore(p, rows, t, sc);
      continue;
    }
    if (sc.curve) {
      renderCurve(p, rows, sc);
      continue;
    }
    if (sc.control) {
      const c = summarise(rows, "tickertape", "control");
      const w = summarise(rows, "tickertape", "with");
      p("| | healthy clients' latency p50 / p99 / max (ms) | changes/s delivered | server RSS peak | how the stalled clients ended |");
      p("|---|---|---|---|---|");
      p(`| 200 healthy only | ${fmt(c.p50)} / ${fmt(c.p99)} / ${fmt(c.max)} | ${fmt(c.changesPerSec)} | ${fmt(c.rssPeakMiB, 1)} MiB | – |`);
      const endings = [...new Set(w.endings.map((e) => Object.entries(e).map(([k, v]) => `${v}× ${k}`).join(", ")))].join("; ");
      p(`| 200 healthy + 10 stalled | ${fmt(w.p50)} / ${fmt(w.p99)} / ${fmt(w.max)} | ${fmt(w.changesPerSec)} | ${fmt(w.rssPeakMiB, 1)} MiB | ${endings} |`);
      p();
      p(`Healthy p99 with stalled clients / without: **${ratio(w.p99, c.p99)}**. Each stalled client's sends time out`);
      p("after 5 s and the server drops it; a client that reads nothing cannot read a close frame either, so it sees");
      p("the connection end (a slow client that still reads gets close 1013). Server memory stays within the control's.");
      p(`Server: \`${w.serverCommand}\`; load: \`${w.loadCommand}\` (and \`--clients 200 --stall 0\` for the control).`);
      p();
      continue;
    }
    const peer = summarise(rows, "peer");
    if (rows.some((r) => r.kind === "binary")) {
      renderEncodings(p, t, summarise(rows, "binary"), peer);
      const before = rows.find((r) => r.kind === "before");
      if (before) renderBefore(p, t, summarise(rows, "before"), sc, before.commit);
      p(`Commands: \`${t.serverCommand}\` / \`node bench/peer/server.js --port <port> --symbols ${sc.workload.symbols} --rate ${sc.workload.rate} --flush-ms ${sc.workload.flush} --seed 1\`; load: \`${t.loadCommand}\` (and \`--encoding bin\` for binary).`);
      p();
      continue;
    }
    p("| | tickertape | peer | tickertape / peer |");
    p("|---|---|---|---|");
    p(`| clients connected (failed) | ${fmt(t.connected)} (${t.failed}) | ${fmt(peer.connected)} (${peer.failed}) | |`);
    if (sc.load.subscribe !== "none") {
      p(`| seq gaps | ${t.gaps} | ${peer.gaps} | |`);
      p(`| changes delivered per second | ${fmt(t.changesPerSec)} | ${fmt(peer.changesPerSec)} | ${ratio(t.changesPerSec, peer.changesPerSec)} |`);
      p(`| delivery latency p50 (ms) | ${fmt(t.p50)} | ${fmt(peer.p50)} | ${ratio(t.p50, peer.p50)} |`);
      p(`| delivery latency p99 (ms) | ${fmt(t.p99)} | ${fmt(peer.p99)} | **${ratio(t.p99, peer.p99)}** |`);
      p(`| delivery latency max (ms) | ${fmt(t.max)} | ${fmt(peer.max)} | ${ratio(t.max, peer.max)} |`);
      p(`| server CPU seconds per million delivered changes | ${fmt(t.cpuPerMillion, 3)} | ${fmt(peer.cpuPerMillion, 3)} | **${ratio(t.cpuPerMillion, peer.cpuPerMillion)}** |`);
      p(`| … of it in user space | ${fmt(t.userPerMillion, 3)} | ${fmt(peer.userPerMillion, 3)} | **${ratio(t.userPerMillion, peer.userPerMillion)}** |`);
      p(`| … of it in the kernel (system) | ${fmt(t.systemPerMillion, 3)} | ${fmt(peer.systemPerMillion, 3)} | ${ratio(t.systemPerMillion, peer.systemPerMillion)} |`);
      p(`| WebSocket bytes per delivered change (payload + frame headers) | ${fmt(t.wireBytesPerChange, 1)} | ${fmt(peer.wireBytesPerChange, 1)} | ${ratio(t.wireBytesPerChange, peer.wireBytesPerChange)} |`);
    }
    p(`| server RSS peak | ${fmt(t.rssPeakMiB, 1)} MiB | ${fmt(peer.rssPeakMiB, 1)} MiB | ${ratio(t.rssPeakMiB, peer.rssPeakMiB)} |`);
    if (sc.load.subscribe === "none") {
      p(`| server RSS per connected client | ${fmt(t.rssPerClientKiB, 1)} KiB | ${fmt(peer.rssPerClientKiB, 1)} KiB | **${ratio(t.rssPerClientKiB, peer.rssPerClientKiB)}** |`);
    }
    p();
    const before = rows.find((r) => r.kind === "before");
    if (before) renderBefore(p, t, summarise(rows, "before"), sc, before.commit);
    p(`Commands: \`${t.serverCommand}\` / \`node bench/peer/server.js --port <port> --symbols ${sc.workload.symbols} --rate ${sc.workload.rate} --flush-ms ${sc.workload.flush} --seed 1\`; load: \`${t.loadCommand}\`.`);
    p();
  }
  if (browser) renderBrowser(p, browser);
  else if (old.sections.browser) keep("browser");
  if (trader) renderTrader(p, trader);
  else if (old.sections.trader) keep("trader");
  if (!cluster && old.sections.cluster) keep("cluster");
  if (cluster) {
    const [one, two] = [cluster.one, cluster.two];
    p(`## cluster: one ingest node on NATS, ${fmt(cluster.clients)} clients on one edge vs split over two`);
    p();
    p("Same workload as fanout (100 symbols × 10 ticks/s, flush 100 ms) produced by an `--role ingest` node and carried");
    p("by a local `nats-server` to `--role edge` nodes. Two load generators always run with half the clients each:");
    p("both against the one edge, or one per edge. Everything shares this machine's cores.");
    p();
    p("| | 1 edge | 2 edges | 2 edges / 1 edge |");
    p("|---|---|---|---|");
    p(`| clients connected (failed) | ${fmt(one.connected)} (${one.failed}) | ${fmt(two.connected)} (${two.failed}) | |`);
    p(`| seq gaps | ${one.gaps} | ${two.gaps} | |`);
    p(`| changes delivered per second (all clients) | ${fmt(one.changesPerSec)} | ${fmt(two.changesPerSec)} | **${ratio(two.changesPerSec, one.changesPerSec)}** |`);
    p(`| delivery latency p50 (ms, worse of the two halves) | ${fmt(one.p50)} | ${fmt(two.p50)} | ${ratio(two.p50, one.p50)} |`);
    p(`| delivery latency p99 (ms, worse of the two halves) | ${fmt(one.p99)} | ${fmt(two.p99)} | ${ratio(two.p99, one.p99)} |`);
    p(`| edge CPU seconds per million delivered changes (all edges) | ${fmt(one.edgeCpuPerMillion, 3)} | ${fmt(two.edgeCpuPerMillion, 3)} | ${ratio(two.edgeCpuPerMillion, one.edgeCpuPerMillion)} |`);
    p();
    p("Both layouts deliver every change the workload makes (the ratio is 1.00 because neither is saturated), and");
    p("splitting costs no extra CPU per delivered change: the bus adds one decode per batch per edge, not per client.");
    p("On one 2-core machine a second edge cannot add cores, so the gain from two edges shows on separate machines,");
    p("where each edge's share of the fan-out (the part that grows with clients) halves.");
    p(`Command: \`${cluster.command}\` (median of ${cluster.runs} runs each; measured ${cluster.measured.date}, commit ${cluster.measured.commit}).`);
    p();
    stale(p, cluster.measured?.commit, ["server"], "cluster");
  }
  if (storm) renderStorm(p, storm);
  else if (old.sections.storm) keep("storm");
  if (resync) renderResync(p, resync);
  else if (old.sections.resync) keep("resync");
  if (restart) renderRestart(p, restart);
  else if (old.sections.restart) keep("restart");
  if (soak) renderSoak(p, soak);
  else if (old.sections.soak) keep("soak");
  if (store) renderStoreCapacity(p, store);
  else if (old.sections["store-capacity"]) keep("store-capacity");
  if (chartLoad) renderChartLoad(p, chartLoad);
  else if (old.sections["chart-load"]) keep("chart-load");
  p("## Where the CPU goes");
  p();
  p("From `perf record -e cpu-clock --call-graph dwarf -p <pid>` on tickertape during fanout-2000 (a release build with");
  p("`CARGO_PROFILE_RELEASE_DEBUG=line-tables-only`, taken while this benchmark was written):");
  p("about 55 % of the server's CPU is the kernel's TCP send path (`sendto` → `tcp_sendmsg`, which on loopback also");
  p("runs the receiving side's `tcp_v4_rcv`), 13 % is tungstenite framing and copying each frame, 12 % the");
  p("per-connection task's wake-up and `select!`, 8 % the hub's flush. `strace -c` shows exactly one `sendto` per");
  p("delivered message — the same as the peer, which sends the same bytes — so both servers pay the same kernel cost");
  p("per message, and that cost alone is more than half of what the peer spends in total. Server CPU per delivered");
  p("change therefore cannot reach half of the peer's on this protocol (JSON text frames, one per client per flush);");
  p("what tickertape saves is in user space. The profile also found the biggest win made: tungstenite zero-fills its");
  p("whole read buffer before every read attempt, and at the default 128 KiB that was a third of the CPU and most of");
  p("the memory per client; tickertape now reads 1 KiB at a time.");
  p();
  p("With binary clients, before the fan-out writers (`perf record -F 499 -g -p <pid>` for 8 s of fanout-2000 on");
  p("`tickertape.v1.bin`, the release build's symbols, 2026-11-30): the kernel was 59 % of the server's CPU, tickertape's own");
  p("code 37 %, libc 3 %. Of the 37 %, 22 points were waking and scheduling the per-connection tasks (the head `watch`");
  p("notifying 2,000 waiters, each task's `select!` re-registering its wakers, token and timer checks, the scheduler's");
  p("queues), 4 the socket read path, 5 framing and writing, 4 the session's own logic, 1 the hub.");
  p();
  p("With the fan-out writers (`server/src/fanout.rs`: a session that keeps up hands its socket to one writer per worker");
  p("thread, so a batch wakes two tasks instead of 2,000), same workload, `perf record -F 1999 -g -p <pid>` for 10 s:");
  p("binary clients: the kernel 74 %, tickertape 21 %, libc 5 %. The largest user-space items were framing and writing");
  p("(tungstenite's `write`/`buffer_frame`/`format_into_buf` and the `poll_write` chain, about 6 points), registering");
  p("tokio-tungstenite's waker proxies on each poll (3), dropping each client's frame (`bytes` 2), the writer's own loop");
  p("(2), memmove 0.8 and malloc/free about 2. JSON clients: the kernel 71 %, tickertape 21 %, libc 8 %, of which");
  p("memmove 4.7: each client's frame was built from the shared body, and tungstenite copied it again into its write");
  p("buffer.");
  p();
  p("With frames written by tickertape itself (`server/src/socket.rs`: one vectored write of the frame header, the");
  p("message's own head — `seq` and `batch` — and the batch's shared body, borrowed; tungstenite only reads the clients'");
  p("frames), same workload and command, 2026-11-30: JSON clients: the kernel 80.5 %, tickertape 16.8 %, libc 2.4 %, of");
  p("which memmove 0.2 (was 4.7); binary clients: the kernel 80.6 %, tickertape 16.5 %, libc 2.8 %, memmove 0.3. What is");
  p("left in user space: the writers' loop (`Lane::deliver`, 3.2 points), the `poll_write_vectored` chain through hyper's");
  p("upgraded connection and the listener's guard to `writev` (about 5.5), tokio's readiness checks (about 1), the hub's");
  p("candles (0.9) and malloc/free (about 1). The kernel's send path is now four fifths of the server's CPU: the floor of");
  p("one `writev` per client per batch, which the peer pays too.");
  p();
  p("An edge serving 2,000 binary clients spent 0.3 % of its CPU turning the bus's batches into its own");
  p("(`Mirror::publish`, encodings included) and about 1.5 % parsing the bus's JSON (profiled 2026-11-30, before edges");
  p("passed the ingest node's JSON of each change through; an edge now encodes only the binary form, and that profile was");
  p("not taken again).");
  p();
  p("## Reproduce");
  p();
  p("```sh");
  p("make bench            # builds release binaries, installs bench/ npm deps, runs everything above (~90 min)");
  p("node bench/bench.js --runs 3 --only fanout-2000   # one scenario");
  p("node bench/bench.js --runs 3 --only trader        # the trader's screen in headless Chromium (bench/trader.js)");
  p("node bench/bench.js --runs 3 --only storm,resync --before <an older tickertape binary> --before-commit <its commit>");
  p("```");
  p();
  p("OS limits: each connected client holds one file descriptor in the server and one in the load generator.");
  p("tickertape raises its soft `RLIMIT_NOFILE` to the hard limit at start (and logs it); for more clients than");
  p("the hard limit allows, raise it (`ulimit -Hn`, `LimitNOFILE=` in a systemd unit, `/etc/security/limits.conf`).");
  p("Above ~28,000 clients from one load-generator address, `net.ipv4.ip_local_port_range` runs out of ports;");
  p("the listen backlog is capped by `net.core.somaxconn`.");
  p();
  return lines.join("\n");
}

/** `--before PATH --before-commit SHA`, passed on to the storm and resync scripts. */
function beforeArgs() {
  if (!args.before) return "";
  return ` --before ${JSON.stringify(path.resolve(args.before))}${args["before-commit"] ? ` --before-commit ${args["before-commit"]}` : ""}`;
}

function stormBench() {
  const out = execSync(`node ${path.join(__dirname, "storm.js")} --runs ${RUNS}${beforeArgs()}`, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(out.toString());
}

function storeBench() {
  const out = execSync(`node ${path.join(__dirname, "store.js")} --runs ${RUNS}`, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(out.toString());
}

function chartLoadBench() {
  const out = execSync(`node ${path.join(__dirname, "chart-load.js")} --runs ${Math.max(RUNS, 7)}`, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(out.toString());
}

function restartBench() {
  const out = execSync(`node ${path.join(__dirname, "restart.js")} --runs ${RUNS}`, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(out.toString());
}

function renderRestart(p, rs) {
  const [a, b] = [rs.summary.spread, rs.summary.none];
  p(`## restart: ${fmt(rs.clients)} clients through a restart, with and without the spread`);
  p();
  p(`${fmt(rs.clients)} clients (\`tickertape-loadgen --reconnect\`, every one subscribed to \`*\` of 20 symbols) connect over`);
  p("15 s; 5 s later the server is stopped with SIGTERM and a new process is started on the same port, as a deployment");
  p("does. Each client comes back after its 1012 close's `retry_after_ms`, retrying a refused connection after 250 ms");
  p("doubling to 4 s (±50 % jitter), and is live again at its snapshot. The new process's CPU (user + system) is sampled");
  p("every 250 ms. Medians of " + `${rs.runs} run${rs.runs === 1 ? "" : "s"}, the two variants alternating; the load generator shares the machine.`);
  p();
  p(`| | ${a.title} | ${b.title} | spread / none |`);
  p("|---|---|---|---|");
  const row = (label, f, digits = 0, bold = false) => {
    const r = ratio(f(a), f(b));
    p(`| ${label} | ${fmt(f(a), digits)} | ${fmt(f(b), digits)} | ${bold ? `**${r}**` : r} |`);
  };
  row("clients closed with 1012", (s) => s.closed);
  row("… of them live again", (s) => s.liveAgain);
  row("first close → every client live again (s)", (s) => s.allBackMs / 1000, 2);
  row("a client's downtime p50 (s)", (s) => s.downtimeP50Ms / 1000, 2);
  row("a client's downtime p99 (s)", (s) => s.downtimeP99Ms / 1000, 2);
  row("failed connection attempts (refused while no process listened, or at the limit)", (s) => s.failedAttempts, 0, true);
  row("old process: SIGTERM → exit (s)", (s) => s.oldProcessStopMs / 1000, 2);
  row("new process: peak CPU over 250 ms (% of one core)", (s) => s.peakCpuPct, 0, true);
  row("new process: CPU s until every client was back", (s) => s.cpuSecsUntilBack, 2);
  row("new process: peak RSS (MiB)", (s) => s.peakRssMiB, 1);
  p();
  p(`Commands: \`${rs.command}\`; server \`${rs.serverCommand}\`; load \`${rs.loadCommand}\`.`);
  const m = rs.measured ?? {};
  p(`Measured ${m.date}, commit ${m.commit}${m.dirty ? " (with uncommitted changes)" : ""}.`);
  p();
}

function soakBench() {
  const out = execSync(`node ${path.join(__dirname, "soak.js")} --minutes ${Number(args["soak-minutes"] ?? 30)}`, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(out.toString());
}

function renderSoak(p, s) {
  p(`## soak: ${s.minutes} minutes of fanout-2000 with churn, slow consumers and feed outages`);
  p();
  p("The fan-out workload (100 symbols × 10 ticks/s, flush 100 ms) with 2,000 healthy clients on `*` for the whole time;");
  p("meanwhile, without a pause, groups of 100 clients (one symbol each) join over 2 s and leave 4 s later; every minute,");
  p("10 clients subscribe to `*` and never read for 3 minutes; every 5 minutes the simulator is failed for 20 s through the control API");
  p("and restored. Sampled every 10 s from the end of the first minute: the server's RSS, open descriptors");
  p("(`/proc/<pid>/fd`), tasks alive on its runtime (`tickertape_tasks_alive`) and WebSocket sessions.");
  p();
  p("| | start | end | peak | lowest |");
  p("|---|---|---|---|---|");
  const row = (label, st, f = (x) => fmt(x)) => p(`| ${label} | ${f(st.start)} | ${f(st.end)} | ${f(st.peak)} | ${f(st.min)} |`);
  row("server RSS (MiB)", s.rssKiB, (x) => fmt(x / 1024, 1));
  row("open descriptors", s.fds);
  row("tasks alive", s.tasks);
  row("WebSocket sessions", s.sessions);
  p();
  const h = s.healthy ?? {};
  const endings = (e) => Object.entries(e ?? {}).map(([k, v]) => `${v}× ${k}`).join(", ") || "none";
  p(`Healthy clients: ${fmt(h.connected)} of ${fmt(h.clients)} connected, ${h.failed} failed, **${h.seqGaps} seq gaps**,`);
  p(`${fmt(h.changesPerSec)} changes/s delivered, p99 ${fmt(h.p99Ms)} ms; closed by the server: ${endings(h.endings)}.`);
  p(`Churn: ${fmt(s.churn.clientsJoinedAndLeft)} clients joined and left (${s.churn.failed} failed to connect).`);
  p(`Slow consumers: ${s.slowConsumers.clients}, ended by the server as: ${endings(s.slowConsumers.endings)}.`);
  p(`Outages: ${s.outages.length} (fail/restore answered ${[...new Set(s.outages.map((o) => `${o.failed}/${o.restored}`))].join(", ")}).`);
  const a = s.afterKiB;
  p(`Five seconds after everyone left: RSS ${fmt(a.rssKiB / 1024, 1)} MiB, ${fmt(a.fds)} descriptors, ${fmt(a.tasks)} tasks, ${fmt(a.sessions)} sessions.`);
  p();
  const m = s.measured ?? {};
  p(`Command: \`${s.command}\`; server \`${s.serverCommand}\`. Measured ${m.date}, commit ${m.commit}${m.dirty ? " (with uncommitted changes)" : ""}.`);
  p();
}

function resyncBench() {
  const out = execSync(`node ${path.join(__dirname, "resync.js")} --runs ${RUNS}${beforeArgs()}`, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(out.toString());
}

function clusterBench() {
  const out = execSync(`node ${path.join(__dirname, "cluster.js")} --runs ${RUNS} --clients 4000`, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  const { date, commit } = machine();
  return { ...JSON.parse(out.toString()), measured: { date, commit } };
}

async function browserBench() {
  const out = execSync(`node ${path.join(__dirname, "browser.js")} --runs ${RUNS}`, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(out.toString());
}

function traderBench() {
  const out = execSync(`node ${path.join(__dirname, "trader.js")} --runs ${RUNS}`, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(out.toString());
}

(async () => {
  const savedPath = path.resolve(root, args.results ?? "target/bench-results.json");
  if (args["render-only"]) {
    const saved = JSON.parse(fs.readFileSync(savedPath, "utf8"));
    const own = { browser: saved.browser, trader: saved.trader ?? null, cluster: saved.cluster, storm: saved.storm ?? null, resync: saved.resync ?? null, restart: saved.restart ?? null, soak: saved.soak ?? null, store: saved.store ?? null, chartLoad: saved.chartLoad ?? null };
    fs.writeFileSync(OUT, render(saved.results, machine(), own, savedMeasured(saved)));
    return console.error(`rewrote ${path.relative(root, OUT)} from ${path.relative(root, savedPath)}`);
  }
  // With --only, the other sections keep their numbers from the last run that
  // saved them, or else their text in the existing BENCHMARKS.md.
  const saved = ONLY && fs.existsSync(savedPath) ? JSON.parse(fs.readFileSync(savedPath, "utf8")) : {};
  const results = { ...(saved.results ?? {}) };
  const measured = savedMeasured(saved);
  for (const [name, sc] of Object.entries(SCENARIOS)) {
    if (ONLY && !ONLY.has(name)) continue;
    results[name] = await runScenario(name, sc);
    const { date, commit } = machine();
    measured[name] = { date, commit };
  }
  const browser = !ONLY || ONLY.has("browser") ? await browserBench() : saved.browser ?? null;
  const trader = !ONLY || ONLY.has("trader") ? traderBench() : saved.trader ?? null;
  const cluster = !ONLY || ONLY.has("cluster") ? clusterBench() : saved.cluster ?? null;
  const storm = !ONLY || ONLY.has("storm") ? stormBench() : saved.storm ?? null;
  const resync = !ONLY || ONLY.has("resync") ? resyncBench() : saved.resync ?? null;
  const restart = !ONLY || ONLY.has("restart") ? restartBench() : saved.restart ?? null;
  const soak = !ONLY || ONLY.has("soak") ? soakBench() : saved.soak ?? null;
  const store = !ONLY || ONLY.has("store-capacity") ? storeBench() : saved.store ?? null;
  const chartLoad = !ONLY || ONLY.has("chart-load") ? chartLoadBench() : saved.chartLoad ?? null;
  // The header names when each scenario section was measured (one date and
  // commit when a single run measured them all).
  const meta = machine();
  fs.writeFileSync(OUT, render(results, meta, { browser, trader, cluster, storm, resync, restart, soak, store, chartLoad }, measured));
  fs.mkdirSync(path.dirname(savedPath), { recursive: true });
  fs.writeFileSync(savedPath, JSON.stringify({ results, measured, browser, trader, cluster, storm, resync, restart, soak, store, chartLoad, meta: { date: meta.date, commit: meta.commit } }, null, 1));
  console.error(`wrote ${path.relative(root, OUT)}`);
})();
