// The trader's screen in headless Chromium (viewport 1440×900): four linked
// charts of 1 s bars with two indicators each (SMA 20, RSI 14), the trades
// tape and order book open, every symbol trading 10 times a second; next to
// it, measured alternating in the same run on the same server command, the
// plain single-chart page of the same symbol and interval (no indicators, no
// tape or book).
//
// Each page gets a fresh server and a fresh Chromium. Once the page is live
// and drawn (every chart with more than 100 bars and its indicators, the
// tape's and the book's rows there) and has warmed up for 3 s, a window of
// --secs seconds records, the way bench/chart-frame-time.js does:
//   - the time spent in requestAnimationFrame callbacks per frame (where the
//     charts paint: "chart frame time"): p50 / p95 / p99 / max,
//   - the interval between animation frames: p50 / p95 / max,
//   - the renderer main thread's busy share and script seconds (Chrome
//     DevTools Protocol Performance metrics: TaskDuration and ScriptDuration
//     over wall time),
//   - the CPU of the renderer processes (the page's, and the idle spare ones
//     Chromium keeps; user and system, /proc/<pid>/stat fields 14 and 15)
//     and of all Chromium processes (lib.js sampleTree / cpuDelta), as % of
//     one core.
// Console errors are kept; a page that panics (or throws) fails the run.
//
// Usage: node bench/trader.js [--runs 3] [--secs 20]   (needs `make build`)
// Prints one line per page per run on stderr and the result as JSON on stdout.

"use strict";
const { resolve } = require("node:path");
const { statSync } = require("node:fs");
const { frameProbe, root, startServer, launchChromium, chromiumPid, median, parseArgs, sleep, sampleTree, cpuDelta, measuredBuild, SOURCES } = require("./lib");

const args = parseArgs();
const RUNS = Number(args.runs ?? 3);
const SECS = Number(args.secs ?? 20);
const WARMUP_MS = 3000;
const READY_MS = 60_000;
const VIEWPORT = { width: 1440, height: 900 };
const SERVER = ["--seed", "1", "--sim-rate", "10"];
const MIN_BARS = 100;
// As in bench/browser.js: without Playwright's switches that keep hidden
// tabs running like visible ones, which a user's browser does not have.
const LAUNCH = { ignoreDefaultArgs: ["--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows", "--disable-renderer-backgrounding"] };
/** The localStorage key and value of the tape and book panel open (app/src/components/depth.rs). */
const DEPTH_KEY = "tickertape.depth";
const DEPTH_OPEN = "open";

const PAGES = {
  trader: {
    title: "the trader's screen: 4 linked charts of 1 s bars, SMA 20 and RSI 14 on each, the tape and order book open",
    path: "/?symbol=AAPL&interval=1s&ind=sma20,rsi14&layout=4&charts=MSFT:1s,NVDA:1s,TSLA:1s",
    charts: 4,
    studies: 2,
    depth: true,
  },
  single: {
    title: "the single-chart page: 1 chart of 1 s bars, no indicators, the tape and order book closed",
    path: "/?symbol=AAPL&interval=1s",
    charts: 1,
    studies: 0,
    depth: false,
  },
};

// What the page's wasm and scripts are built from, for a warning when one
// is newer than the build measured (the server's are lib.js SOURCES.tickertape).
const SITE_SOURCES = { paths: ["app", "frontend/src", "frontend/Cargo.toml", "style", "public", "Cargo.toml", "Cargo.lock"], except: [] };
const BINARY = resolve(root, "target/release/tickertape");
const WASM = resolve(root, "target/site/pkg/tickertape.wasm");

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : null;
};
const round = (x, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 10 ** digits) / 10 ** digits);
const med = (xs) => {
  const s = xs.filter((x) => x !== undefined && x !== null && !Number.isNaN(x));
  return s.length ? median(s) : null;
};

/** A process-tree sample with only the renderer processes. */
const renderers = (sample) => ({ at: sample.at, tree: new Map([...sample.tree].filter(([, s]) => s.type === "renderer")) });

/** Where the page stands: its charts' bars and studies, the tape's and book's rows, the panel's toggle. */
function pageState() {
  const charts = [...document.querySelectorAll("[data-testid=chart], [data-testid=linked-chart]")].map((el) => ({
    linked: el.dataset.testid === "linked-chart",
    bars: Number(el.dataset.bars),
    studies: Number(el.dataset.studies ?? 0),
  }));
  return {
    charts,
    tapeRows: document.querySelectorAll("[data-testid=tape-row]").length,
    bookBids: document.querySelectorAll("[data-testid=book-bid]").length,
    bookAsks: document.querySelectorAll("[data-testid=book-ask]").length,
    depthPressed: document.querySelector("[data-testid=depth] button[aria-pressed]")?.getAttribute("aria-pressed") ?? null,
    live: document.querySelector("[data-testid=connection]")?.textContent.includes("Live") ?? false,
    diffs: window.__tickertape?.diffs ?? null,
  };
}

