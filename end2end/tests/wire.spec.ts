import { expect, test } from "@playwright/test";
import { apiQuotes, badge, control, pausedSim, row, showsPrice } from "./control";
import { startServer } from "./server";
import { frameReader, type WireMsg } from "./wire";

test("the page takes its quotes in binary frames by default, and they carry exactly what the server holds", async ({ page }) => {
  const server = await startServer(pausedSim(31));
  try {
    const frames: Array<{ binary: boolean; msg: WireMsg }> = [];
    page.on("websocket", (ws) => {
      const read = frameReader();
      ws.on("framereceived", (f) => frames.push({ binary: typeof f.payload !== "string", msg: read(f.payload) }));
    });
    await page.goto(server.url);
    await expect(badge(page)).toHaveText("Live");

    // The snapshot came as a binary frame, and it is the server's state to
    // the bit (the market is paused: nothing moved since).
    const quotes = frames.filter((f) => f.msg.type === "snapshot");
    expect(quotes.map((f) => f.binary)).toEqual([true]);
    const held = await apiQuotes(server);
    expect(quotes[0].msg.quotes!.length).toBe(held.size);
    for (const q of quotes[0].msg.quotes!) expect(q).toEqual(held.get(q.symbol));
    // Everything else stays JSON text.
    expect(frames.find((f) => f.msg.type === "hello")?.binary).toBe(false);

    // Prices that need more digits than the table shows arrive exact and
    // show rounded; diffs are binary too.
    for (const price of [401.37, 123.456789, 0.1 + 0.2]) {
      const from = frames.length;
      await control(server, "/symbols/MSFT/price", { price });
      await expect.poll(async () => showsPrice(await row(page, "MSFT").locator("td.last").innerText(), price)).toBe(true);
      const diffs = frames.slice(from).filter((f) => f.msg.type === "diff");
      expect(diffs.every((f) => f.binary)).toBe(true);
      const lasts = diffs.flatMap((f) => f.msg.changes!.filter((c) => c.symbol === "MSFT").map((c) => c.last));
      expect(lasts).toContain(price);
    }
    const seqs = frames.filter((f) => f.msg.seq !== undefined).map((f) => f.msg.seq!);
    seqs.forEach((seq, i) => i > 0 && expect(seq).toBe(seqs[i - 1] + 1));
  } finally {
    await server.stop();
  }
});
