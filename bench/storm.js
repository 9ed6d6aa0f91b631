// Resync storm: --clients clients subscribed to every one of 500 symbols
// send `resync` at the same instants, --rounds rounds one second apart
// (`tickertape-loadgen --resync-storm`), against the release build and, with
// --before, an older tickertape binary with the identical commands, the two
// alternating within each run. Prints JSON.
//
//   node bench/storm.js [--runs 3] [--clients 1000] [--rounds 5] [--before PATH] [--before-commit SHA]

"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { parseArgs, median, freePort, sleep, startProcess, stopProcess, waitOk, measuredBuild, inMemory, SOURCES } = require("./lib");

const root = path.resolve(__dirname, "..");
const args = parseArgs();
const RUNS = Number(args.runs ?? 3);
const CLIENTS = Number(args.clients ?? 1000);
const ROUNDS = Number(args.rounds ?? 5);
const TICKERTAPE = path.join(root, "target/release/tickertape");
const LOADGEN = path.join(root, "target/release/tickertape-loadgen");
const BEFORE = args.before ? path.resolve(args.before) : null;
const WORKLOAD = ["--sim-symbols", "500", "--sim-rate", "2", "--flush-ms", "100", "--seed", "1", "--log-format", "json"];
// The storm starts after the ramp and warm-up; 5 s after its last round the clients stop reading.
const LOAD = { ramp: 3, warmup: 3, duration: 3 + ROUNDS + 5 };

/** A server on `binary` with the workload, once `/readyz` answers 200 and the first batches flow. */
async function startServer(binary) {
  const port = await freePort();
  const child = startProcess(binary, ["--addr", `127.0.0.1:${port}`, ...inMemory(binary), ...WORKLOAD]);
  try {
    await waitOk(`http://127.0.0.1:${port}/readyz`, 60_000, child);
  } catch (e) {
    await stopProcess(child);
    throw e;
  }
  await sleep(1500);
  return { child, port };
}

function loadgenArgs(port, pid) {
  return [
    "--url", `ws://127.0.0.1:${port}/ws`, "--clients", CLIENTS, "--ramp-secs", LOAD.ramp, "--duration", LOAD.duration,
    "--warmup", LOAD.warmup, "--subscribe", "*", "--resync-storm", ROUNDS, "--server-pid", pid,
  ].map(String);
}

/** Runs the load generator (killed if it outlives its schedule by a minute); resolves with its JSON report. */
function loadgen(server) {
  return new Promise((ok, fail) => {
    const child = startProcess(LOADGEN, loadgenArgs(server.port, server.child.pid), ["ignore", "pipe", "inherit"]);
    const timer = setTimeout(() => child.kill("SIGKILL"), (LOAD.ramp + LOAD.duration + 60) * 1000);
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) ok(JSON.parse(out));
      else fail(new Error(`tickertape-loadgen exited ${code ?? signal}`));
    });
  });
}

/** One storm against `binary`: the figures of one run. */
async function once(binary) {
  const server = await startServer(binary);
  try {
    const report = await loadgen(server);
    const s = report.storm;
    const cpu = s.server ?? {};
    return {
      connected: report.connected,
      failed: report.failed,
      clients: s.clients,
      requests: s.requests,
      snapshots: s.snapshots,
      gaps: s.seq_gaps,
      roundsStarted: s.rounds_started,
      windowSecs: s.window_secs,
      p50: s.latency_ms.p50,
      p99: s.latency_ms.p99,
      max: s.latency_ms.max,
      userSecs: cpu.user_secs ?? null,
      systemSecs: cpu.system_secs ?? null,
      cpuSecs: cpu.user_secs === undefined ? null : cpu.user_secs + cpu.system_secs,
      rssPeakMiB: report.server ? report.server.rss_peak_kib / 1024 : null,
    };
  } finally {
    await stopProcess(server.child);
  }
}

const pick = (rows, key) => {
  const xs = rows.map((r) => r[key]).filter((x) => x !== null && x !== undefined);
  return xs.length ? median(xs) : null;
};

