// A real cluster for browser tests: nats-server and nginx (Debian packages)
// on loopback ports, nginx running the shipped deploy/nginx/tickertape.conf.

import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, repoRoot } from "./server";

/** A Debian-packaged server binary: on PATH or in /usr/sbin. */
function sbin(name: string): string {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/sbin"]) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new Error(`${name} not found: install Debian's package (make test does)`);
}

/** Runs `binary` until `ready` sees its output; kills it on stop(). */
class Process {
  private child?: ChildProcess;
  log = "";

  async start(binary: string, args: string[], ready: (log: string) => boolean | Promise<boolean>, what: string): Promise<void> {
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (d) => (this.log += d));
    child.stderr?.on("data", (d) => (this.log += d));
    this.child = child;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${what} exited early:\n${this.log}`);
      if (await ready(this.log)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${what} did not start:\n${this.log}`);
  }

  /** SIGTERM: each stops at once, and nginx's master takes its workers along (SIGKILL would orphan them). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
}

export class Nats extends Process {
  constructor(readonly port: number) {
    super();
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<Nats> {
    const nats = new Nats(await freePort());
    await nats.start(
      sbin("nats-server"),
      ["-a", "127.0.0.1", "-p", String(nats.port)],
      (log) => log.includes("Server is ready"),
      "nats-server",
    );
    return nats;
  }
}

/** nginx with the shipped config, its upstreams and listen port rewritten. */
export class Nginx extends Process {
  private dir = "";

  constructor(readonly port: number) {
    super();
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(edgePorts: number[]): Promise<Nginx> {
    const nginx = new Nginx(await freePort());
    const dir = mkdtempSync(join(tmpdir(), "tickertape-nginx-"));
    // nginx's workers run as an unprivileged user when it starts as root:
    // they must reach the temp paths in here (a large page is buffered to disk).
    chmodSync(dir, 0o755);
    nginx.dir = dir;
    const shipped = readFileSync(resolve(repoRoot, "deploy", "nginx", "tickertape.conf"), "utf8");
    const servers = edgePorts.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=5s;`).join("\n");
    const site = shipped
      .replace(/^ {4}server 127\.0\.0\.1:300\d .*\n/gm, "")
      .replace("    least_conn;\n", `    least_conn;\n${servers}\n`)
      .replace("listen 8080;", `listen 127.0.0.1:${nginx.port};`);
    if (!site.includes(`127.0.0.1:${edgePorts[0]}`) || !site.includes(`127.0.0.1:${nginx.port}`)) {
      throw new Error("deploy/nginx/tickertape.conf no longer has the upstream and listen lines this test rewrites");
    }
    writeFileSync(join(dir, "tickertape.conf"), site);
    writeFileSync(
      join(dir, "nginx.conf"),
      `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/tickertape.conf;
}
`,
    );
    await nginx.start(
      sbin("nginx"),
      ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", "stderr"],
      async () => {
        try {
          return (await fetch(`${nginx.url}/healthz`)).ok;
        } catch {
          return false;
        }
      },
      "nginx",
    );
    return nginx;
  }

  override async stop(): Promise<void> {
    await super.stop();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
