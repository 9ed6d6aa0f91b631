import { expect, test } from "@playwright/test";
import { badge, control, pausedSim, row, showsPrice } from "./control";
import { startServer } from "./server";
import { frameReader, type WireMsg } from "./wire";

type Socket = { sent: Array<Record<string, unknown>>; got: WireMsg[] };

test("a page whose connection drops resumes where it was: one diff, no snapshot, and the table is exact", async ({ page }) => {
  const server = await startServer(pausedSim(41));
  try {
    const sockets: Socket[] = [];
    const read = frameReader(); // the page's: symbol ids outlive a socket
    page.on("websocket", (ws) => {
      const socket: Socket = { sent: [], got: [] };
      sockets.push(socket);
      ws.on("framesent", (f) => typeof f.payload === "string" && socket.sent.push(JSON.parse(f.payload)));
      ws.on("framereceived", (f) => socket.got.push(read(f.payload)));
    });
    await page.goto(server.url);
    await expect(badge(page)).toHaveText("Live");
    await control(server, "/symbols/MSFT/price", { price: 401.37 });
    await expect(row(page, "MSFT").locator("td.last")).toHaveText("401.37");

    // The network drops the socket (no close frame); the market moves on.
    const [first] = sockets;
    const stream = (s: Socket) => s.got.filter((m) => m.type === "snapshot" || m.type === "diff");
    const left = stream(first).at(-1)!;
    expect(await control(server, "/connections/drop")).toEqual({ dropped: 1 });
    await control(server, "/symbols/AAPL/price", { price: 190.55 });
    await expect.poll(() => sockets.length).toBe(2);
    await expect(badge(page)).toHaveText("Live");
    await expect.poll(async () => showsPrice(await row(page, "AAPL").locator("td.last").innerText(), 190.55)).toBe(true);
    await expect(row(page, "MSFT").locator("td.last")).toHaveText("401.37");

    // It asked to resume from where the first socket left it, and got one
    // diff numbered next: no snapshot, seq running on.
    const second = sockets[1];
    const hello = first.got.find((m) => m.type === "hello")!;
    expect(second.sent[0]).toEqual({ op: "resume", epoch: hello.epoch, seq: left.seq, batch: left.batch, symbols: ["*"] });
    await expect.poll(() => stream(second).length).toBeGreaterThan(0);
    expect(stream(second)[0]).toMatchObject({ type: "diff", seq: left.seq! + 1 });
    expect(stream(second).some((m) => m.type === "snapshot")).toBe(false);
    const seqs = [...stream(first), ...stream(second)].map((m) => m.seq!);
    seqs.forEach((seq, i) => i > 0 && expect(seq).toBe(seqs[i - 1] + 1));
  } finally {
    await server.stop();
  }
});
