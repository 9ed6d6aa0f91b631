// The page for an unknown path, and its way back to the dashboard.

import { expect, test } from "@playwright/test";
import { expectPricesToMove } from "./page";
import { startServer, type Server } from "./server";

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "17"]);
});

test.afterAll(async () => {
  await server?.stop();
});

const price = /^\d{1,3}(,\d{3})*\.\d{2,4}$/;

test("an unknown path says so, and its link back opens the live dashboard", async ({ page }) => {
  const response = await page.goto(`${server.url}/no/such/page`);
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await expect(page).toHaveTitle("Page not found · tickertape");
  // Hydrated, so any client-side handling of the link would take it.
  await page.waitForLoadState("networkidle");

  await page.getByRole("link", { name: "Back to the dashboard" }).click();
  await expect(page).toHaveURL(`${server.url}/`);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect(page.getByTestId("connection")).toHaveClass(/\blive\b/);
  await expect.poll(() => page.locator("table.quotes tbody tr[data-symbol]").count()).toBeGreaterThanOrEqual(30);
  for (const text of await page.locator("table.quotes td.last").allInnerTexts()) expect(text).toMatch(price);
  await expectPricesToMove(page);
});