function summary(rows) {
  const keys = ["connected", "clients", "requests", "snapshots", "windowSecs", "p50", "p99", "max", "userSecs", "systemSecs", "cpuSecs", "rssPeakMiB"];
  return {
    ...Object.fromEntries(keys.map((k) => [k, pick(rows, k)])),
    failed: Math.max(...rows.map((r) => r.failed)),
    gaps: Math.max(...rows.map((r) => r.gaps)),
    missing: Math.max(...rows.map((r) => r.requests - r.snapshots)),
  };
}

(async () => {
  const measured = measuredBuild([
    [TICKERTAPE, SOURCES.tickertape],
    [LOADGEN, SOURCES.loadgen],
  ]);
  if (measured.sourcesNewer) console.error("⚠ a source file is newer than target/release/tickertape or tickertape-loadgen: rebuild them");
  const binaries = [{ name: "after", path: TICKERTAPE }];
  if (BEFORE) {
    if (!fs.existsSync(BEFORE)) throw new Error(`--before ${BEFORE}: no such file`);
    binaries.push({ name: "before", path: BEFORE });
  }
  // The builds measured: a rebuild during the runs is reported.
  const build = () => [TICKERTAPE, LOADGEN, ...(BEFORE ? [BEFORE] : [])].map((f) => fs.statSync(f).mtimeMs).join();
  const builtAt = build();
  const rows = Object.fromEntries(binaries.map((b) => [b.name, []]));
  for (let run = 1; run <= RUNS; run++) {
    // Alternate which binary goes first, so a drift in the machine's load hits both alike.
    const order = run % 2 ? binaries : [...binaries].reverse();
    for (const b of order) {
      const r = await once(b.path);
      rows[b.name].push(r);
      console.error(
        `storm ${b.name} run ${run}: resync → snapshot p50 ${r.p50} p99 ${r.p99} max ${r.max} ms, ${r.snapshots}/${r.requests} snapshots, ` +
          `${r.gaps} gaps, server CPU ${r.userSecs} s user + ${r.systemSecs} s system in ${r.windowSecs.toFixed(2)} s`,
      );
      await sleep(1000);
    }
  }
  // Per-run ratios (the two binaries measured back to back), then their median.
  const ratios = {};
  if (BEFORE) {
    for (const key of ["p50", "p99", "max", "userSecs", "systemSecs", "cpuSecs", "rssPeakMiB"]) {
      const per = rows.after.map((a, i) => (a[key] !== null && rows.before[i][key] ? a[key] / rows.before[i][key] : null)).filter((x) => x !== null);
      ratios[key] = per.length ? Math.round(100 * median(per)) / 100 : null;
    }
  }
  const rebuilt = build() !== builtAt;
  if (rebuilt) console.error("⚠ a binary changed during the runs: the results mix builds");
  console.log(
    JSON.stringify({
      runs: RUNS,
      clients: CLIENTS,
      rounds: ROUNDS,
      warmupSecs: LOAD.warmup,
      after: { binary: TICKERTAPE, commit: measured.commit, dirty: measured.dirty, summary: summary(rows.after), runs: rows.after },
      before: BEFORE ? { binary: BEFORE, commit: args["before-commit"] ?? null, summary: summary(rows.before), runs: rows.before } : null,
      ratios,
      serverCommand: ["target/release/tickertape", "--addr", "127.0.0.1:<port>", ...WORKLOAD].join(" "),
      loadCommand: `target/release/tickertape-loadgen ${loadgenArgs("<port>", "<pid>").join(" ")}`,
      measured,
      ...(rebuilt && { rebuiltDuringRun: true }),
      command: `node bench/storm.js --runs ${RUNS} --clients ${CLIENTS} --rounds ${ROUNDS}${BEFORE ? ` --before ${BEFORE}` : ""}${args["before-commit"] ? ` --before-commit ${args["before-commit"]}` : ""}`,
    }),
  );
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