/** Whether `state` is the page `sc` fully drawn. */
function ready(sc, state) {
  const main = state.charts.filter((c) => !c.linked);
  const linked = state.charts.filter((c) => c.linked);
  return (
    state.live &&
    main.length === 1 &&
    linked.length === sc.charts - 1 &&
    state.charts.every((c) => c.bars > MIN_BARS && c.studies === sc.studies) &&
    (sc.depth ? state.depthPressed === "true" && state.tapeRows > 0 && state.bookBids > 0 : state.depthPressed === "false" && state.tapeRows === 0)
  );
}

/** A panic or uncaught error in the page: the console lines that show it. */
const PANIC = /panicked at|RuntimeError: unreachable|unreachable executed/i;

async function once(name, sc) {
  const server = await startServer(SERVER);
  let browser;
  const consoleErrors = [];
  const pageErrors = [];
  const failed = () => {
    const panics = [...pageErrors, ...consoleErrors.filter((t) => PANIC.test(t))];
    return panics.length ? new Error(`${name}: the page panicked or threw:\n  ${panics.slice(0, 5).join("\n  ")}`) : null;
  };
  try {
    browser = await launchChromium(LAUNCH);
    const pid = browser.process?.()?.pid ?? chromiumPid();
    const page = await browser.newPage({ viewport: VIEWPORT });
    page.on("console", (msg) => {
      if (msg.type() === "error") consoleErrors.push(msg.text().slice(0, 500));
    });
    page.on("pageerror", (e) => pageErrors.push(String(e?.stack ?? e).slice(0, 500)));
    // Time every requestAnimationFrame callback, grouped by frame.
    await page.addInitScript(frameProbe);
    await page.addInitScript(
      ({ key, value, open }) => {
        // The panel's remembered choice: open for the trader's screen, nothing remembered for the single chart.
        try {
          if (open) localStorage.setItem(key, value);
          else localStorage.clear();
        } catch {}
      },
      { key: DEPTH_KEY, value: DEPTH_OPEN, open: sc.depth },
    );
    await page.goto(server.url + sc.path);

    // Live and drawn; the panel opened by its toggle if the remembered choice did not open it.
    let openedBy = sc.depth ? "localStorage" : null;
    let closedSince = null;
    let state;
    const deadline = performance.now() + READY_MS;
    for (;;) {
      const err = failed();
      if (err) throw err;
      state = await page.evaluate(pageState);
      if (ready(sc, state)) break;
      if (sc.depth && openedBy === "localStorage" && state.live && state.depthPressed === "false") {
        // Hydrated and live for 2 s, yet closed: the stored value did not open it.
        closedSince ??= performance.now();
        if (performance.now() - closedSince > 2000) {
          openedBy = "toggle";
          await page.locator("[data-testid=depth] button[aria-pressed]").click();
        }
      }
      if (performance.now() > deadline) throw new Error(`${name}: not drawn within ${READY_MS / 1000} s: ${JSON.stringify(state)}; console errors: ${JSON.stringify(consoleErrors.slice(0, 5))}`);
      await sleep(100);
    }
    await sleep(WARMUP_MS);

    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const metric = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
    const start = await page.evaluate(() => ({ frames: window.__frames.length, ticks: window.__ticks.length }));
    const state0 = await page.evaluate(pageState);
    const before = await metric();
    const procs0 = sampleTree(pid);
    await sleep(SECS * 1000);
    const procs1 = sampleTree(pid);
    const after = await metric();
    const state1 = await page.evaluate(pageState);
    const sample = await page.evaluate(({ frames, ticks }) => ({ work: window.__frames.slice(frames).map((f) => f.work), ticks: window.__ticks.slice(ticks) }), start);

    const err = failed();
    if (err) throw err;
    if (!ready(sc, state1)) throw new Error(`${name}: at the end of the window the page is no longer live and drawn: ${JSON.stringify(state1)}`);
    const visibility = await page.evaluate(() => document.visibilityState);
    if (visibility !== "visible") throw new Error(`${name}: the page is '${visibility}', not visible`);

    const wall = after.Timestamp - before.Timestamp;
    const gaps = sample.ticks.slice(1).map((t, i) => t - sample.ticks[i]);
    const renderer = cpuDelta(renderers(procs0), renderers(procs1));
    const all = cpuDelta(procs0, procs1);
    return {
      frameMs: {
        p50: round(pct(sample.work, 50)),
        p95: round(pct(sample.work, 95)),
        p99: round(pct(sample.work, 99)),
        max: round(sample.work.length ? Math.max(...sample.work) : null),
      },
      framesPerSec: round(sample.work.length / wall, 1),
      intervalMs: { p50: round(pct(gaps, 50)), p95: round(pct(gaps, 95)), max: round(gaps.length ? Math.max(...gaps) : null) },
      busyPct: round((100 * (after.TaskDuration - before.TaskDuration)) / wall, 1),
      scriptSecs: round(after.ScriptDuration - before.ScriptDuration),
      renderer: { userPct: renderer.userPct, systemPct: renderer.systemPct, totalPct: renderer.totalPct, processes: renderer.processes },
      chromium: { userPct: all.userPct, systemPct: all.systemPct, totalPct: all.totalPct, processes: all.processes },
      ...(state0.diffs !== null && state1.diffs !== null && { diffsPerSec: round((state1.diffs - state0.diffs) / wall, 1) }),
      bars: state1.charts.map((c) => c.bars),
      tapeRows: state1.tapeRows,
      bookRows: state1.bookBids + state1.bookAsks,
      ...(openedBy && { depthOpenedBy: openedBy }),
      consoleErrors: consoleErrors.slice(0, 10),
      consoleErrorCount: consoleErrors.length,
      windowSecs: round(wall),
      version: browser.version(),
    };
  } finally {
    await browser?.close().catch(() => {});
    server.stop();
  }
}

