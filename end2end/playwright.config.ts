import { defineConfig } from "@playwright/test";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";

// Use the system Chromium where there is one (or the one CHROMIUM_PATH names);
// elsewhere Playwright's own browser.
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const executablePath = existsSync(chromiumPath) ? chromiumPath : undefined;

export default defineConfig({
  projects: [
    { name: "e2e", testDir: "./tests" },
    { name: "screenshots", testDir: "./screenshots" },
  ],
  timeout: 45_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  // One worker per two cores. Each worker drives a Chromium whose dashboard
  // page costs a fifth to a third of a core while it is live (BENCHMARKS.md,
  // browser), starts its own tickertape (and, in the cluster tests, NATS,
  // nginx and three nodes), and the page's timings must hold on a busy CI
  // box: two workers on two cores starved each other's pages. PW_WORKERS
  // overrides it.
  workers: Number(process.env.PW_WORKERS) || Math.max(1, Math.floor(availableParallelism() / 2)),
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"]],
  use: {
    browserName: "chromium",
    viewport: { width: 1440, height: 900 },
    trace: "retain-on-failure",
    launchOptions: {
      executablePath,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
});
