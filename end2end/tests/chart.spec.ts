import { expect, test, type Page } from "@playwright/test";
import { startServer, type Server } from "./server";

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "17"]);
});

test.afterAll(async () => {
  await server?.stop();
});

const chart = (page: Page) => page.getByTestId("chart");

/** What the chart holds (read at one instant), and optionally a table row's last price at that same instant. */
async function data(page: Page, row?: string) {
  return page.getByTestId("chart").evaluate((el, row) => {
    const d = (el as HTMLElement).dataset;
    const table = row ? document.querySelector(`tr[data-symbol="${row}"] td.last`)?.textContent ?? "" : "";
    return { bars: Number(d.bars), first: Number(d.firstTime), last: Number(d.lastTime), close: Number(d.lastClose), table };
  }, row);
}

async function openChart(page: Page, query = "") {
  await page.goto(`${server.url}/${query}`);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect(chart(page)).toHaveAttribute("data-bars", /^[1-9]\d*$/);
}

/** Pixels of the chart's canvases that are not background, counted in the page. */
async function inkedPixels(page: Page): Promise<number> {
  return page.getByTestId("chart").evaluate((el) => {
    let inked = 0;
    for (const canvas of el.querySelectorAll("canvas")) {
      const ctx = (canvas as HTMLCanvasElement).getContext("2d");
      if (!ctx || canvas.width === 0 || canvas.height === 0) continue;
      const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
    }
    return inked;
  });
}

test("the chart is drawn: 1,000 bars of history and ink on the canvas", async ({ page }) => {
  await openChart(page);
  const d = await data(page);
  expect(d.bars).toBeGreaterThanOrEqual(1000);
  expect((d.last - d.first) / (d.bars - 1)).toBe(60_000);
  expect(await inkedPixels(page)).toBeGreaterThan(5_000);
  await expect(page.locator(".attribution a")).toHaveAttribute("href", "https://www.tradingview.com/");
});

test("switching interval reloads the data at that spacing and updates the URL", async ({ page }) => {
  await openChart(page);
  await page.locator("[aria-label=Interval] button[data-value='5s']").click();
  await expect(page).toHaveURL(/interval=5s/);
  await expect(page.locator("[aria-label=Interval] button[data-value='5s']")).toHaveAttribute("aria-pressed", "true");
  await expect.poll(async () => {
    const d = await data(page);
    return (d.last - d.first) / (d.bars - 1);
  }).toBe(5_000);
  await page.locator("[aria-label=Interval] button[data-value='5m']").click();
  await expect.poll(async () => {
    const d = await data(page);
    return (d.last - d.first) / (d.bars - 1);
  }).toBe(300_000);
});

