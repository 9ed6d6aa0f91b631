import { expect, test, type Page } from "@playwright/test";
import { startServer, type Server } from "./server";
import { frameReader } from "./wire";

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "33"]);
});

test.afterAll(async () => {
  await server.stop();
});

const shown = (page: Page) =>
  page.locator("table.quotes tbody tr[data-symbol]").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-symbol") ?? ""));

test("a watchlist: made, filled from a search over all symbols, reordered, persisted, and the only thing the server sends", async ({ page }) => {
  // Every symbol the server sends in diffs, from the page's own WebSocket.
  let sentSince = 0;
  const sent = new Set<string>();
  page.on("websocket", (ws) => {
    const read = frameReader();
    ws.on("framereceived", (frame) => {
      const msg = read(frame.payload);
      if (!sentSince || Date.now() < sentSince) return;
      if (msg.type === "diff") for (const c of msg.changes!) sent.add(c.symbol);
    });
  });
  await page.goto(server.url);
  await expect(page.getByTestId("connection")).toHaveText("Live");

  await page.getByRole("button", { name: "+ New list" }).click();
  await page.getByRole("textbox", { name: "New list name" }).fill("Tech");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("button", { name: "Tech", exact: true })).toHaveAttribute("aria-pressed", "true");
  await expect(page.getByText("This list is empty")).toBeVisible();

  const search = page.getByRole("searchbox", { name: /Search symbols/ });
  await search.fill("nvidia");
  await page.getByRole("button", { name: "Add NVDA to Tech" }).click();
  await search.fill("micro");
  await page.getByRole("button", { name: "Add MSFT to Tech" }).click();
  await search.fill("");
  await expect.poll(() => shown(page)).toEqual(["NVDA", "MSFT"]);

  // Alt+↑ moves the cursor's row up the list.
  await page.locator('tr[data-symbol="MSFT"]').click();
  await page.keyboard.press("Alt+ArrowUp");
  await expect.poll(() => shown(page)).toEqual(["MSFT", "NVDA"]);
  // Dragging a row drops it in place of another.
  await page.locator('tr[data-symbol="NVDA"] th').hover();
  await page.mouse.down();
  await page.locator('tr[data-symbol="MSFT"] td.name').hover({ force: true });
  await page.locator('tr[data-symbol="MSFT"] td.last').hover({ force: true });
  await page.mouse.up();
  await expect.poll(() => shown(page)).toEqual(["NVDA", "MSFT"]);

  // Only the list's symbols (MSFT is also charted) come over the wire now.
  await page.waitForTimeout(500);
  sentSince = Date.now();
  await page.waitForTimeout(2_000);
  expect([...sent].sort()).toEqual(["MSFT", "NVDA"]);

  await page.reload();
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect(page.getByRole("button", { name: "Tech", exact: true })).toHaveAttribute("aria-pressed", "true");
  await expect.poll(() => shown(page)).toEqual(["NVDA", "MSFT"]);

  await page.locator('tr[data-symbol="NVDA"]').hover();
  await page.getByRole("button", { name: "Remove NVDA from Tech" }).click();
  await expect.poll(() => shown(page)).toEqual(["MSFT"]);

  await page.getByRole("button", { name: "All symbols" }).click();
  await expect(page.locator(".watchlist .panel-head")).toContainText(/40 symbols/);
  await page.getByRole("button", { name: "Tech", exact: true }).click();
  await page.getByRole("button", { name: "Delete list" }).click();
  await expect(page.getByRole("button", { name: "Tech", exact: true })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "All symbols" })).toHaveAttribute("aria-pressed", "true");
});
