// Cluster benchmark: one ingest node on NATS and one edge vs two edges, the
// same clients split across them. Two load generators always run (half the
// clients each): against the one edge, or one per edge. Prints JSON.
//
//   node bench/cluster.js [--runs 3] [--clients 2000]

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const { parseArgs, median, freePort, sleep } = require("./lib");

const root = path.resolve(__dirname, "..");
const args = parseArgs();
const RUNS = Number(args.runs ?? 3);
const CLIENTS = Number(args.clients ?? 2000);
const TICKERTAPE = path.join(root, "target/release/tickertape");
const LOADGEN = path.join(root, "target/release/tickertape-loadgen");
const WORKLOAD = ["--sim-symbols", "100", "--sim-rate", "10", "--flush-ms", "100", "--seed", "1", "--ephemeral"];
const LOAD = { ramp: 5, duration: 15, warmup: 3 };

function sbin(name) {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/sbin"]) {
    if (fs.existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  throw new Error(`${name} not found (Debian package ${name})`);
}

async function listening(port) {
  for (let i = 0; i < 400; i++) {
    const up = await new Promise((ok) => {
      const s = net.connect(port, "127.0.0.1", () => (s.destroy(), ok(true))).on("error", () => ok(false));
    });
    if (up) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${port}`);
}

async function start(cmd, argv, port) {
  const child = spawn(cmd, argv.map(String), { cwd: root, stdio: "ignore" });
  await listening(port);
  return { child, port };
}

function stop(p) {
  if (p.child.exitCode !== null) return Promise.resolve();
  const exited = new Promise((r) => p.child.once("exit", r));
  p.child.kill("SIGTERM");
  return exited;
}

async function cluster(edgeCount) {
  const natsPort = await freePort();
  const nats = await start(sbin("nats-server"), ["-a", "127.0.0.1", "-p", natsPort], natsPort);
  const bus = ["--bus", `nats://127.0.0.1:${natsPort}`, "--log-format", "json"];
  const ingestPort = await freePort();
  const ingest = await start(TICKERTAPE, ["--role", "ingest", "--addr", `127.0.0.1:${ingestPort}`, ...bus, ...WORKLOAD], ingestPort);
  const edges = [];
  for (let i = 0; i < edgeCount; i++) {
    const port = await freePort();
    edges.push(await start(TICKERTAPE, ["--role", "edge", "--addr", `127.0.0.1:${port}`, ...bus], port));
  }
  await sleep(1500);
  return { nats, ingest, edges, all: [...edges, ingest, nats] };
}

function loadgen(edge, clients) {
  const argv = [
    "--url", `ws://127.0.0.1:${edge.port}/ws`, "--clients", clients, "--ramp-secs", LOAD.ramp, "--duration", LOAD.duration,
    "--warmup", LOAD.warmup, "--subscribe", "*", "--server-pid", edge.child.pid,
  ].map(String);
  return new Promise((ok, fail) => {
    const child = spawn(LOADGEN, argv, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("exit", (code) => (code === 0 ? ok(JSON.parse(out)) : fail(new Error(`loadgen exited ${code}`))));
  });
}

async function run(edgeCount) {
  const c = await cluster(edgeCount);
  try {
    const targets = [c.edges[0], c.edges[edgeCount - 1]];
    const reports = await Promise.all(targets.map((edge) => loadgen(edge, CLIENTS / 2)));
    // Each edge's CPU once (both load generators watch the same pid with one edge).
    const edgeCpu = edgeCount === 1 ? reports[0].server.cpu_secs : reports[0].server.cpu_secs + reports[1].server.cpu_secs;
    const changes = reports[0].changes_per_sec + reports[1].changes_per_sec;
    return {
      edges: edgeCount,
      connected: reports[0].connected + reports[1].connected,
      failed: reports[0].failed + reports[1].failed,
      gaps: reports[0].seq_gaps + reports[1].seq_gaps,
      changesPerSec: changes,
      p50: Math.max(reports[0].latency_ms.p50, reports[1].latency_ms.p50),
      p99: Math.max(reports[0].latency_ms.p99, reports[1].latency_ms.p99),
      edgeCpuPerMillion: (edgeCpu / (changes * LOAD.duration)) * 1e6,
    };
  } finally {
    for (const p of c.all) await stop(p);
  }
}

(async () => {
  const rows = [];
  for (let r = 1; r <= RUNS; r++) {
    for (const edges of [1, 2]) {
      const row = await run(edges);
      console.error(`cluster ${edges} edge(s) run ${r}: ${Math.round(row.changesPerSec)} changes/s, p99 ${row.p99} ms, ${row.failed} failed`);
      rows.push(row);
      await sleep(1000);
    }
  }
  const summary = (edges) => {
    const rs = rows.filter((r) => r.edges === edges);
    const pick = (k) => median(rs.map((r) => r[k]));
    return {
      connected: pick("connected"),
      failed: Math.max(...rs.map((r) => r.failed)),
      gaps: Math.max(...rs.map((r) => r.gaps)),
      changesPerSec: pick("changesPerSec"),
      p50: pick("p50"),
      p99: pick("p99"),
      edgeCpuPerMillion: pick("edgeCpuPerMillion"),
    };
  };
  const command = `node bench/cluster.js --runs ${RUNS} --clients ${CLIENTS}`;
  console.log(JSON.stringify({ runs: RUNS, clients: CLIENTS, one: summary(1), two: summary(2), command }));
})();
