import { expect, test } from "@playwright/test";
import { startServer, type Server } from "./server";

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "31"]);
});

test.afterAll(async () => {
  await server.stop();
});

test("from 390 px wide to a wide screen: no sideways page scroll, the table scrolls in its box, the chart fits", async ({ page }) => {
  const chartWidth = () => page.getByTestId("chart").evaluate((el) => el.getBoundingClientRect().width);
  const pageOverflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.setViewportSize({ width: 1600, height: 900 });
  await page.goto(server.url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  const wide = await chartWidth();
  expect(await pageOverflow()).toBe(0);

  await page.setViewportSize({ width: 390, height: 844 });
  await expect.poll(pageOverflow).toBe(0);
  await expect.poll(chartWidth).toBeLessThan(390);
  expect(wide).toBeGreaterThan(800);
  // The chart canvas follows its container.
  await expect
    .poll(() => page.getByTestId("chart").locator("canvas").first().evaluate((c) => c.getBoundingClientRect().width))
    .toBeLessThanOrEqual(await chartWidth());
  // The table keeps its columns and scrolls sideways inside its own box.
  const box = page.locator(".table-wrap");
  const overflow = await box.evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth, style: getComputedStyle(el).overflowX }));
  expect(overflow.client).toBeLessThanOrEqual(390);
  expect(["auto", "scroll"]).toContain(overflow.style);
  // Everything a phone user needs stays reachable.
  await expect(page.getByRole("searchbox", { name: /Search symbols/ })).toBeVisible();
  await expect(page.getByRole("button", { name: /theme/ })).toBeVisible();
  await expect(page.locator("table.quotes tbody tr[data-symbol]").first()).toBeVisible();
});
