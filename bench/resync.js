// Cluster state transfer: --edges edges resync at once at 500 symbols. One
// `--role ingest` node and the edges share a local nats-server; once every
// edge is ready, nats-server is killed and restarted on the same port 0.5 s
// later, so every edge copies the ingest node's state again. Measured from
// the restart: the time until every edge is ready again with the ingest
// node's seq, and stays so for a second (converged; at most 120 s), the
// state requests the edges made and why they copied, the
// edges' peak RSS, and ingest + edges CPU. With --before, an
// older tickertape binary runs the identical scenario, the two alternating
// within each run. Prints JSON.
//
//   node bench/resync.js [--runs 3] [--edges 5] [--before PATH] [--before-commit SHA]

"use strict";
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const lib = require("./lib");
const { parseArgs, median, freePort, sleep, startProcess, stopProcess, waitOk, exited, httpStatus, metricSum, cpuSecs, memKiB, resetPeakRss, measuredBuild, metricByLabels, SOURCES } = lib;

const root = path.resolve(__dirname, "..");
const args = parseArgs();
const RUNS = Number(args.runs ?? 3);
const EDGES = Number(args.edges ?? 5);
const TICKERTAPE = path.join(root, "target/release/tickertape");
const BEFORE = args.before ? path.resolve(args.before) : null;
const HEARTBEAT = ["--bus-heartbeat-ms", "200"];
const INGEST = ["--role", "ingest", "--sim-symbols", "500", ...HEARTBEAT, "--seed", "1", "--log-format", "json"];
const EDGE = ["--role", "edge", ...HEARTBEAT, "--log-format", "json"];
/** Waits: the cluster's start (every edge copies the state once), and convergence after the restart. */
const START_TIMEOUT_MS = 120_000;
const CONVERGE_TIMEOUT_MS = 120_000;
const RESTART_AFTER_MS = 500;
const POLL_MS = 100;
const STABLE_MS = 1000;
const TRANSFERS = "tickertape_bus_state_transfers_total";
const RESYNCS = "tickertape_bus_resyncs_total";

