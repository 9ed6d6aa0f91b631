// Browser side of `make bench`: what a user's machine pays to keep the
// dashboard open, next to a minimal hand-written page showing the same quotes
// (bench/reference.html), measured in the same run.
//
// Each scenario gets a fresh server and a fresh headless Chromium (viewport
// 1440×900). Once the page is live and has warmed up for 3 s, a 10 s window
// records
//   - the CPU time of ALL Chromium processes (browser, zygotes, renderer,
//     GPU/raster, network and other utility processes) from /proc, as % of one
//     core: user, system and total (lib.js sampleTree / cpuDelta),
//   - the renderer main thread's busy share (Chrome DevTools Protocol
//     Performance metrics: TaskDuration, ScriptDuration, RecalcStyleDuration,
//     LayoutDuration over wall time),
//   - for dashboard-500, the time from navigation to the first live update in
//     the table (before the window).
// Scenarios are interleaved (run 1 of every scenario, then run 2, …) so that
// machine noise hits them alike; results are medians of --runs, and ratios to
// the reference are medians of the per-run ratios.
//
// Usage: node bench/browser.js [--runs 3] [--only reference,dashboard,...]   (needs `make build`)
// Prints one line per scenario run on stderr and the result as JSON on stdout.

"use strict";
const { resolve } = require("node:path");
const { readFileSync, statSync } = require("node:fs");
const { execSync } = require("node:child_process");
const { gzipSync } = require("node:zlib");
const { root, chromium, startServer, launchChromium, chromiumPid, freePort, median, parseArgs, sleep, sampleTree, cpuDelta } = require("./lib");

const args = parseArgs();
const RUNS = Number(args.runs ?? 3);
const WARMUP_MS = 3000;
const WINDOW_MS = 10_000;
const VIEWPORT = { width: 1440, height: 900 };
const DEFAULT = ["--seed", "42"];
const BIG = ["--sim-symbols", "500", "--sim-rate", "10", "--seed", "1"];
// Playwright launches Chromium with switches that keep hidden tabs running
// like visible ones (no timer throttling, no renderer backgrounding); a user's
// Chrome has none of them. Every scenario runs without them.
const LAUNCH = { ignoreDefaultArgs: ["--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows", "--disable-renderer-backgrounding"] };
const HIDDEN_BY =
  "the dashboard is opened in a tab of the browser's default context, reached with `chromium.connectOverCDP(…, { noDefaults: true })` " +
  "(Playwright's own contexts turn on CDP focus emulation, which keeps every page visible), and once it is live an about:blank tab " +
  "is opened in the same window and brought to the front (its small cost counts as the browser's); `document.visibilityState` " +
  "is checked to be 'hidden' before the warm-up and after the window, or the run fails.";

const SCENARIOS = {
  reference: { title: "reference page (bench/reference.html), 40 default symbols", server: DEFAULT, page: "reference" },
  dashboard: { title: "dashboard `/`, 40 default symbols", server: DEFAULT, page: "/" },
  "dashboard-reduced-motion": { title: "dashboard, prefers-reduced-motion: reduce", server: DEFAULT, page: "/", reducedMotion: true },
  "dashboard-no-chart": { title: "dashboard `/?symbol=ZZZZ` (unknown symbol: no chart data)", server: DEFAULT, page: "/?symbol=ZZZZ" },
  hidden: { title: "dashboard `/`, live, then hidden (an about:blank tab in front)", server: DEFAULT, page: "/", hide: true },
  "hidden-blank": { title: "about:blank, hidden the same way (what the hidden scenario's browser costs without the dashboard)", server: DEFAULT, page: "blank", hide: true },
  "reference-500": { title: "reference page, 500 symbols × 10 ticks/s", server: BIG, page: "reference" },
  "dashboard-500": { title: "dashboard `/`, 500 symbols × 10 ticks/s", server: BIG, page: "/", firstUpdate: true },
};
// [scenario, its reference]: the ratios reported.
const RATIOS = [
  ["dashboard", "reference"],
  ["dashboard-reduced-motion", "reference"],
  ["dashboard-no-chart", "reference"],
  ["hidden", "reference"],
  ["dashboard-500", "reference-500"],
];
const ONLY = args.only ? args.only.split(",") : null;
for (const name of ONLY ?? []) if (!SCENARIOS[name]) throw new Error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(", ")}`);
const chosen = Object.keys(SCENARIOS).filter((n) => !ONLY || ONLY.includes(n));

const REFERENCE_HTML = readFileSync(resolve(__dirname, "reference.html"));

/**
 * The page to measure. For the hidden scenario, a tab in the browser's default
 * context, driven through a second Playwright connection with `noDefaults`:
 * in Playwright's own contexts CDP focus emulation is on, and it keeps a page
 * visible whatever is in front of it.
 */
async function openPage(browser, sc, port) {
  if (!sc.hide) {
    // The reference page is our own response (page.route), which Chromium's
    // Local Network Access checks treat as public: it may reach /ws on
    // 127.0.0.1 only with this permission. The dashboard comes from 127.0.0.1.
    const permissions = sc.page === "reference" ? ["local-network-access"] : [];
    const page = await browser.newPage({ viewport: VIEWPORT, permissions });
    return { page, context: page.context() };
  }
  const cdp = await chromium.connectOverCDP(`http://127.0.0.1:${port}`, { noDefaults: true });
  const context = cdp.contexts()[0];
  const page = await context.newPage();
  await page.setViewportSize(VIEWPORT);
  return { page, context, disconnect: () => cdp.close() };
}

