import { expect, test } from "@playwright/test";
import { startServer, type Server } from "./server";
import { apiQuotes, badge, badgeShown, control, pausedSim, recordBadge, row, showsPrice } from "./control";

// The control API as someone looking at the page sees it. Every server here
// runs a paused simulator on a fixed seed (sessions are always regular,
// --sim-clock always), so nothing on the page moves unless the test moves
// it, and each control call is answered once the change is published: the
// page shows it within a flush, with no sleep in between.

test("halting a symbol marks its row and detail panel Halted and freezes its price while others trade; resuming clears it", async ({ page }) => {
  const server = await startServer(pausedSim(21));
  try {
    await page.goto(`${server.url}/?symbol=AAPL`);
    await expect(badge(page)).toHaveText("Live");
    const [aapl, msft] = [row(page, "AAPL"), row(page, "MSFT")];
    const detail = page.getByTestId("detail");
    await expect(page.locator("tr[data-symbol]")).toHaveCount(3);
    await expect(page.locator("tr.halted")).toHaveCount(0);
    await expect(page.locator("tr[data-symbol] [data-testid=session-badge]")).toHaveCount(0);

    const halted = await control(server, "/symbols/AAPL/halt");
    expect(halted.session).toBe("halted");
    await expect(aapl).toHaveClass(/\bhalted\b/);
    await expect(aapl.getByTestId("session-badge")).toHaveText("Halted");
    await expect(aapl.locator("td.last")).toHaveCSS("text-decoration-line", "line-through");
    await expect(detail.getByTestId("session-badge")).toHaveText("Halted");
    await expect(page.locator("tr.halted")).toHaveCount(1);

    // The market trades on; AAPL does not. The price set on MSFT comes
    // after the steps on the page's stream, so once it shows, so have they.
    const frozen = await aapl.locator("td.last").innerText();
    await control(server, "/sim/step", { ticks: 50 });
    await control(server, "/symbols/MSFT/price", { price: 401.37 });
    await expect(msft.locator("td.last")).toHaveText("401.37");
    await expect(aapl.locator("td.last")).toHaveText(frozen);
    expect(showsPrice(frozen, (await apiQuotes(server)).get("AAPL")!.last)).toBe(true);

    const resumed = await control(server, "/symbols/AAPL/resume");
    expect(resumed.session).toBe("regular");
    await expect(aapl).not.toHaveClass(/\bhalted\b/);
    await expect(aapl.getByTestId("session-badge")).toHaveCount(0);
    await expect(detail.getByTestId("session-badge")).toHaveCount(0);
    await expect(aapl.locator("td.last")).not.toHaveCSS("text-decoration-line", "line-through");
    // And it trades again.
    await control(server, "/sim/step", { ticks: 50 });
    const now = (await apiQuotes(server)).get("AAPL")!.last;
    expect(showsPrice(frozen, now), "50 steps move AAPL").toBe(false);
    await expect.poll(async () => showsPrice(await aapl.locator("td.last").innerText(), now)).toBe(true);
  } finally {
    await server.stop();
  }
});

test("failing a feed shows it stale in the header and the footer and greys its rows, the link staying Live; restoring brings it back live", async ({ page }) => {
  const server = await startServer(pausedSim(22));
  try {
    await page.goto(server.url);
    await expect(badge(page)).toHaveText("Live");
    const feed = page.locator("[data-feed=sim]");
    const rows = page.locator("tr[data-symbol]");
    const aapl = row(page, "AAPL");
    await expect(rows).toHaveCount(3);
    await expect(feed).toHaveText("sim: live");
    await expect(page.locator("tr[data-symbol].stale")).toHaveCount(0);
    const warning = page.getByTestId("feeds-down");
    await expect(warning).toHaveCount(0);
    const before = await aapl.locator("td.last").innerText();

    const failed = await control(server, "/feeds/sim/fail", { error: "exchange unreachable" });
    expect(failed).toEqual({ name: "sim", state: "stale", failed: true });
    await expect(feed).toHaveText("sim: stale");
    await expect(feed).toHaveClass(/\bstale\b/);
    await expect(page.locator("tr[data-symbol].stale")).toHaveCount(3);
    await expect(aapl.locator("td.last")).toHaveCSS("opacity", "0.45");
    // The last known price stays on screen, greyed; the page's own link is fine.
    await expect(aapl.locator("td.last")).toHaveText(before);
    await expect(badge(page)).toHaveText("Live");
    // At the top of the page, beside the link's badge: which feed is down.
    await expect(warning).toHaveText("sim stale");
    await expect(warning).toHaveAttribute("title", /sim/);

    const restored = await control(server, "/feeds/sim/restore");
    expect(restored).toEqual({ name: "sim", state: "live", failed: false });
    await expect(feed).toHaveText("sim: live");
    await expect(page.locator("tr[data-symbol].stale")).toHaveCount(0);
    await expect(warning).toHaveCount(0);
    await expect(aapl.locator("td.last")).toHaveCSS("opacity", "1");
    await control(server, "/symbols/AAPL/price", { price: 199.99 });
    await expect(aapl.locator("td.last")).toHaveText("199.99");
  } finally {
    await server.stop();
  }
});