test("hourly and daily bars go back months, and daily ones are read by date", async ({ page }) => {
  await openChart(page, "?symbol=AAPL&interval=1h");
  const spacing = async () => {
    const d = await data(page);
    return (d.last - d.first) / (d.bars - 1);
  };
  await expect.poll(spacing).toBe(3_600_000);
  expect((await data(page)).bars).toBeGreaterThanOrEqual(1000);
  await page.locator("[aria-label=Interval] button[data-value='1d']").click();
  await expect(page).toHaveURL(/interval=1d/);
  // The simulator's trading day is the UTC day: bars a day apart, at midnight UTC.
  await expect.poll(spacing).toBe(86_400_000);
  const d = await data(page);
  expect(d.bars).toBeGreaterThanOrEqual(300);
  expect(d.first % 86_400_000).toBe(0);
  const today = new Date(d.last);
  const day = today.toLocaleDateString("en-GB", { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC" }).replace(",", "");
  await expect(page.getByTestId("readout").locator(".readout-time")).toHaveText(day);
});

test("scrolled back to its oldest bar, the chart loads older ones once, and stops when there are none", async ({ page }) => {
  const asked: string[] = [];
  page.on("request", (r) => {
    if (r.url().includes("/api/candles/")) asked.push(new URL(r.url()).searchParams.get("before") ?? "none");
  });
  await openChart(page, "?symbol=MSFT&interval=1m");
  const before = await data(page);
  // 1,000 bars of history (and one more if a minute opened since).
  expect(before.bars - 1000).toBeGreaterThanOrEqual(0);
  expect(before.bars - 1000).toBeLessThanOrEqual(1);
  const box = (await chart(page).boundingBox())!;
  const dragBack = async () => {
    await page.mouse.move(box.x + box.width * 0.05, box.y + box.height * 0.4);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.95, box.y + box.height * 0.4, { steps: 6 });
    await page.mouse.up();
    await page.waitForTimeout(100);
  };
  // Drag back in time until the oldest bars are in view, and past them.
  for (let i = 0; i < 40 && !(await chart(page).getAttribute("data-exhausted")); i++) await dragBack();
  // The server holds 1,200 minutes in memory (this one runs without a store):
  // about 200 older ones, then none. Each minute that opens meanwhile adds a
  // bar at the right and drops the server's oldest, so a slow run sees one
  // fewer older bar per minute it spans.
  await expect(chart(page)).toHaveAttribute("data-exhausted", "true");
  const after = await data(page);
  const opened = (after.last - before.last) / 60_000;
  expect(after.bars, "every bar the server has, and those opened since").toBeGreaterThanOrEqual(1200);
  expect(after.bars).toBeLessThanOrEqual(1200 + opened);
  await expect(page.getByTestId("back-to-live"), "the view stayed back in time").toBeVisible();
  expect((before.first - after.first) / 60_000).toBe(after.bars - before.bars - opened);
  expect((after.last - after.first) / (after.bars - 1), "no gap, no overlap").toBe(60_000);
  // Asked once for the bars before the first oldest bar, once before the new oldest one, and never again.
  for (let i = 0; i < 5; i++) await dragBack();
  await page.waitForTimeout(300);
  expect(asked).toEqual([String(before.first), String(after.first)]);
});

test("the last bar follows live prices and time never goes backwards", async ({ page }) => {
  await openChart(page, "?symbol=AAPL&interval=1s");
  // Sampled for 5 s of wall time (not a count of samples: on a busy machine each read takes longer).
  const seen: number[] = [];
  const start = await data(page);
  for (const until = Date.now() + 5_000; Date.now() < until; ) {
    seen.push((await data(page)).last);
    await page.waitForTimeout(200);
  }
  for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]);
  expect(seen.at(-1)!).toBeGreaterThanOrEqual(start.last + 2_000);
  // The newest bar's close is the table's live price.
  await expect
    .poll(async () => {
      const d = await data(page, "AAPL");
      return d.close.toFixed(2) === d.table.replace(/,/g, "");
    })
    .toBe(true);
});

test("live bars update the chart in place: its canvases are never rebuilt", async ({ page }) => {
  await openChart(page, "?symbol=MSFT&interval=1s");
  await chart(page).evaluate((el) => el.querySelectorAll("canvas").forEach((c) => ((c as any).marker = true)));
  const before = await data(page);
  await expect.poll(async () => (await data(page)).last, { timeout: 5_000 }).toBeGreaterThan(before.last);
  const unmarked = await chart(page).evaluate((el) => [...el.querySelectorAll("canvas")].filter((c) => !(c as any).marker).length);
  expect(unmarked).toBe(0);
});

