// The control API (--control-token) as test helpers: a server whose market
// moves only when a test says so, and what its table shows.

import { expect, type Page } from "@playwright/test";
import type { Server } from "./server";

export const CONTROL_TOKEN = "control-e2e";

/** A paused simulator on a fixed seed: nothing trades until a test steps it or sets a price. */
export function pausedSim(seed: number, symbols = "AAPL,MSFT,NVDA"): string[] {
  return ["--control-token", CONTROL_TOKEN, "--sim-paused", "--seed", String(seed), "--symbols", symbols];
}

/** POSTs to `/api/control<path>` with the token; expects 200 and returns the answer. */
export async function control(server: Server, path: string, body: object = {}): Promise<any> {
  const answer = await fetch(`${server.url}/api/control${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${CONTROL_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await answer.text();
  expect(answer.status, `POST /api/control${path}: ${text}`).toBe(200);
  return JSON.parse(text);
}

export type Quote = { symbol: string; last: number; bid: number; ask: number; session: string };

/** The server's quotes by symbol, as `/api/quotes` gives them. */
export async function apiQuotes(server: Server): Promise<Map<string, Quote>> {
  const { quotes } = (await (await fetch(`${server.url}/api/quotes`)).json()) as { quotes: Quote[] };
  return new Map(quotes.map((q) => [q.symbol, q]));
}

export const row = (page: Page, symbol: string) => page.locator(`tr[data-symbol="${symbol}"]`);
export const badge = (page: Page) => page.getByTestId("connection");

/**
 * Starts recording every text the connection badge shows from now on (a
 * MutationObserver in the page): a reconnect can show "Reconnecting…" for
 * less time than a poll from the test takes, but never too briefly to render.
 */
export async function recordBadge(page: Page): Promise<void> {
  await page.evaluate(() => {
    const shown: string[] = [];
    const read = () => document.querySelector("[data-testid=connection]")?.textContent?.trim() ?? "";
    shown.push(read());
    new MutationObserver(() => {
      const now = read();
      if (now !== shown[shown.length - 1]) shown.push(now);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
    (window as unknown as { badgeShown: string[] }).badgeShown = shown;
  });
}

/** What the badge has shown since `recordBadge`, in order. */
export async function badgeShown(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { badgeShown: string[] }).badgeShown);
}

/** Whether a price as the table shows it ("1,234.56") is `value` to the digits shown. */
export function showsPrice(text: string, value: number): boolean {
  const plain = text.replace(/,/g, "");
  const decimals = plain.split(".")[1]?.length ?? 0;
  return plain === value.toFixed(decimals);
}
