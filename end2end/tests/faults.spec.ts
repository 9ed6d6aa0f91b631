// Faults injected under an open page: the network drops or blackholes the
// WebSocket, or blocks WebSockets entirely. The page must recover by itself.

import { expect, test, type Page } from "@playwright/test";
import { startServer, type Server } from "./server";
import { expectPricesToMove } from "./page";

let server: Server;

test.beforeAll(async () => {
  // A short heartbeat so a silent socket is noticed within seconds.
  server = await startServer(["--seed", "3", "--heartbeat-ms", "1000", "--heartbeat-timeout-ms", "4000"]);
});

test.afterAll(async () => {
  await server?.stop();
});

const badge = (page: Page) => page.getByTestId("connection");

async function markPage(page: Page) {
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 7));
}

async function samePage(page: Page) {
  expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(7);
}

test("a WebSocket closed by the network reconnects without a reload", async ({ page }) => {
  let connections = 0;
  let cut: (() => void) | undefined;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    connections++;
    ws.connectToServer();
    cut = () => ws.close({ code: 1011, reason: "network fault" });
  });
  await page.goto(server.url);
  await expect(badge(page)).toHaveText("Live");
  await markPage(page);
  cut!();
  await expect(badge(page)).toHaveText(/^Reconnecting|^Connecting/);
  await expect(badge(page)).toHaveText("Live", { timeout: 15_000 });
  expect(connections).toBe(2);
  await expectPricesToMove(page);
  await samePage(page);
});

test("a blackholed WebSocket (open but silent) is detected and replaced", async ({ page }) => {
  let connections = 0;
  let blackholed = 0; // the socket that goes silent
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const n = ++connections;
    const upstream = ws.connectToServer();
    upstream.onMessage((m) => {
      if (n !== blackholed) ws.send(m);
    });
    ws.onMessage((m) => upstream.send(m));
  });
  await page.goto(server.url);
  await expect(badge(page)).toHaveText("Live");
  await markPage(page);
  // The page's current socket now delivers nothing, and never closes. (Not
  // "the first": on a loaded machine the page may already have replaced it.)
  blackholed = connections;
  // The page notices the silence and opens a new socket. (Not asserted via
  // the badge: it may leave "Live" for less time than a poll takes.)
  await expect.poll(() => connections, { timeout: 10_000 }).toBeGreaterThan(blackholed);
  await expect(badge(page)).toHaveText("Live", { timeout: 15_000 });
  await expectPricesToMove(page);
  await samePage(page);
});

test("with WebSockets blocked the page polls, says so, and switches back when they work", async ({ page }) => {
  let blocked = true;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    if (blocked) return ws.close({ code: 1011, reason: "blocked by a proxy" });
    ws.connectToServer();
  });
  await page.goto(server.url);
  await markPage(page);
  await expect(badge(page)).toHaveText(/^Degraded/, { timeout: 15_000 });
  await expect(badge(page)).toHaveClass(/degraded/);
  // Quotes keep coming by polling, and the badge says how old they are.
  await expectPricesToMove(page);
  await expect(badge(page)).toHaveText(/^Degraded · [0-2]s old$/);
  blocked = false;
  await expect(badge(page)).toHaveText("Live", { timeout: 20_000 });
  await expectPricesToMove(page);
  await samePage(page);
});
