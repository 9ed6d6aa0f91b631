// Shared by the benchmark scripts: start the release server on a free
// loopback port, launch Chromium the way the tests do, start and stop other
// processes (stopped when the script exits, however it exits), and read
// CPU time and memory from /proc.

"use strict";
const { resolve, join } = require("node:path");
const { existsSync, readdirSync, readFileSync, statSync, writeFileSync } = require("node:fs");
const { spawn, execSync } = require("node:child_process");
const net = require("node:net");

const root = resolve(__dirname, "..");
const { chromium } = require(resolve(root, "end2end/node_modules/@playwright/test"));

function freePort() {
  return new Promise((ok) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** The release `tickertape` with `args`, once `/readyz` answers; call `.stop()` after. */
async function startServer(args) {
  const port = await freePort();
  // In memory unless the caller names a data directory.
  const ephemeral = args.includes("--data-dir") ? [] : ["--ephemeral"];
  const child = spawn(resolve(root, "target/release/tickertape"), ["--addr", `127.0.0.1:${port}`, ...ephemeral, ...args], { cwd: root, stdio: "ignore" });
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill("SIGTERM") };
}

/**
 * Headless Chromium: the system one where there is one, else Playwright's.
 * `options` go to `chromium.launch` (its `args` are added to these).
 */
function launchChromium(options = {}) {
  const path = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  return chromium.launch({
    executablePath: existsSync(path) ? path : undefined,
    ...options,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", ...(options.args ?? [])],
  });
}

/**
 * The pid of the Chromium that `launchChromium` started last. This Playwright's
 * `Browser` has no `process()`; it runs in this Node process and spawns the
 * browser as a direct child talking over `--remote-debugging-pipe`.
 */
function chromiumPid() {
  let found = null;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (!s || s.ppid !== process.pid) continue;
    let argv;
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (argv.includes("--remote-debugging-pipe") && (!found || s.start > found.start)) found = s;
  }
  if (!found) throw new Error("no Chromium child process of this Node process found");
  return found.pid;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `--name value` pairs from the command line. */
function parseArgs() {
  const argv = process.argv.slice(2);
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) out[argv[i].slice(2)] = argv[i + 1]?.startsWith("--") || argv[i + 1] === undefined ? true : argv[++i];
  }
  return out;
}

// CPU time of a process tree, from /proc (Linux). Used to charge a browser
// with everything it runs: the browser process, its zygotes, renderers, the
// GPU/raster process and the network and other utility processes.

let clockTicks;
/** Clock ticks per second of /proc's time fields (`getconf CLK_TCK`, normally 100). */
function clkTck() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execSync("getconf CLK_TCK", { stdio: ["ignore", "pipe", "ignore"] }).toString().trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** One process's /proc/<pid>/stat: ppid, start time and CPU ticks, or null if it is gone. */
function readStat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so
  // split what follows its last ')'. f[0] is field 3 (state), so field n is f[n - 3].
  const close = text.lastIndexOf(")");
  const f = text.slice(close + 2).split(" ");
  return {
    pid,
    comm: text.slice(text.indexOf("(") + 1, close),
    ppid: Number(f[4 - 3]),
    utime: Number(f[14 - 3]),
    stime: Number(f[15 - 3]),
    // Children this process has waited for: how time of processes that
    // exit inside a window is still counted (see cpuDelta).
    cutime: Number(f[16 - 3]),
    cstime: Number(f[17 - 3]),
    start: Number(f[22 - 3]),
  };
}

/** The Chromium process type (`browser`, `renderer`, `gpu-process`, `utility`, `zygote`, …) from its command line. */
function processType(pid) {
  try {
    // NUL-separated, or one space-separated string once Chromium has set its process title.
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split(/[\0 ]/);
    const type = argv.find((a) => a.startsWith("--type="))?.slice(7);
    const sub = argv.find((a) => a.startsWith("--utility-sub-type="))?.slice(19);
    return type ? (sub ? `${type}:${sub.split(".").at(-1)}` : type) : "browser";
  } catch {
    return "gone";
  }
}

/** `rootPid` and all its descendants now: Map of `pid:start` → stat (+ type). */
function sampleTree(rootPid) {
  const all = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) all.push(s);
  }
  const children = new Map();
  for (const s of all) {
    if (!children.has(s.ppid)) children.set(s.ppid, []);
    children.get(s.ppid).push(s);
  }
  const tree = new Map();
  const todo = all.filter((s) => s.pid === rootPid);
  while (todo.length) {
    const s = todo.pop();
    s.type = processType(s.pid);
    tree.set(`${s.pid}:${s.start}`, s);
    todo.push(...(children.get(s.pid) ?? []));
  }
  return { at: performance.now(), tree };
}