async function listening(port, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const up = await new Promise((ok) => {
      const s = net.connect(port, "127.0.0.1", () => (s.destroy(), ok(true))).on("error", () => ok(false));
    });
    if (up) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs / 1000} s`);
}

async function startNats(port) {
  const child = startProcess(lib.sbin("nats-server"), ["-a", "127.0.0.1", "-p", port]);
  try {
    await listening(port, 10_000);
  } catch (e) {
    await stopProcess(child);
    throw e;
  }
  return child;
}

const text = async (url) => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok ? await res.text() : null;
  } catch {
    return null;
  }
};

/** By label value, what rose between two `metricByLabels` readings of a one-label counter (`{ done: 5 }`). */
function increase(before, after) {
  const out = {};
  for (const [labels, n] of Object.entries(after)) {
    const rise = n - (before[labels] ?? 0);
    if (rise > 0) out[/"(.*)"/.exec(labels)?.[1] ?? labels] = rise;
  }
  return out;
}

/** CPU seconds of several processes together. */
function cpuOf(pids) {
  const all = pids.map(cpuSecs);
  return all.every(Boolean) ? { user: all.reduce((a, c) => a + c.user, 0), system: all.reduce((a, c) => a + c.system, 0) } : null;
}

/** One cluster on `binary`: starts it, restarts nats-server under it, and measures the edges' resync. */
async function once(binary) {
  const natsPort = await freePort();
  const bus = ["--bus", `nats://127.0.0.1:${natsPort}`];
  const procs = [];
  let nats = await startNats(natsPort);
  try {
    const ingestPort = await freePort();
    const ingest = { port: ingestPort, child: startProcess(binary, ["--addr", `127.0.0.1:${ingestPort}`, ...lib.inMemory(binary), ...bus, ...INGEST]) };
    procs.push(ingest.child);
    const base = (n) => `http://127.0.0.1:${n.port}`;
    await waitOk(`${base(ingest)}/readyz`, START_TIMEOUT_MS, ingest.child);
    const edges = [];
    for (let i = 0; i < EDGES; i++) {
      const port = await freePort();
      edges.push({ port, child: startProcess(binary, ["--addr", `127.0.0.1:${port}`, ...bus, ...EDGE]) });
      procs.push(edges[i].child);
    }
    // Each edge listens only once it holds the whole state.
    const startDeadline = performance.now() + START_TIMEOUT_MS;
    for (;;) {
      const ingestMetrics = (await text(`${base(ingest)}/metrics`)) ?? "";
      const done = metricSum(ingestMetrics, TRANSFERS, 'outcome="done"');
      // An older binary does not count transfers: its edges' readiness says enough.
      const counted = ingestMetrics.includes(TRANSFERS);
      const ready = await Promise.all(edges.map((e) => httpStatus(`${base(e)}/readyz`)));
      if ((done >= EDGES || !counted) && ready.every((s) => s === 200)) break;
      const gone = [ingest, ...edges].find((n) => exited(n.child));
      if (gone) throw new Error(`${binary} on port ${gone.port} exited (${gone.child.exitCode ?? gone.child.signalCode}) while the cluster started`);
      if (performance.now() > startDeadline) throw new Error(`the cluster did not start in ${START_TIMEOUT_MS / 1000} s (${done} copies done, edges ${ready.join(" ")})`);
      await sleep(200);
    }
    await sleep(2000); // steady state: batches flowing to every edge
    const resyncs = async (e) => metricByLabels((await text(`${base(e)}/metrics`)) ?? "", RESYNCS);
    const resyncsBefore = await Promise.all(edges.map(resyncs));
    // State requests as the edges count them (copies received + attempts
    // that failed): the same measure for a binary of any age.
    const attempts = async () => {
      const all = await Promise.all(edges.map((e) => text(`${base(e)}/metrics`)));
      return all.reduce(
        (sum, m) => sum + metricSum(m ?? "", "tickertape_bus_messages_total", 'kind="state_received"') + metricSum(m ?? "", "tickertape_bus_errors_total", 'kind="state"'),
        0,
      );
    };
    const attemptsBefore = await attempts();
    const resyncCount = (byReason) => Object.values(byReason).reduce((a, n) => a + n, 0);
    const outcomesBefore = metricByLabels((await text(`${base(ingest)}/metrics`)) ?? "", TRANSFERS);
    const rssBefore = Math.max(...edges.map((e) => memKiB(e.child.pid).rss));
    const peakReset = edges.every((e) => resetPeakRss(e.child.pid));

    await stopProcess(nats, "SIGKILL");
    await sleep(RESTART_AFTER_MS);
    const restartedAt = performance.now();
    const pids = [ingest.child.pid, ...edges.map((e) => e.child.pid)];
    const cpuStart = cpuOf(pids);
    nats = await startNats(natsPort);

    // An edge counts as converged once it has left the old state (been seen
    // not ready, or started a resync) and is ready again with the ingest
    // node's seq (read just before the edges'). The cluster has converged
    // when every edge has, and still has STABLE_MS later (an edge copying
    // again falls behind meanwhile): the time is when that began.
    const left = edges.map(() => false);
    let rssSampled = 0;
    let convergedSecs = null;
    let convergedEdges = 0;
    let streak = null; // since when every edge has been converged: { at, cpu }
    while (performance.now() - restartedAt < CONVERGE_TIMEOUT_MS) {
      const ingestSeq = metricSum((await text(`${base(ingest)}/metrics`)) ?? "", "tickertape_bus_seq");
      const states = await Promise.all(
        edges.map(async (e, i) => {
          const [status, metrics] = await Promise.all([httpStatus(`${base(e)}/readyz`), text(`${base(e)}/metrics`)]);
          if (status !== 200 || (metrics && metricSum(metrics, RESYNCS) > resyncCount(resyncsBefore[i]))) left[i] = true;
          return left[i] && status === 200 && metrics !== null && metricSum(metrics, "tickertape_bus_seq") >= ingestSeq;
        }),
      );
      rssSampled = Math.max(rssSampled, ...edges.map((e) => memKiB(e.child.pid)?.rss ?? 0));
      convergedEdges = states.filter(Boolean).length;
      if (convergedEdges < EDGES) streak = null;
      else if (!streak) streak = { at: performance.now(), cpu: cpuOf(pids) };
      else if (performance.now() - streak.at >= STABLE_MS) {
        convergedSecs = (streak.at - restartedAt) / 1000;
        break;
      }
      await sleep(POLL_MS);
    }
    const cpuEnd = convergedSecs === null ? cpuOf(pids) : streak.cpu;
    const peakKiB = Math.max(rssSampled, ...(peakReset ? edges.map((e) => memKiB(e.child.pid)?.hwm ?? 0) : []));
    // Transfers are counted as they end: the stable second let the last ones finish.
    const outcomes = increase(outcomesBefore, metricByLabels((await text(`${base(ingest)}/metrics`)) ?? "", TRANSFERS));
    const requests = (await attempts()) - attemptsBefore;
    // Why the edges copied the state (all edges together): `reconnect` once each, unless they had to copy again.
    const resyncsAfter = await Promise.all(edges.map(resyncs));
    const edgeResyncs = {};
    resyncsAfter.forEach((after, i) => {
      for (const [reason, n] of Object.entries(increase(resyncsBefore[i], after))) edgeResyncs[reason] = (edgeResyncs[reason] ?? 0) + n;
    });
    const cpu = cpuStart && cpuEnd && { user: cpuEnd.user - cpuStart.user, system: cpuEnd.system - cpuStart.system };
    return {
      converged: convergedSecs !== null,
      convergedSecs,
      convergedEdges,
      requests,
      requestsPerEdge: requests / EDGES,
      outcomes,
      edgeResyncs,
      edgeRssBeforeMiB: rssBefore / 1024,
      edgeRssPeakMiB: peakKiB / 1024,
      peakFrom: peakReset ? "VmHWM" : "VmRSS sampled every 100 ms",
      userSecs: cpu?.user ?? null,
      systemSecs: cpu?.system ?? null,
    };
  } finally {
    for (const child of procs.reverse()) await stopProcess(child);
    await stopProcess(nats);
  }
}