/** Hides `page` the way a user does: another tab of its window comes to the front. Throws unless it is then hidden. */
async function hide(page, context) {
  if ((await page.evaluate(() => document.visibilityState)) !== "visible") throw new Error("hidden scenario: the page is not visible before hiding it");
  const blank = await context.newPage(); // about:blank
  await blank.bringToFront();
  await page.waitForFunction(() => document.visibilityState === "hidden", null, { timeout: 5000 }).catch(() => {});
  const state = await page.evaluate(() => document.visibilityState);
  if (state !== "hidden") throw new Error(`hidden scenario: document.visibilityState is '${state}' after bringing another tab to the front`);
}

async function once(name, sc) {
  const server = await startServer(sc.server);
  let browser;
  let disconnect;
  try {
    const port = sc.hide ? await freePort() : null;
    browser = await launchChromium({ ...LAUNCH, args: port ? [`--remote-debugging-port=${port}`] : [] });
    const pid = browser.process?.()?.pid ?? chromiumPid();
    const opened = await openPage(browser, sc, port);
    const { page, context } = opened;
    disconnect = opened.disconnect;
    if (sc.reducedMotion) await page.emulateMedia({ reducedMotion: "reduce" });
    if (sc.firstUpdate) {
      // The first time a row's last price differs from the one the server
      // rendered. (Not any change in the table: once hydrated, the page
      // measures its box and renders the rows in view, which adds or
      // removes rows before the socket has even opened.)
      await page.addInitScript(() => {
        document.addEventListener("DOMContentLoaded", () => {
          const body = document.querySelector("table.quotes tbody");
          if (!body) return;
          const prices = (root) => new Map([...root.querySelectorAll("tr[data-symbol]")].map((tr) => [tr.dataset.symbol, tr.querySelector("td.last")?.textContent]));
          const rendered = prices(body);
          const seen = new MutationObserver(() => {
            for (const [symbol, price] of prices(body)) {
              if (rendered.has(symbol) && rendered.get(symbol) !== price) {
                window.__firstUpdate ??= performance.now();
                return seen.disconnect();
              }
            }
          });
          seen.observe(body, { subtree: true, characterData: true, childList: true });
        });
      });
    }
    const isReference = sc.page === "reference";
    if (isReference) {
      // Same origin as /ws (the server refuses cross-origin upgrades); the
      // response is ours, so the server's CSP does not apply to it.
      const url = `${server.url}/bench-reference`;
      await page.route(url, (route) => route.fulfill({ status: 200, contentType: "text/html; charset=utf-8", body: REFERENCE_HTML }));
      await page.goto(url);
      await page.waitForFunction(() => window.__live === true);
      await page.unroute(url); // no request interception left during the window
    } else if (sc.page === "blank") {
      await page.goto("about:blank");
    } else {
      await page.goto(server.url + sc.page);
      await page.getByTestId("connection").filter({ hasText: "Live" }).waitFor();
    }
    let firstUpdateMs;
    if (sc.firstUpdate) {
      await page.waitForFunction(() => window.__firstUpdate !== undefined);
      firstUpdateMs = await page.evaluate(() => window.__firstUpdate);
    }
    if (sc.hide) await hide(page, context);
    await sleep(WARMUP_MS);

    const cdp = await context.newCDPSession(page);
    await cdp.send("Performance.enable");
    const metric = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
    // Diffs applied to the page: the reference counts them; the dashboard
    // exposes window.__tickertape.diffs (absent in older builds).
    const applied = () => page.evaluate((ref) => (ref ? window.__applied : window.__tickertape?.diffs) ?? null, isReference);
    const before = await metric();
    const diffs0 = await applied();
    const procs0 = sampleTree(pid);
    await sleep(WINDOW_MS);
    const procs1 = sampleTree(pid);
    const after = await metric();
    const diffs1 = await applied();

    const visibility = await page.evaluate(() => document.visibilityState);
    if (sc.hide && visibility !== "hidden") throw new Error(`hidden scenario: the page became '${visibility}' during the window`);
    if (!sc.hide && visibility !== "visible") throw new Error(`${name}: the page is '${visibility}', not visible`);
    const live =
      sc.page === "blank" || (isReference ? await page.evaluate(() => window.__live) : (await page.getByTestId("connection").textContent()).includes("Live"));
    if (!live) throw new Error(`${name}: the page is no longer live at the end of the window`);

    const wall = after.Timestamp - before.Timestamp;
    const share = (k) => Math.round((1000 * (after[k] - before[k])) / wall) / 10;
    return {
      cpu: cpuDelta(procs0, procs1),
      main: { busyPct: share("TaskDuration"), scriptPct: share("ScriptDuration"), stylePct: share("RecalcStyleDuration"), layoutPct: share("LayoutDuration") },
      ...(firstUpdateMs !== undefined && { firstUpdateMs: Math.round(firstUpdateMs) }),
      ...(diffs0 !== null && diffs1 !== null && { diffsPerSec: Math.round((10 * (diffs1 - diffs0)) / wall) / 10 }),
      visibility,
      chromium: browser.version(),
    };
  } finally {
    await disconnect?.().catch(() => {});
    await browser?.close();
    server.stop();
  }
}

