// A bounded soak: --minutes (default 30) of the fan-out workload (100
// symbols × 10 ticks/s, flush 100 ms) with 2,000 healthy clients on `*`
// for the whole time, and around them:
//   churn: a load generator of 100 clients (one symbol each) joining over
//     2 s and leaving 4 s later, one after another, all the time;
//   slow consumers: every minute, 10 clients that subscribe to `*` and never
//     read, for 3 minutes (the server must drop them, not keep their backlog);
//   a feed outage every 5 minutes: the simulator failed for 20 s through the
//     control API, then restored.
// Sampled every 10 s: the server's RSS, open descriptors (/proc/<pid>/fd),
// tasks alive (tickertape_tasks_alive), WebSocket sessions. Reported: start
// (after the first minute), end and peak of each, and the healthy clients'
// seq gaps, failures and how they ended. Prints JSON.
//
//   node bench/soak.js [--minutes 30]

"use strict";
const fs = require("node:fs");
const path = require("node:path");
const lib = require("./lib");
const { parseArgs, freePort, sleep, startProcess, stopProcess, waitOk, memKiB, cpuSecs, metricSum, measuredBuild, SOURCES } = lib;

const root = path.resolve(__dirname, "..");
const args = parseArgs();
const MINUTES = Number(args.minutes ?? 30);
const TICKERTAPE = path.join(root, "target/release/tickertape");
const LOADGEN = path.join(root, "target/release/tickertape-loadgen");
const TOKEN = "soak";
const SAMPLE_SECS = 10;
const OUTAGE_EVERY_SECS = 300;
const OUTAGE_SECS = 20;
const STALL_EVERY_SECS = 60;
const STALL_SECS = 180;
const SERVER_ARGS = ["--sim-symbols", "100", "--sim-rate", "10", "--flush-ms", "100", "--seed", "1", "--ephemeral", "--log-format", "json", "--control-token", TOKEN];

/** Runs the load generator to its end; resolves to its JSON report (null if it failed). */
function loadgen(argv) {
  const child = startProcess(LOADGEN, argv, ["ignore", "pipe", "ignore"]);
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  return new Promise((ok) =>
    child.once("exit", (code) => {
      try {
        ok(code === 0 ? JSON.parse(out) : null);
      } catch {
        ok(null);
      }
    }),
  );
}

async function control(port, route) {
  const res = await fetch(`http://127.0.0.1:${port}/api/control${route}`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: "{}" });
  await res.arrayBuffer();
  return res.status;
}

function fds(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

async function metrics(port) {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  } catch {
    return "";
  }
}

(async () => {
  const port = await freePort();
  const url = `ws://127.0.0.1:${port}/ws`;
  const server = startProcess(TICKERTAPE, ["--addr", `127.0.0.1:${port}`, ...SERVER_ARGS]);
  await waitOk(`http://127.0.0.1:${port}/readyz`, 30_000, server);
  const t0 = performance.now();
  const end = t0 + MINUTES * 60_000;
  const left = () => (end - performance.now()) / 1000;

  const healthy = loadgen(["--url", url, "--clients", 2000, "--ramp-secs", 10, "--duration", MINUTES * 60 - 10, "--warmup", 20, "--subscribe", "*"]);

  let churned = 0;
  let churnFailed = 0;
  const churn = (async () => {
    while (left() > 10) {
      const r = await loadgen(["--url", url, "--clients", 100, "--ramp-secs", 2, "--duration", 4, "--warmup", 0, "--subscribe", "one"]);
      churned += r?.connected ?? 0;
      churnFailed += r ? r.failed : 100;
    }
  })();

  const stalls = [];
  const stalling = (async () => {
    while (left() > STALL_SECS + 15) {
      // Three minutes each: a loopback socket's buffers hold about two
      // minutes of this stream before a send can block.
      stalls.push(loadgen(["--url", url, "--clients", 10, "--stall", 10, "--ramp-secs", 0, "--duration", STALL_SECS, "--warmup", 0, "--subscribe", "*"]));
      await sleep(STALL_EVERY_SECS * 1000);
    }
  })();

  const outages = [];
  const failing = (async () => {
    for (let at = OUTAGE_EVERY_SECS; at < MINUTES * 60 - OUTAGE_SECS - 10; at += OUTAGE_EVERY_SECS) {
      await sleep(t0 + at * 1000 - performance.now());
      const failed = await control(port, "/feeds/sim/fail");
      await sleep(OUTAGE_SECS * 1000);
      const restored = await control(port, "/feeds/sim/restore");
      outages.push({ atSecs: at, failed, restored });
    }
  })();

  const samples = [];
  while (performance.now() < end) {
    const text = await metrics(port);
    const mem = memKiB(server.pid);
    const cpu = cpuSecs(server.pid);
    samples.push({
      secs: Math.round((performance.now() - t0) / 1000),
      rssKiB: mem?.rss ?? null,
      fds: fds(server.pid),
      tasks: metricSum(text, "tickertape_tasks_alive"),
      sessions: metricSum(text, "tickertape_connections"),
      cpuSecs: cpu ? cpu.user + cpu.system : null,
    });
    await sleep(SAMPLE_SECS * 1000);
  }
  const report = await healthy;
  await Promise.all([churn, stalling, failing]);
  const stalled = await Promise.all(stalls);
  // Quiet again: what the server holds once everyone has gone.
  await sleep(5000);
  const after = { rssKiB: memKiB(server.pid)?.rss ?? null, fds: fds(server.pid), tasks: metricSum(await metrics(port), "tickertape_tasks_alive"), sessions: metricSum(await metrics(port), "tickertape_connections") };
  await stopProcess(server);

  const steady = samples.filter((s) => s.secs >= 60);
  const stat = (key) => {
    const xs = steady.map((s) => s[key]).filter((x) => x !== null);
    return { start: xs[0] ?? null, end: xs.at(-1) ?? null, peak: xs.length ? Math.max(...xs) : null, min: xs.length ? Math.min(...xs) : null };
  };
  const stallEndings = {};
  for (const r of stalled) for (const [k, v] of Object.entries(r?.closed_by_server ?? {})) stallEndings[k] = (stallEndings[k] ?? 0) + v;
  console.log(
    JSON.stringify(
      {
        minutes: MINUTES,
        healthy: report && { clients: report.clients, connected: report.connected, failed: report.failed, seqGaps: report.seq_gaps, changesPerSec: report.changes_per_sec, p99Ms: report.latency_ms.p99, endings: report.closed_by_server },
        churn: { clientsJoinedAndLeft: churned, failed: churnFailed },
        slowConsumers: { clients: stalled.length * 10, endings: stallEndings },
        outages,
        rssKiB: stat("rssKiB"),
        fds: stat("fds"),
        tasks: stat("tasks"),
        sessions: stat("sessions"),
        afterKiB: after,
        samples,
        command: `node bench/soak.js --minutes ${MINUTES}`,
        serverCommand: `target/release/tickertape --addr 127.0.0.1:<port> ${SERVER_ARGS.join(" ")}`,
        measured: measuredBuild([
          [TICKERTAPE, SOURCES.tickertape],
          [LOADGEN, SOURCES.loadgen],
        ]),
      },
      null,
      1,
    ),
  );
})();
