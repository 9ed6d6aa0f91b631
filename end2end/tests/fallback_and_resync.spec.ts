// The page's connection at its edges: polling while a watchlist is open, and
// a resync the server's answer to which is lost on the way.

import { expect, test, type Page } from "@playwright/test";
import { startServer, type Server } from "./server";
import { expectPricesToMove } from "./page";
import { frameReader } from "./wire";

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "8"]);
});

test.afterAll(async () => {
  await server?.stop();
});

const badge = (page: Page) => page.getByTestId("connection");

const shown = (page: Page) =>
  page.locator("table.quotes tbody tr[data-symbol]").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-symbol") ?? ""));

/** The header's up, down and unchanged counts, summed: the symbols the page holds. */
const breadthTotal = (page: Page) =>
  page.locator(".breadth span").evaluateAll((spans) => spans.reduce((sum, s) => sum + Number((s.textContent ?? "").replace(/\D/g, "")), 0));

const moverSymbols = (page: Page) =>
  page.locator("button.mover").evaluateAll((buttons) => buttons.map((b) => b.getAttribute("data-symbol") ?? ""));

test("degraded to polling with a watchlist open, the page asks for and shows the list's symbols only", async ({ page }) => {
  const watched = ["NVDA", "AMD"];
  await page.addInitScript((symbols) => {
    localStorage.setItem("tickertape.watchlists", JSON.stringify({ lists: [{ name: "Chips", symbols }], active: 0 }));
  }, watched);
  const polls: string[] = [];
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.pathname === "/api/quotes") polls.push(decodeURIComponent(url.search));
  });
  await page.routeWebSocket(/\/ws$/, (ws) => ws.close({ code: 1011, reason: "blocked by a proxy" }));
  // The charted symbol is in the list: the page watches exactly the list.
  await page.goto(`${server.url}/?symbol=NVDA`);
  await expect(badge(page)).toHaveText(/^Degraded · \d+s old$/, { timeout: 15_000 });
  expect(polls.length).toBeGreaterThan(0);
  expect(polls.filter((search) => search !== `?symbols=${watched.join(",")}`)).toEqual([]);
  await expect.poll(() => shown(page)).toEqual(watched);
  // What the page holds is the list, as over the WebSocket: the header's
  // breadth and the movers count nothing else.
  await expect.poll(() => breadthTotal(page)).toBe(watched.length);
  expect((await moverSymbols(page)).filter((s) => !watched.includes(s))).toEqual([]);
  await expectPricesToMove(page);
  expect(polls.filter((search) => search !== `?symbols=${watched.join(",")}`)).toEqual([]);
});

test("a resync whose snapshot is lost is sent again with backoff, and the badge says so until the table is live", async ({ page }) => {
  const resyncs: number[] = [];
  let gapMade = false;
  let dropNextSnapshot = false;
  let snapshotsDropped = 0;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const upstream = ws.connectToServer();
    const read = frameReader();
    upstream.onMessage((message) => {
      const msg = read(message);
      if (msg.type === "snapshot" && dropNextSnapshot) {
        dropNextSnapshot = false; // the answer to the first resync never arrives
        snapshotsDropped++;
        return;
      }
      if (!gapMade && msg.type === "diff" && msg.seq >= 4) {
        gapMade = true; // lose one diff on the way: a gap
        return;
      }
      ws.send(message);
    });
    ws.onMessage((message) => {
      if (JSON.parse(String(message)).op === "resync") {
        resyncs.push(Date.now());
        if (resyncs.length === 1) dropNextSnapshot = true;
      }
      upstream.send(message);
    });
  });
  await page.goto(server.url);
  await expect(badge(page)).toHaveText("Live");
  await expect.poll(() => resyncs.length).toBeGreaterThanOrEqual(1);
  await expect.poll(() => snapshotsDropped).toBe(1);
  // Diffs arrive but cannot be applied: the table is frozen, and says so.
  await expect(badge(page)).toHaveText(/^Resyncing/);
  await expect(badge(page)).not.toHaveClass(/\blive\b/);
  await expect.poll(() => resyncs.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
  expect(resyncs[1] - resyncs[0], "the second resync waits for the first's answer").toBeGreaterThanOrEqual(900);
  await expect(badge(page)).toHaveText("Live");
  expect(resyncs.length, "one retry was enough").toBe(2);
  await expectPricesToMove(page);
});
