import { expect, test } from "@playwright/test";
import { Nats, Nginx } from "./cluster";
import { Server, startServer } from "./server";
import { expectPricesToMove } from "./page";

/** Open WebSocket sessions on a node, from its /metrics. */
async function connections(server: Server): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("tickertape_connections "));
  return Number(line?.split(" ")[1] ?? "NaN");
}

test("through nginx: an edge killed under an open page, live again on the other edge without a reload", async ({
  page,
}) => {
  const nats = await Nats.start();
  const bus = ["--bus", nats.url, "--bus-heartbeat-ms", "250"];
  const started: { stop(): Promise<unknown> }[] = [nats];
  try {
    const ingest = await startServer(["--role", "ingest", ...bus, "--seed", "3"]);
    started.push(ingest);
    const edges = [await startServer(["--role", "edge", ...bus]), await startServer(["--role", "edge", ...bus])];
    started.push(...edges);
    const nginx = await Nginx.start(edges.map((e) => e.port));
    started.push(nginx);

    await page.goto(nginx.url);
    const badge = page.getByTestId("connection");
    await expect(badge).toHaveText("Live");
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 7));

    // The edge holding the page's WebSocket.
    await expect.poll(async () => (await Promise.all(edges.map(connections))).reduce((a, b) => a + b)).toBe(1);
    const counts = await Promise.all(edges.map(connections));
    const [dying, surviving] = counts[0] === 1 ? [edges[0], edges[1]] : [edges[1], edges[0]];
    await dying.stop("SIGKILL");

    await expect(badge).toHaveText(/^Reconnecting/);
    await expect(badge).toHaveText("Live", { timeout: 20_000 });
    await expect.poll(() => connections(surviving)).toBe(1);

    // Prices still move, from the surviving edge, in the same page.
    await expectPricesToMove(page);
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(7);
  } finally {
    for (const s of started.reverse()) await s.stop();
  }
});