function line(name, run, r) {
  const f = r.frameMs;
  const i = r.intervalMs;
  let s = `${name} run ${run}: chart frame time p50 ${f.p50} p95 ${f.p95} p99 ${f.p99} max ${f.max} ms (${r.framesPerSec} frames/s with work)`;
  s += `, frame interval p50 ${i.p50} p95 ${i.p95} ms, main thread ${r.busyPct} % busy, script ${r.scriptSecs} s`;
  s += `, renderer ${r.renderer.totalPct} % of a core (user ${r.renderer.userPct}, sys ${r.renderer.systemPct}), Chromium ${r.chromium.totalPct} %`;
  s += `; bars ${r.bars.join("/")}, tape ${r.tapeRows} rows, book ${r.bookRows} rows`;
  if (r.depthOpenedBy) s += `, panel opened by ${r.depthOpenedBy}`;
  if (r.consoleErrorCount) s += `; ${r.consoleErrorCount} console errors, first: ${r.consoleErrors[0]}`;
  return s;
}

/** The median over the runs of each figure. */
function summarise(rs) {
  const m = (f) => round(med(rs.map(f)), 2);
  return {
    frameMs: { p50: m((r) => r.frameMs.p50), p95: m((r) => r.frameMs.p95), p99: m((r) => r.frameMs.p99), max: m((r) => r.frameMs.max) },
    framesPerSec: m((r) => r.framesPerSec),
    intervalMs: { p50: m((r) => r.intervalMs.p50), p95: m((r) => r.intervalMs.p95), max: m((r) => r.intervalMs.max) },
    busyPct: m((r) => r.busyPct),
    scriptSecs: m((r) => r.scriptSecs),
    renderer: { userPct: m((r) => r.renderer.userPct), systemPct: m((r) => r.renderer.systemPct), totalPct: m((r) => r.renderer.totalPct) },
    chromium: { userPct: m((r) => r.chromium.userPct), systemPct: m((r) => r.chromium.systemPct), totalPct: m((r) => r.chromium.totalPct) },
    diffsPerSec: m((r) => r.diffsPerSec),
  };
}

(async () => {
  const measured = measuredBuild([
    [BINARY, SOURCES.tickertape],
    [WASM, SITE_SOURCES],
  ]);
  // The build measured: read before the runs; a rebuild during them is reported.
  const build = () => [BINARY, WASM].map((f) => statSync(f).mtimeMs).join();
  const builtAt = build();
  const runs = { trader: [], single: [] };
  let version = null;
  for (let run = 1; run <= RUNS; run++) {
    // Each run swaps which page goes first.
    const order = run % 2 ? ["trader", "single"] : ["single", "trader"];
    for (const name of order) {
      const { version: v, ...r } = await once(name, PAGES[name]);
      version ??= v;
      runs[name].push({ run, ...r });
      console.error(line(name, run, r));
    }
  }
  // Per-run ratios (same run, same machine state), then their median.
  const perRun = (f) => runs.trader.map((t, i) => (f(runs.single[i]) ? round(f(t) / f(runs.single[i])) : null));
  const ratio = (f) => {
    const per = perRun(f);
    return { median: round(med(per)), perRun: per };
  };
  const rebuilt = build() !== builtAt;
  if (rebuilt) console.error("⚠ target/release/tickertape or target/site/pkg changed during the runs: the results mix builds");
  console.log(
    JSON.stringify({
      runs: RUNS,
      secs: SECS,
      warmupSecs: WARMUP_MS / 1000,
      viewport: `${VIEWPORT.width}×${VIEWPORT.height}`,
      chromium: version,
      server: `target/release/tickertape --addr 127.0.0.1:<port> --ephemeral ${SERVER.join(" ")}`,
      pages: Object.fromEntries(Object.entries(PAGES).map(([name, sc]) => [name, { title: sc.title, path: sc.path }])),
      depth: { key: DEPTH_KEY, value: DEPTH_OPEN },
      summary: { trader: summarise(runs.trader), single: summarise(runs.single) },
      ratios: {
        busyPct: ratio((r) => r.busyPct),
        frameP95: ratio((r) => r.frameMs.p95),
        rendererPct: ratio((r) => r.renderer.totalPct),
      },
      perRun: runs,
      measured,
      ...(rebuilt && { rebuiltDuringRun: true }),
      command: `node bench/trader.js --runs ${RUNS}${SECS !== 20 ? ` --secs ${SECS}` : ""}`,
    }),
  );
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
