// What a user sees on the page, as test helpers.

import { expect, type Page } from "@playwright/test";

/** Waits until some row's last price differs from what the table shows now. */
export async function expectPricesToMove(page: Page, timeout = 8_000): Promise<void> {
  const cells = page.locator("table.quotes td.last");
  const before = await cells.allInnerTexts();
  await expect.poll(async () => (await cells.allInnerTexts()).filter((t, i) => t !== before[i]).length, { timeout }).toBeGreaterThan(0);
}
