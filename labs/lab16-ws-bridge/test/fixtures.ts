// What the process tests share: starting the real bridge and feeds, and a Node WebSocket "browser".
import { fileURLToPath } from "node:url";
import { type ProcessPool, type RoleProcess, waitUntil, withDeadline } from "@zlabs/kit/testing";
import WebSocket from "ws";
import { decodeServerMessage, encodeControl, type ServerMessage } from "../internal/protocol.ts";

export const labDir = fileURLToPath(new URL("..", import.meta.url));
export const WAIT_MS = 30_000;

export interface Running {
  bridge: RoleProcess;
  url: string;
  upstream: string;
  origin: string;
}

export async function startBridge(procs: ProcessPool, extra: string[] = []): Promise<Running> {
  const bridge = procs.start({
    labDir,
    cmd: "cmd/zmq-bridge.ts",
    name: "bridge",
    args: ["--http", "127.0.0.1:0", "--upstream", "tcp://127.0.0.1:*", ...extra],
  });
  const served = await bridge.waitForLog("page served", WAIT_MS);
  const url = served.url as string;
  return { bridge, url, upstream: served.upstream as string, origin: url.replace(/\/$/, "") };
}

export function startAgent(procs: ProcessPool, upstream: string, agent: string, intervalMs = 200): RoleProcess {
  return procs.start({
    labDir,
    cmd: "cmd/agent-feed.ts",
    name: agent,
    args: ["--agent", agent, "--bridge", upstream, "--interval", String(intervalMs), "--level", "ok"],
  });
}

export function startTelemetry(procs: ProcessPool, upstream: string, everyMs = 100): RoleProcess {
  return procs.start({ labDir, cmd: "cmd/telemetry-feed.ts", name: "telemetry", args: ["--bridge", upstream, "--every", String(everyMs)] });
}

/** A Node WebSocket client speaking the page's protocol, keeping what it receives. */
export class WsClient {
  readonly messages: ServerMessage[] = [];
  readonly ws: WebSocket;
  closed: { code: number; reason: string } | undefined;
  private readonly opened: Promise<void>;

  constructor(url: string, origin: string | undefined) {
    this.ws = new WebSocket(`${url.replace(/^http/, "ws")}ws`, origin ? { origin } : {});
    this.ws.on("message", (data) => this.messages.push(decodeServerMessage(data as Buffer)));
    this.ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    this.ws.on("error", () => {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once("error", reject);
    });
  }

  open(): Promise<void> {
    return withDeadline(this.opened, 10_000, "the WebSocket to open");
  }

  subscribe(prefix: string): void {
    this.ws.send(encodeControl("subscribe", prefix));
  }

  unsubscribe(prefix: string): void {
    this.ws.send(encodeControl("unsubscribe", prefix));
  }

  /** Topics of the data messages received so far. */
  topics(): string[] {
    return this.messages.flatMap((m) => (m.kind === "live" || m.kind === "cached" ? [(m.frames[0] as Buffer).toString("latin1")] : []));
  }

  async waitFor(what: string, check: (m: ServerMessage) => boolean, timeoutMs = 10_000, from = 0): Promise<ServerMessage> {
    return waitUntil(() => this.messages.slice(from).find(check), { timeoutMs, what });
  }

  waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    return waitUntil(() => this.closed, { timeoutMs, what: "the WebSocket to close" });
  }

  close(): void {
    this.ws.terminate();
  }
}

export const isData = (topic: string) => (m: ServerMessage) =>
  (m.kind === "live" || m.kind === "cached") && (m.frames[0] as Buffer).toString("latin1").startsWith(topic);