test("hovering shows the OHLCV of the bar under the crosshair", async ({ page }) => {
  await openChart(page);
  const readout = page.getByTestId("readout");
  const latestTime = await readout.locator(".readout-time").innerText();
  const box = (await chart(page).boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
  await expect(readout.locator(".readout-time")).not.toHaveText(latestTime);
  for (const field of ["o", "h", "l", "c"]) {
    await expect(readout.locator(`[data-field=${field}]`)).toHaveText(/^\d{1,3}(,\d{3})*\.\d{2}$/);
  }
  await expect(readout.locator("[data-field=v]")).toHaveText(/^\d+(\.\d+)?[KMB]?$/);
  const [h, l] = await Promise.all(["h", "l"].map(async (f) => Number((await readout.locator(`[data-field=${f}]`).innerText()).replace(/,/g, ""))));
  expect(h).toBeGreaterThanOrEqual(l);
  // Leaving the chart returns the readout to the newest bar.
  await page.mouse.move(box.x + box.width / 2, box.y - 200);
  await expect
    .poll(async () => {
      const newest = await chart(page).getAttribute("data-last-time");
      const local = await page.evaluate((t) => new Date(t).toTimeString().slice(0, 8), Number(newest));
      return (await readout.locator(".readout-time").innerText()) === local;
    })
    .toBe(true);
});

test("panning away shows 'back to live', which returns to the newest bar", async ({ page }) => {
  await openChart(page);
  const back = page.getByTestId("back-to-live");
  await expect(back).toBeHidden();
  const box = (await chart(page).boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.95, box.y + box.height * 0.5, { steps: 10 });
  await page.mouse.up();
  await expect(back).toBeVisible();
  await back.click();
  await expect(back).toBeHidden();
});

test("line and area modes replace the candles", async ({ page }) => {
  await openChart(page);
  for (const mode of ["line", "area", "candles"]) {
    await page.locator(`[aria-label='Chart type'] button[data-value=${mode}]`).click();
    await expect(chart(page)).toHaveAttribute("data-mode", mode);
    await expect(page.locator(`[aria-label='Chart type'] button[data-value=${mode}]`)).toHaveAttribute("aria-pressed", "true");
  }
  expect(await inkedPixels(page)).toBeGreaterThan(5_000);
});

test("selecting another row charts it and puts it in the URL", async ({ page }) => {
  await openChart(page, "?symbol=NVDA&interval=1m");
  const nvda = (await data(page)).close;
  await page.locator("tr[data-symbol=MSFT]").click();
  await expect(page).toHaveURL(/\?symbol=MSFT&interval=1m$/);
  await expect(page.getByTestId("chart-symbol")).toHaveText("MSFT");
  await expect.poll(async () => Math.abs((await data(page)).close - nvda)).toBeGreaterThan(100);
  // Enter on a focused row charts it too.
  await page.locator("tr[data-symbol=JPM]").focus();
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/symbol=JPM/);
  await expect(page.getByTestId("chart-symbol")).toHaveText("JPM");
  await expect(page.locator("tr[data-symbol=JPM]")).toHaveAttribute("aria-selected", "true");
});

test.describe("server-rendered from the URL", () => {
  test.use({ javaScriptEnabled: false });

  test("a link restores symbol and interval before any script runs", async ({ page }) => {
    await page.goto(`${server.url}/?symbol=MSFT&interval=5m`);
    await expect(page.getByTestId("chart-symbol")).toHaveText("MSFT");
    await expect(page.locator("[aria-label=Interval] button[data-value='5m']")).toHaveAttribute("aria-pressed", "true");
    await expect(page.locator("tr[data-symbol=MSFT]")).toHaveAttribute("aria-selected", "true");
    await expect(page.getByTestId("detail").locator(".detail-symbol")).toHaveText("MSFT");
  });

  test("every row has a sparkline of recent minutes", async ({ page }) => {
    await page.goto(server.url);
    const points = await page.locator("td.spark polyline").evaluateAll((lines) =>
      lines.map((l) => (l.getAttribute("points") ?? "").split(" ").filter(Boolean).length),
    );
    expect(points.length).toBeGreaterThanOrEqual(30);
    for (const n of points) expect(n).toBeGreaterThanOrEqual(20);
  });

  test("an unknown symbol in the URL says so", async ({ page }) => {
    await page.goto(`${server.url}/?symbol=NOPE`);
    await expect(page.locator(".chart-empty")).toHaveText("Unknown symbol “NOPE”");
  });
});
