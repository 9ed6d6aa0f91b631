// Shared by the browser-side benchmark scripts: start the release server on
// a free loopback port, and launch Chromium the way the tests do.

"use strict";
const { resolve } = require("node:path");
const { existsSync } = require("node:fs");
const { spawn } = require("node:child_process");
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

/** Headless Chromium: the system one where there is one, else Playwright's. */
function launchChromium() {
  const path = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  return chromium.launch({
    executablePath: existsSync(path) ? path : undefined,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
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

module.exports = { root, startServer, launchChromium, median, sleep, freePort, parseArgs };