/**
 * CPU used by a process tree between two `sampleTree`s, as % of one core over
 * the window: `{ userPct, systemPct, totalPct, processes, appeared, vanished, byType }`.
 * A process alive at both ends counts its delta (its own time plus that of
 * children it reaped meanwhile); one that appeared counts all its time; one
 * that vanished is counted through its parent's reaped-children time, less
 * what it had used before the window.
 */
function cpuDelta(before, after) {
  const hz = clkTck();
  const wallSecs = (after.at - before.at) / 1000;
  let user = 0;
  let system = 0;
  let appeared = 0;
  let vanished = 0;
  const byType = {};
  const charge = (type, u, s) => {
    user += u;
    system += s;
    byType[type] = (byType[type] ?? 0) + u + s;
  };
  for (const [key, a] of after.tree) {
    const b = before.tree.get(key);
    if (!b) appeared++;
    const u0 = b ? b.utime + b.cutime : 0;
    const s0 = b ? b.stime + b.cstime : 0;
    charge(a.type, a.utime + a.cutime - u0, a.stime + a.cstime - s0);
  }
  for (const [key, b] of before.tree) {
    if (after.tree.has(key)) continue;
    vanished++;
    charge(b.type, -(b.utime + b.cutime), -(b.stime + b.cstime));
  }
  const pct = (ticks) => Math.round((1000 * ticks) / hz / wallSecs) / 10;
  return {
    userPct: pct(user),
    systemPct: pct(system),
    totalPct: pct(user + system),
    wallSecs: Math.round(wallSecs * 100) / 100,
    processes: after.tree.size,
    appeared,
    vanished,
    byType: Object.fromEntries(Object.entries(byType).map(([k, v]) => [k, pct(v)])),
  };
}

/** User and system CPU seconds a process has used so far (/proc/<pid>/stat fields 14 and 15), or null if it is gone. */
function cpuSecs(pid) {
  const s = readStat(pid);
  return s && { user: s.utime / clkTck(), system: s.stime / clkTck() };
}

/** A process's resident set size now (`rss`) and its peak (`hwm`, VmHWM), in KiB; null if it is gone. */
function memKiB(pid) {
  let status;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return null;
  }
  const field = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/** Starts the peak-RSS count (VmHWM) of a process afresh (`/proc/<pid>/clear_refs`); false if the kernel refused. */
function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** A program on PATH or in /usr/sbin (where Debian puts nats-server). */
function sbin(name) {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/sbin"]) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`${name} not found (Debian package ${name})`);
}

// Processes a script starts with `startProcess`: killed when the script
// exits, also on an exception or Ctrl-C, so a failed run leaves nothing behind.
const started = new Set();
let exitHooked = false;

/** Spawns `cmd argv` in the repository root (output discarded unless `stdio` says otherwise) and tracks it until it exits. */
function startProcess(cmd, argv, stdio = "ignore") {
  if (!exitHooked) {
    exitHooked = true;
    process.once("exit", () => started.forEach((child) => child.kill("SIGKILL")));
    for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => process.exit(130));
  }
  const child = spawn(cmd, argv.map(String), { cwd: root, stdio });
  started.add(child);
  child.once("exit", () => started.delete(child));
  return child;
}

/** Whether a child process has exited. */
const exited = (child) => child.exitCode !== null || child.signalCode !== null;

/** Sends `signal` (SIGTERM, then SIGKILL after 10 s) and resolves once the process has exited. */
function stopProcess(child, signal = "SIGTERM") {
  if (exited(child)) return Promise.resolve();
  const exit = new Promise((ok) => child.once("exit", ok));
  child.kill(signal);
  const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
  return exit.finally(() => clearTimeout(force));
}

/** Polls `url` until it answers 200; throws after `timeoutMs`, or at once if `child` (the process serving it) exited. */
async function waitOk(url, timeoutMs, child) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if ((await httpStatus(url)) === 200) return;
    if (child && exited(child)) throw new Error(`${child.spawnfile} exited (${child.exitCode ?? child.signalCode}) before ${url} answered`);
    await sleep(50);
  }
  throw new Error(`${url} not 200 within ${timeoutMs / 1000} s`);
}

