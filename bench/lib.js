// Shared by the browser-side benchmark scripts: start the release server on
// a free loopback port, and launch Chromium the way the tests do.

"use strict";
const { resolve } = require("node:path");
const { existsSync, readdirSync, readFileSync } = require("node:fs");
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
  const child = spawn(resolve(root, "target/release/tickertape"), ["--addr", `127.0.0.1:${port}`, ...args], { cwd: root, stdio: "ignore" });
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

module.exports = { root, chromium, startServer, launchChromium, chromiumPid, median, sleep, freePort, parseArgs, clkTck, sampleTree, cpuDelta };
