// Faults injected under an open page: the network drops or blackholes the
// WebSocket, or blocks WebSockets entirely. The page must recover by itself.

import { expect, test, type Page } from "@playwright/test";
import { startServer, type Server } from "./server";

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

async function pricesMove(page: Page) {
  const cells = page.locator("table.quotes td.last");
  const before = await cells.allInnerTexts();
  await expect.poll(async () => (await cells.allInnerTexts()).filter((t, i) => t !== before[i]).length, { timeout: 8_000 }).toBeGreaterThan(0);
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
  await pricesMove(page);
  await samePage(page);
});

test("a blackholed WebSocket (open but silent) is detected and replaced", async ({ page }) => {
  let connections = 0;
  let blackhole = false;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const n = ++connections;
    const upstream = ws.connectToServer();
    upstream.onMessage((m) => {
      if (!(blackhole && n === 1)) ws.send(m);
    });
    ws.onMessage((m) => upstream.send(m));
  });
  await page.goto(server.url);
  await expect(badge(page)).toHaveText("Live");
  await markPage(page);
  blackhole = true; // the first socket now delivers nothing, and never closes
  await expect(badge(page)).not.toHaveText("Live", { timeout: 10_000 });
  await expect(badge(page)).toHaveText("Live", { timeout: 15_000 });
  expect(connections).toBeGreaterThanOrEqual(2);
  await pricesMove(page);
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
  await pricesMove(page);
  await expect(badge(page)).toHaveText(/^Degraded · [0-2]s old$/);
  blocked = false;
  await expect(badge(page)).toHaveText("Live", { timeout: 20_000 });
  await pricesMove(page);
  await samePage(page);
});