/** The HTTP status of a GET to `url` (0 if it did not answer within 2 s). */
async function httpStatus(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** What each release binary is built from: paths under the repository root (files or directories), and paths left out. */
const SOURCES = {
  tickertape: { paths: ["app/src", "app/Cargo.toml", "server/src", "server/Cargo.toml", "Cargo.toml", "Cargo.lock"], except: ["server/src/bin"] },
  loadgen: { paths: ["server/src/bin/loadgen.rs", "server/Cargo.toml", "Cargo.toml", "Cargo.lock"], except: [] },
};

/** The newest modification time (ms) of the files of `sources` (a `SOURCES` entry). */
function newestMtime(sources) {
  const except = sources.except.map((x) => join(root, x));
  let newest = 0;
  for (const p of sources.paths.map((x) => join(root, x))) {
    if (!existsSync(p)) continue;
    const files = statSync(p).isDirectory() ? readdirSync(p, { recursive: true }).map((f) => join(p, f)) : [p];
    for (const f of files) if (!except.some((x) => f.startsWith(`${x}/`))) newest = Math.max(newest, statSync(f).mtimeMs);
  }
  return newest;
}

/**
 * What a measurement of release builds is labelled with: date, commit,
 * whether their sources have uncommitted changes, and whether a source file is
 * newer than its binary (not rebuilt since). `builds`: `[binary path, SOURCES entry]` pairs.
 */
function measuredBuild(builds) {
  const git = (cmd) => {
    try {
      return execSync(`git ${cmd}`, { cwd: root, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
    } catch {
      return null;
    }
  };
  return {
    date: new Date().toISOString().slice(0, 10),
    commit: git("rev-parse --short HEAD") ?? "unknown",
    dirty: Boolean(git(`status --porcelain -- ${[...new Set(builds.flatMap(([, s]) => s.paths))].join(" ")}`)),
    ...(builds.some(([binary, sources]) => newestMtime(sources) > statSync(binary).mtimeMs) && { sourcesNewer: true }),
  };
}

/** Sum of a Prometheus sample over every label set whose labels contain `labels` (`outcome="done"`), from text format. */
function metricSum(text, name, labels = "") {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name && (m[2] ?? "").includes(labels)) sum += Number(m[3]);
  }
  return sum;
}

/** Every label set of a Prometheus sample in text format: `{ 'outcome="done"': 5, … }`. */
function metricByLabels(text, name) {
  const out = {};
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name) out[m[2] ?? ""] = Number(m[3]);
  }
  return out;
}

/**
 * The flag that keeps `binary` off disk: `--ephemeral` for a build with a
 * history store, nothing for a build from before it (which has no store).
 * Benchmarks compare like with like; the store's own cost has its own row.
 */
const ephemeralFlags = new Map();
function inMemory(binary) {
  if (!ephemeralFlags.has(binary)) {
    const help = execSync(`${JSON.stringify(binary)} --help`, { encoding: "utf8" });
    ephemeralFlags.set(binary, help.includes("--ephemeral") ? ["--ephemeral"] : []);
  }
  return ephemeralFlags.get(binary);
}

/**
 * Page script (run with page.addInitScript before the page loads): times
 * every requestAnimationFrame callback, grouped by frame, into
 * `window.__frames` ({ts, work} per frame, ms), and records every frame's
 * time in `window.__ticks`.
 */
function frameProbe() {
  const frames = [];
  let current = null;
  const raf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (cb) =>
    raf((ts) => {
      if (!current || current.ts !== ts) {
        current = { ts, work: 0 };
        frames.push(current);
      }
      const t0 = performance.now();
      try {
        cb(ts);
      } finally {
        current.work += performance.now() - t0;
      }
    });
  window.__frames = frames;
  const ticks = [];
  const loop = (ts) => {
    ticks.push(ts);
    raf(loop);
  };
  raf(loop);
  window.__ticks = ticks;
}

module.exports = {
  frameProbe,
  inMemory,
  root,
  chromium,
  startServer,
  launchChromium,
  chromiumPid,
  median,
  sleep,
  freePort,
  parseArgs,
  clkTck,
  sampleTree,
  cpuDelta,
  cpuSecs,
  memKiB,
  resetPeakRss,
  sbin,
  startProcess,
  stopProcess,
  waitOk,
  exited,
  httpStatus,
  metricSum,
  metricByLabels,
  measuredBuild,
  SOURCES,
};
