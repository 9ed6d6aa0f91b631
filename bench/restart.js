// A restart under --clients connected clients (default 10,000): once every
// client is live, the server is stopped (SIGTERM) and a new process started
// on the same port, as a deployment does. The clients (tickertape-loadgen
// --reconnect) come back after the 1012 close's retry hint, retrying a
// refused connection with jittered backoff. Two variants alternate within
// each run: the hints spread over 5 s (--restart-spread-ms 5000, the
// default) and none (--restart-spread-ms 0: everyone at once). Measured:
// from the first 1012 to the last client live again (its snapshot on the
// new connection), each client's downtime, failed connection attempts, and
// the new process's peak CPU (user + system over any 250 ms, as % of one
// core), its CPU seconds until everyone was back, and its peak RSS.
// Prints JSON.
//
//   node bench/restart.js [--runs 3] [--clients 10000]

"use strict";
const path = require("node:path");
const lib = require("./lib");
const { parseArgs, median, freePort, sleep, startProcess, stopProcess, waitOk, cpuSecs, memKiB, measuredBuild, SOURCES } = lib;

const root = path.resolve(__dirname, "..");
const args = parseArgs();
const RUNS = Number(args.runs ?? 3);
const CLIENTS = Number(args.clients ?? 10_000);
const TICKERTAPE = path.join(root, "target/release/tickertape");
const LOADGEN = path.join(root, "target/release/tickertape-loadgen");
const WORKLOAD = ["--sim-symbols", "20", "--sim-rate", "2", "--flush-ms", "100", "--seed", "1", "--ephemeral", "--log-format", "json"];
const RAMP_SECS = 15;
/** Seconds after the ramp before the restart, and the load generator's whole run. */
const SETTLE_SECS = 5;
const DURATION_SECS = 40;
const SAMPLE_MS = 250;
const VARIANTS = [
  { name: "spread", title: "hints spread over 5 s (default)", spread: 5000 },
  { name: "none", title: "no spread (`--restart-spread-ms 0`)", spread: 0 },
];

function serverArgs(port, spread) {
  return ["--addr", `127.0.0.1:${port}`, ...WORKLOAD, "--restart-spread-ms", spread];
}

/** Samples `pid` until `until()` says stop: CPU seconds and RSS over time. */
async function sample(pid, until) {
  const samples = [];
  while (!until()) {
    const cpu = cpuSecs(pid);
    const mem = memKiB(pid);
    if (!cpu || !mem) break;
    samples.push({ t: performance.now(), cpu: cpu.user + cpu.system, user: cpu.user, system: cpu.system, rss: mem.rss });
    await sleep(SAMPLE_MS);
  }
  return samples;
}

async function once(variant) {
  const port = await freePort();
  const argv = serverArgs(port, variant.spread);
  const first = startProcess(TICKERTAPE, argv);
  await waitOk(`http://127.0.0.1:${port}/readyz`, 30_000, first);
  const load = startProcess(
    LOADGEN,
    ["--url", `ws://127.0.0.1:${port}/ws`, "--clients", CLIENTS, "--ramp-secs", RAMP_SECS, "--duration", DURATION_SECS, "--warmup", 0, "--subscribe", "*", "--reconnect"],
    ["ignore", "pipe", "inherit"],
  );
  let out = "";
  load.stdout.on("data", (d) => (out += d));
  const loadDone = new Promise((ok) => load.once("exit", ok));
  await sleep((RAMP_SECS + SETTLE_SECS) * 1000);

  const restartAt = performance.now();
  await stopProcess(first);
  const downMs = performance.now() - restartAt;
  const second = startProcess(TICKERTAPE, argv);
  const startedAt = performance.now();
  let done = false;
  const sampling = sample(second.pid, () => done);
  await loadDone;
  done = true;
  const samples = await sampling;
  await stopProcess(second);
  const report = JSON.parse(out);
  const r = report.restart;
  // Peak CPU over one sample interval, and CPU spent until everyone was back.
  let peakPct = 0;
  for (let i = 1; i < samples.length; i++) {
    const pct = (100 * (samples[i].cpu - samples[i - 1].cpu)) / ((samples[i].t - samples[i - 1].t) / 1000);
    peakPct = Math.max(peakPct, pct);
  }
  const backAt = r.all_back_ms === null ? Infinity : restartAt + r.all_back_ms;
  const untilBack = samples.filter((s) => s.t <= backAt + SAMPLE_MS).at(-1);
  return {
    clients: CLIENTS,
    connected: report.connected,
    closed: r.closed,
    liveAgain: r.live_again,
    allBackMs: r.all_back_ms,
    downtimeP50Ms: r.downtime_ms.p50,
    downtimeP99Ms: r.downtime_ms.p99,
    downtimeMaxMs: r.downtime_ms.max,
    hintMaxMs: r.hint_ms.max,
    failedAttempts: r.failed_attempts,
    oldProcessStopMs: downMs,
    newProcessStartMs: startedAt - restartAt,
    peakCpuPct: peakPct,
    cpuSecsUntilBack: untilBack ? untilBack.cpu : null,
    userSecsUntilBack: untilBack ? untilBack.user : null,
    systemSecsUntilBack: untilBack ? untilBack.system : null,
    peakRssMiB: Math.max(...samples.map((s) => s.rss)) / 1024,
    gaps: report.seq_gaps,
  };
}

(async () => {
  const runs = [];
  for (let run = 1; run <= RUNS; run++) {
    for (const v of VARIANTS) {
      const row = await once(v);
      runs.push({ variant: v.name, run, ...row });
      console.error(`restart ${v.name} run ${run}: all back after ${row.allBackMs} ms, ${row.liveAgain}/${row.closed} live again, ${row.failedAttempts} failed attempts, peak CPU ${row.peakCpuPct.toFixed(0)} %, peak RSS ${row.peakRssMiB.toFixed(0)} MiB`);
      await sleep(2000);
    }
  }
  const summary = Object.fromEntries(
    VARIANTS.map((v) => {
      const rs = runs.filter((r) => r.variant === v.name);
      const keys = Object.keys(rs[0]).filter((k) => typeof rs[0][k] === "number");
      return [v.name, { title: v.title, spread: v.spread, ...Object.fromEntries(keys.map((k) => [k, median(rs.map((r) => r[k] ?? Infinity))])) }];
    }),
  );
  const command = `node bench/restart.js --runs ${RUNS} --clients ${CLIENTS}`;
  const loadCommand = `target/release/tickertape-loadgen --url ws://127.0.0.1:<port>/ws --clients ${CLIENTS} --ramp-secs ${RAMP_SECS} --duration ${DURATION_SECS} --warmup 0 --subscribe '*' --reconnect`;
  const serverCommand = `target/release/tickertape ${serverArgs("<port>", "<spread>").join(" ")}`;
  const measured = measuredBuild([
    [TICKERTAPE, SOURCES.tickertape],
    [LOADGEN, SOURCES.loadgen],
  ]);
  console.log(JSON.stringify({ runs: RUNS, clients: CLIENTS, summary, all: runs, command, loadCommand, serverCommand, measured }, null, 1));
})();
