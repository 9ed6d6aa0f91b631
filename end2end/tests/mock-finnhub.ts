// A local stand-in for Finnhub's trade WebSocket (its documented wire format:
// subscribe per symbol, {"type":"trade","data":[{s,p,t,v}]}), so the page can
// be tested against a real provider adapter whose upstream comes and goes.

import { WebSocketServer, type WebSocket } from "ws";

export class MockFinnhub {
  private server?: WebSocketServer;
  private timer?: NodeJS.Timeout;
  private readonly subscribed = new Map<WebSocket, Set<string>>();
  private prices = new Map<string, number>();
  /** While true, no trades are sent (the connection stays open). */
  silent = false;

  private constructor(public port: number) {}

  static async start(port = 0): Promise<MockFinnhub> {
    const mock = new MockFinnhub(port);
    await mock.listen();
    return mock;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** (Re)opens the server on the same port; every subscriber gets a trade per symbol every 200 ms. */
  async listen(): Promise<void> {
    const server = new WebSocketServer({ host: "127.0.0.1", port: this.port });
    await new Promise<void>((ok) => server.once("listening", () => ok()));
    this.port = (server.address() as { port: number }).port;
    server.on("connection", (ws) => {
      this.subscribed.set(ws, new Set());
      ws.on("message", (data) => {
        const msg = JSON.parse(String(data));
        if (msg.type === "subscribe") this.subscribed.get(ws)?.add(msg.symbol);
      });
      ws.on("close", () => this.subscribed.delete(ws));
    });
    this.timer = setInterval(() => this.trade(), 200);
    this.server = server;
  }

  /** Sends every subscriber a message that is not Finnhub's format. */
  sendGarbage(): void {
    for (const ws of this.subscribed.keys()) {
      ws.send("{{{ not json");
      ws.send(JSON.stringify({ type: "trade", data: [{ s: 42, p: "cheap" }] }));
    }
  }

  private trade(): void {
    if (this.silent) return;
    for (const [ws, symbols] of this.subscribed) {
      const data = [...symbols].map((s) => {
        const price = (this.prices.get(s) ?? 100) * (1 + (Math.random() - 0.5) / 500);
        this.prices.set(s, price);
        return { s, p: Math.round(price * 100) / 100, t: Date.now(), v: 100, c: null };
      });
      if (data.length) ws.send(JSON.stringify({ type: "trade", data }));
    }
  }

  /** Drops every connection without a close frame and stops listening. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const ws of this.subscribed.keys()) ws.terminate();
    this.subscribed.clear();
    await new Promise<void>((ok) => this.server?.close(() => ok()) ?? ok());
  }
}
