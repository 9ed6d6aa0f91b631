// What a user sees on the page, as test helpers.

import { expect, type Page } from "@playwright/test";

/** Quote changes the page has applied so far (`window.__tickertape`, set by the page's connection). */
export async function appliedChanges(page: Page): Promise<number> {
  return page.evaluate(() => (window as { __tickertape?: { changes?: number } }).__tickertape?.changes ?? 0);
}

/**
 * Waits until the page has applied new quote changes and some row's last
 * price shows a different value. The two waits fail apart: no diffs applied
 * (the connection) or nothing redrawn (the table).
 */
export async function expectPricesToMove(page: Page, timeout = 15_000): Promise<void> {
  const cells = page.locator("table.quotes td.last");
  const [before, applied] = [await cells.allInnerTexts(), await appliedChanges(page)];
  await expect.poll(() => appliedChanges(page), { timeout, message: "the page applies quote changes" }).toBeGreaterThan(applied);
  await expect
    .poll(async () => (await cells.allInnerTexts()).filter((t, i) => t !== before[i]).length, { timeout, message: "a price in the table changes" })
    .toBeGreaterThan(0);
}
