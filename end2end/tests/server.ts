// Starts the real release `tickertape` binary on a free loopback port.

import { spawn, type ChildProcess } from "node:child_process";
import { connect, createServer } from "node:net";
import { resolve } from "node:path";

export const repoRoot = resolve(__dirname, "..", "..");
const binary = resolve(repoRoot, "target", "release", "tickertape");

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => ok(port));
    });
  });
}

export class Server {
  private child?: ChildProcess;
  log = "";

  constructor(
    readonly port: number,
    readonly args: string[] = [],
    readonly tls = false,
  ) {}

  get url(): string {
    return `${this.tls ? "https" : "http"}://127.0.0.1:${this.port}`;
  }

  /** Starts the server and waits until /healthz answers. */
  async start(): Promise<this> {
    // In memory unless a test names a data directory: runs never share history.
    const ephemeral = this.args.includes("--data-dir") ? [] : ["--ephemeral"];
    const child = spawn(binary, ["--addr", `127.0.0.1:${this.port}`, ...ephemeral, ...this.args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    child.stdout?.on("data", (d) => (this.log += d));
    child.stderr?.on("data", (d) => (this.log += d));
    this.child = child;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`tickertape exited early:\n${this.log}`);
      if (await this.healthy()) return this;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`tickertape did not become healthy:\n${this.log}`);
  }

  /** Whether /healthz answers (over TLS: whether the port accepts connections). */
  private async healthy(): Promise<boolean> {
    if (this.tls) {
      return new Promise((ok) => {
        const socket = connect(this.port, "127.0.0.1", () => (socket.destroy(), ok(true)));
        socket.on("error", () => ok(false));
      });
    }
    try {
      return (await fetch(`${this.url}/healthz`)).ok;
    } catch {
      return false; // not listening yet
    }
  }

  /** Sends `signal` (SIGTERM: a graceful stop) and waits for the process to exit; returns its exit code. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    child.kill(signal);
    return exited;
  }
}

export async function startServer(args: string[] = [], options: { tls?: boolean } = {}): Promise<Server> {
  return new Server(await freePort(), args, options.tls ?? false).start();
}