function summary(rows) {
  const pick = (key) => {
    const xs = rows.map((r) => r[key]).filter((x) => x !== null && x !== undefined);
    return xs.length ? median(xs) : null;
  };
  // A run that did not converge counts as slower than any that did.
  const secs = median(rows.map((r) => (r.converged ? r.convergedSecs : Infinity)));
  return {
    convergedRuns: rows.filter((r) => r.converged).length,
    convergedSecs: Number.isFinite(secs) ? secs : null,
    ...Object.fromEntries(["requests", "requestsPerEdge", "edgeRssBeforeMiB", "edgeRssPeakMiB", "userSecs", "systemSecs"].map((k) => [k, pick(k)])),
  };
}

(async () => {
  const measured = measuredBuild([[TICKERTAPE, SOURCES.tickertape]]);
  if (measured.sourcesNewer) console.error("⚠ a source file is newer than target/release/tickertape: rebuild it");
  const binaries = [{ name: "after", path: TICKERTAPE }];
  if (BEFORE) {
    if (!fs.existsSync(BEFORE)) throw new Error(`--before ${BEFORE}: no such file`);
    binaries.push({ name: "before", path: BEFORE });
  }
  const build = () => binaries.map((b) => fs.statSync(b.path).mtimeMs).join();
  const builtAt = build();
  const rows = Object.fromEntries(binaries.map((b) => [b.name, []]));
  for (let run = 1; run <= RUNS; run++) {
    // Alternate which binary goes first, so a drift in the machine's load hits both alike.
    const order = run % 2 ? binaries : [...binaries].reverse();
    for (const b of order) {
      const r = await once(b.path);
      rows[b.name].push(r);
      const took = r.converged ? `converged in ${r.convergedSecs.toFixed(2)} s` : `did not converge in ${CONVERGE_TIMEOUT_MS / 1000} s (${r.convergedEdges}/${EDGES} edges)`;
      console.error(
        `resync ${b.name} run ${run}: ${took}, ${r.requests} state requests, edge RSS peak ${r.edgeRssPeakMiB.toFixed(1)} MiB, ` +
          `CPU ${r.userSecs?.toFixed(2)} s user + ${r.systemSecs?.toFixed(2)} s system`,
      );
      await sleep(1000);
    }
  }
  const ratios = {};
  if (BEFORE) {
    // Per run (the two binaries measured back to back), then the median; none when either side did not converge.
    for (const key of ["convergedSecs", "requests", "edgeRssPeakMiB", "userSecs", "systemSecs"]) {
      const per = rows.after.map((a, i) => (a[key] !== null && rows.before[i][key] ? a[key] / rows.before[i][key] : null)).filter((x) => x !== null);
      ratios[key] = per.length === RUNS ? Math.round(100 * median(per)) / 100 : null;
    }
  }
  const rebuilt = build() !== builtAt;
  if (rebuilt) console.error("⚠ a binary changed during the runs: the results mix builds");
  const shown = (role) => ["target/release/tickertape", ...role].join(" ");
  console.log(
    JSON.stringify({
      runs: RUNS,
      edges: EDGES,
      convergeTimeoutSecs: CONVERGE_TIMEOUT_MS / 1000,
      after: { binary: TICKERTAPE, commit: measured.commit, dirty: measured.dirty, summary: summary(rows.after), runs: rows.after },
      before: BEFORE ? { binary: BEFORE, commit: args["before-commit"] ?? null, summary: summary(rows.before), runs: rows.before } : null,
      ratios,
      commands: {
        nats: "nats-server -a 127.0.0.1 -p <nats port>",
        ingest: shown(["--addr", "127.0.0.1:<port>", "--bus", "nats://127.0.0.1:<nats port>", ...INGEST]),
        edge: shown(["--addr", "127.0.0.1:<port>", "--bus", "nats://127.0.0.1:<nats port>", ...EDGE]),
      },
      measured,
      ...(rebuilt && { rebuiltDuringRun: true }),
      command: `node bench/resync.js --runs ${RUNS} --edges ${EDGES}${BEFORE ? ` --before ${BEFORE}` : ""}${args["before-commit"] ? ` --before-commit ${args["before-commit"]}` : ""}`,
    }),
  );
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