function line(name, run, r) {
  const c = r.cpu;
  const types = Object.entries(c.byType)
    .filter(([, v]) => v >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([t, v]) => `${t} ${v}`)
    .join(", ");
  const m = r.main;
  let s = `${name} run ${run}: Chromium ${c.totalPct} % of a core (user ${c.userPct}, sys ${c.systemPct}; ${types}; ${c.processes} processes`;
  if (c.appeared || c.vanished) s += `, ${c.appeared} appeared, ${c.vanished} vanished`;
  s += `), main thread ${m.busyPct} % busy (script ${m.scriptPct}, style ${m.stylePct}, layout ${m.layoutPct})`;
  if (r.firstUpdateMs !== undefined) s += `, first update ${r.firstUpdateMs} ms`;
  if (r.diffsPerSec !== undefined) s += `, ${r.diffsPerSec} diffs/s applied in the window`;
  return `${s}, ${r.visibility}`;
}

function git(cmd) {
  try {
    return execSync(`git ${cmd}`, { cwd: root, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
  } catch {
    return null;
  }
}

const round1 = (x) => (x === undefined || x === null ? null : Math.round(x * 10) / 10);
const med = (xs) => {
  const s = xs.filter((x) => x !== undefined && x !== null && !Number.isNaN(x));
  return s.length ? median(s) : null;
};

(async () => {
  const measured = {
    date: new Date().toISOString().slice(0, 10),
    commit: git("rev-parse --short HEAD") ?? "unknown",
    dirty: Boolean(git("status --porcelain -- app style frontend server public")),
  };
  // The build measured: read before the runs; a rebuild during them is reported.
  const wasm = resolve(root, "target/site/pkg/tickertape.wasm");
  const wasmBytes = readFileSync(wasm);
  const build = () => [resolve(root, "target/release/tickertape"), wasm].map((f) => statSync(f).mtimeMs).join();
  const builtAt = build();
  const runs = Object.fromEntries(chosen.map((n) => [n, []]));
  for (let run = 1; run <= RUNS; run++) {
    for (const name of chosen) {
      const r = await once(name, SCENARIOS[name]);
      runs[name].push(r);
      console.error(line(name, run, r));
    }
  }

  const scenarios = {};
  for (const name of chosen) {
    const rs = runs[name];
    const types = [...new Set(rs.flatMap((r) => Object.keys(r.cpu.byType)))];
    scenarios[name] = {
      title: SCENARIOS[name].title,
      server: SCENARIOS[name].server.join(" "),
      page: SCENARIOS[name].page === "reference" ? "/bench-reference (bench/reference.html)" : SCENARIOS[name].page,
      ...(SCENARIOS[name].reducedMotion && { reducedMotion: true }),
      cpu: {
        totalPct: med(rs.map((r) => r.cpu.totalPct)),
        userPct: med(rs.map((r) => r.cpu.userPct)),
        systemPct: med(rs.map((r) => r.cpu.systemPct)),
        byType: Object.fromEntries(types.map((t) => [t, med(rs.map((r) => r.cpu.byType[t] ?? 0))])),
      },
      main: Object.fromEntries(Object.keys(rs[0].main).map((k) => [k, med(rs.map((r) => r.main[k]))])),
      ...(rs[0].firstUpdateMs !== undefined && { firstUpdateMs: med(rs.map((r) => r.firstUpdateMs)) }),
      ...(rs.some((r) => r.diffsPerSec !== undefined) && { diffsPerSec: med(rs.map((r) => r.diffsPerSec)) }),
      runs: rs.map(({ chromium, ...r }) => r),
    };
  }
  // Per-run ratios (same run, same machine state), then their median.
  const ratios = {};
  for (const [a, b] of RATIOS) {
    if (!runs[a] || !runs[b]) continue;
    const per = runs[a].map((r, i) => r.cpu.totalPct / runs[b][i].cpu.totalPct);
    ratios[`${a}/${b}`] = { cpu: Math.round(100 * med(per)) / 100, perRun: per.map((x) => Math.round(100 * x) / 100) };
  }
  // The chart's share: what the dashboard costs over the same page without chart data.
  const chart =
    runs.dashboard && runs["dashboard-no-chart"]
      ? {
          cpuPct: round1(med(runs.dashboard.map((r, i) => r.cpu.totalPct - runs["dashboard-no-chart"][i].cpu.totalPct))),
          mainBusyPct: round1(med(runs.dashboard.map((r, i) => r.main.busyPct - runs["dashboard-no-chart"][i].main.busyPct))),
        }
      : null;

  const rebuilt = build() !== builtAt;
  if (rebuilt) console.error("⚠ target/release/tickertape or target/site/pkg changed during the runs: the results mix builds");
  const big = scenarios["dashboard-500"];
  console.log(
    JSON.stringify({
      // Kept from the earlier single-scenario output: dashboard-500's figures.
      busyPct: big?.main.busyPct ?? null,
      firstUpdateMs: big?.firstUpdateMs ?? null,
      wasmRawKiB: wasmBytes.length / 1024,
      wasmGzipKiB: gzipSync(wasmBytes, { level: 9 }).length / 1024,
      runs: RUNS,
      scenarios,
      ratios,
      chart,
      chromium: Object.values(runs)[0]?.[0]?.chromium ?? null,
      window: { warmupSecs: WARMUP_MS / 1000, secs: WINDOW_MS / 1000, viewport: `${VIEWPORT.width}×${VIEWPORT.height}` },
      launch: `Playwright's Chromium switches without ${LAUNCH.ignoreDefaultArgs.join(", ")}`,
      ...(scenarios.hidden && { hiddenBy: HIDDEN_BY }),
      measured,
      ...(rebuilt && { rebuiltDuringRun: true }),
      command: `node bench/browser.js --runs ${RUNS}${ONLY ? ` --only ${ONLY.join(",")}` : ""}`,
    }),
  );
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