test("dropping every connection: each of three open pages reconnects by itself and shows prices set after the drop", async ({ browser }) => {
  const server = await startServer(pausedSim(23));
  const contexts = await Promise.all([0, 1, 2].map(() => browser.newContext()));
  try {
    const pages = await Promise.all(contexts.map((c) => c.newPage()));
    const sockets = pages.map(() => 0);
    pages.forEach((page, i) => page.on("websocket", (ws) => new URL(ws.url()).pathname === "/ws" && sockets[i]++));
    for (const page of pages) {
      await page.goto(server.url);
      await expect(badge(page)).toHaveText("Live");
      await expect(row(page, "AAPL").locator("td.last")).not.toHaveText("—");
      // Gone if the page reloads instead of reconnecting.
      await page.evaluate(() => ((window as unknown as { marker: number }).marker = 5));
      await recordBadge(page);
    }
    expect(sockets).toEqual([1, 1, 1]);

    expect(await control(server, "/connections/drop")).toEqual({ dropped: 3 });
    // Set while the pages are (most likely) still reconnecting: it reaches
    // them in the snapshot of their new connection.
    await control(server, "/symbols/AAPL/price", { price: 187.65 });
    for (const [i, page] of pages.entries()) {
      await expect(badge(page)).toHaveText("Live", { timeout: 15_000 });
      const shown = await badgeShown(page);
      expect(shown[0], `page ${i}`).toBe("Live");
      expect(shown.slice(1).some((t) => /^Reconnecting/.test(t)), `page ${i} showed ${JSON.stringify(shown)}`).toBe(true);
      expect(sockets[i], `page ${i}: one new WebSocket`).toBe(2);
      await expect(row(page, "AAPL").locator("td.last")).toHaveText("187.65");
      expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker), `page ${i} not reloaded`).toBe(5);
    }

    // And live on the new connections: a price set now reaches every page.
    await control(server, "/symbols/AAPL/price", { price: 188.1 });
    for (const page of pages) await expect(row(page, "AAPL").locator("td.last")).toHaveText("188.10");
  } finally {
    await Promise.all(contexts.map((c) => c.close()));
    await server.stop();
  }
});

test("the same seed stepped the same number of times: the page shows the prices a second server has", async ({ page }) => {
  const symbols = "AAPL,MSFT,NVDA,TSLA,AMZN";
  const [first, second]: Server[] = await Promise.all([startServer(pausedSim(24, symbols)), startServer(pausedSim(24, symbols))]);
  try {
    await page.goto(first.url);
    await expect(badge(page)).toHaveText("Live");
    await expect(page.locator("tr[data-symbol]")).toHaveCount(5);
    const cells = (field: string) => page.locator(`tr[data-symbol] td.${field}`);
    const opening = await cells("last").allInnerTexts();

    for (const server of [first, second]) {
      expect(await control(server, "/sim/step", { ticks: 60 })).toEqual({ paused: true, steps: 60 });
    }
    const theirs = await apiQuotes(second);
    // What the page shows, last, bid and ask of every row, against the other
    // server's quotes. (Not the day's open, high, low or volume: the
    // simulator makes those up back from its start time, which differs.)
    const matches = async () => {
      const mismatched: string[] = [];
      for (const tr of await page.locator("tr[data-symbol]").all()) {
        const symbol = (await tr.getAttribute("data-symbol"))!;
        const quote = theirs.get(symbol)!;
        for (const field of ["last", "bid", "ask"] as const) {
          const text = await tr.locator(`td.${field}`).innerText();
          if (!showsPrice(text, quote[field])) mismatched.push(`${symbol} ${field}: page ${text}, other server ${quote[field]}`);
        }
      }
      return mismatched;
    };
    await expect.poll(matches).toEqual([]);
    expect(await cells("last").allInnerTexts(), "60 steps move the prices").not.toEqual(opening);
  } finally {
    await Promise.all([first.stop(), second.stop()]);
  }
});
