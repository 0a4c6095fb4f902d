// The bridge: one SUB upstream (bound for feeds to connect, and connected to publishers that bind),
// an HTTP server for the page and its scripts, and a WebSocket endpoint where every browser holds
// its own subscriptions. The SUB holds the reference-counted union of them; a browser that reads
// too slowly is dropped to (counted), then disconnected, without slowing anyone else.
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";
import { bindAll, closeSockets, type Logger, peerLimits, receiveLoop, reconnectAfterDrops, UsageError, type View } from "@zlabs/kit";
import { type WebSocket, WebSocketServer } from "ws";
import { Subscriber } from "zeromq";
import { type ClientSubs, Fanout, matches } from "./fanout.ts";
import {
  decodeControl,
  decodeUpstream,
  encodeData,
  encodeNotice,
  KIND_CACHED,
  KIND_LIVE,
  MAX_CONTROL_BYTES,
  MAX_UPSTREAM_FRAME_BYTES,
  NOTICE_HELLO,
  NOTICE_REFUSED,
  NOTICE_SUBSCRIBED,
  NOTICE_UNSUBSCRIBED,
} from "./protocol.ts";
import { type BridgeStats, bridgeView } from "./view.ts";

/** WebSocket ping interval: a browser that has not answered the previous ping is disconnected. */
export const PING_INTERVAL_MS = 30_000;
/** Per browser: above this many bytes queued in its socket, messages for it are dropped (counted). */
export const SLOW_BUFFER_BYTES = 1024 * 1024;
/** A browser over the buffer limit for this long is disconnected (its TCP connection destroyed). */
export const SLOW_DISCONNECT_MS = 5_000;
/** Browsers at once; more are refused at the upgrade with 503. */
export const MAX_CLIENTS = 1_000;
/** Invalid control messages a browser may send before it is closed with 1008. */
export const MAX_BAD_CONTROLS = 10;
/** The upstream SUB's receive high-water mark (messages): past it libzmq drops, the feeds never block. */
export const UPSTREAM_RCVHWM = 10_000;
/** How often the live view and the rates are refreshed. */
export const VIEW_EVERY_MS = 1_000;

export interface BridgeConfig {
  /** host:port of the HTTP and WebSocket server. */
  http: string;
  /** The SUB's bound endpoint, for feeds that connect. */
  upstream: string;
  /** Publishers that bind (lab01 agents, lab04's broker XPUB): the SUB connects to each. */
  connect: string[];
  /** Origins allowed besides the bridge's own (http://127.0.0.1:port and http://localhost:port). */
  allowOrigins: string[];
  slowBufferBytes: number;
  slowDisconnectMs: number;
  pingMs: number;
  maxClients: number;
  /** The files served instead of lab16's page (another lab's page through this bridge); absolute paths. */
  files?: Record<string, { file: string; type: string }>;
}

interface Client extends ClientSubs {
  id: number;
  ws: WebSocket;
  address: string;
  seq: number;
  sent: number;
  dropped: number;
  overSince: number | undefined;
  bad: number;
  alive: boolean;
}

const labDir = fileURLToPath(new URL("..", import.meta.url));

/** Files the server serves, and only these: the page, its script, and the two libraries from node_modules. */
export const STATIC_FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "web/web-client.html", type: "text/html; charset=utf-8" },
  "/web-client.html": { file: "web/web-client.html", type: "text/html; charset=utf-8" },
  "/web-client.js": { file: "web/web-client.js", type: "text/javascript; charset=utf-8" },
  "/web-client.css": { file: "web/web-client.css", type: "text/css; charset=utf-8" },
  "/vendor/uPlot.iife.min.js": { file: "node_modules/uplot/dist/uPlot.iife.min.js", type: "text/javascript; charset=utf-8" },
  "/vendor/uPlot.min.css": { file: "node_modules/uplot/dist/uPlot.min.css", type: "text/css; charset=utf-8" },
  "/vendor/msgpackr.min.js": { file: "node_modules/msgpackr/dist/index-no-eval.min.js", type: "text/javascript; charset=utf-8" },
};

export function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port <= 65535 ? { host: (m[1] as string).replace(/^\[|\]$/g, ""), port } : undefined;
}

export class ZmqBridge {
  private readonly sub = new Subscriber({ linger: 0, receiveHighWaterMark: UPSTREAM_RCVHWM, ...peerLimits(MAX_UPSTREAM_FRAME_BYTES) });
  readonly fanout = new Fanout<Client>();
  readonly clients = new Map<number, Client>();
  private readonly files = new Map<string, Buffer>();
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;
  private nextId = 1;
  private origins = new Set<string>();
  readonly stats: BridgeStats = {
    browsers: 0,
    connects: 0,
    upstream: 0,
    delivered: 0,
    slowDrops: 0,
    slowDisconnects: 0,
    refusedOrigin: 0,
    refusedFull: 0,
    badFrames: 0,
    malformed: 0,
    inRate: 0,
    outRate: 0,
  };
  private lastRate = { at: performance.now(), upstream: 0, delivered: 0 };
  private get staticFiles(): Record<string, { file: string; type: string }> {
    return this.config.files ?? STATIC_FILES;
  }
  /** Where it listens once started: the page's URL and the SUB's endpoint. */
  url = "";
  upstreamEndpoint = "";

  constructor(
    private readonly config: BridgeConfig,
    private readonly log: Logger,
    private readonly publish: (view: View) => void = () => {},
  ) {
    for (const [path, { file }] of Object.entries(this.staticFiles))
      this.files.set(path, readFileSync(isAbsolute(file) ? file : `${labDir}/${file}`));
  }

  /** Binds the SUB and the HTTP server; returns the page's URL. */
  async start(): Promise<string> {
    const hp = parseHostPort(this.config.http);
    if (!hp) throw new UsageError(`--http "${this.config.http}" must be host:port`);
    this.upstreamEndpoint = (await bindAll(this.log, { upstream: [this.sub, this.config.upstream] })).upstream;
    for (const endpoint of this.config.connect) this.sub.connect(endpoint);
    const server = createServer((req, res) => this.serve(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(
          new UsageError(`cannot listen on ${this.config.http}: ${err.code === "EADDRINUSE" ? "the address is in use" : err.message}`),
        ),
      );
      server.listen(hp.port, hp.host, () => resolve());
    });
    const { port, address } = server.address() as AddressInfo;
    const host = address.includes(":") ? `[${address}]` : address;
    this.url = `http://${host}:${port}/`;
    this.origins = new Set([`http://${host}:${port}`, `http://localhost:${port}`, ...this.config.allowOrigins]);
    this.wss = new WebSocketServer({
      server,
      path: "/ws",
      maxPayload: MAX_CONTROL_BYTES,
      perMessageDeflate: false,
      verifyClient: (info, done) => {
        if (!this.origins.has(info.origin)) {
          this.stats.refusedOrigin += 1;
          this.log.warn({ origin: info.origin ?? null, refused: this.stats.refusedOrigin }, "browser refused: origin not allowed");
          return done(false, 403, "origin not allowed");
        }
        if (this.clients.size >= this.config.maxClients) {
          this.stats.refusedFull += 1;
          this.log.warn({ refused: this.stats.refusedFull }, "browser refused: too many browsers");
          return done(false, 503, "too many browsers");
        }
        done(true);
      },
    });
    this.wss.on("connection", (ws, req) => this.accept(ws, req));
    this.log.info({ url: this.url, websocket: `${this.url.replace(/^http/, "ws")}ws`, upstream: this.upstreamEndpoint }, "page served");
    return this.url;
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.server) await this.start();
    if (this.config.connect.length) reconnectAfterDrops(this.sub, this.config.connect, this.log);
    const ping = setInterval(() => this.pingAll(), this.config.pingMs);
    const tick = setInterval(() => this.refresh(), VIEW_EVERY_MS);
    this.refresh();
    // The SUB's pending receive ends only when the socket closes.
    const onAbort = () => closeSockets(this.sub);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await receiveLoop(this.sub, signal, (frames) => this.onUpstream(frames), { log: this.log, name: "upstream" });
    } finally {
      clearInterval(ping);
      clearInterval(tick);
      signal.removeEventListener("abort", onAbort);
      await this.close();
    }
  }

  async close(): Promise<void> {
    for (const c of this.clients.values()) c.ws.terminate();
    this.wss?.close();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
    closeSockets(this.sub);
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0] as string;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    const entry = this.staticFiles[path];
    const body = entry && this.files.get(path);
    if (!entry || !body) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    res.writeHead(200, {
      "content-type": entry.type,
      "content-length": body.length,
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
    });
    res.end(req.method === "HEAD" ? undefined : body);
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const client: Client = {
      id: this.nextId++,
      ws,
      address: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
      prefixes: new Set(),
      seq: 0,
      sent: 0,
      dropped: 0,
      overSince: undefined,
      bad: 0,
      alive: true,
    };
    this.clients.set(client.id, client);
    this.stats.connects += 1;
    this.stats.browsers = this.clients.size;
    this.log.info({ browser: client.id, from: client.address, browsers: this.clients.size }, "browser connected");
    ws.on("message", (data, isBinary) => this.onControl(client, data as Buffer, isBinary));
    ws.on("pong", () => {
      client.alive = true;
    });
    ws.on("error", (err) => {
      this.log.warn({ browser: client.id, err: err.message }, "browser connection error");
    });
    ws.on("close", (code) => this.drop(client, code));
    ws.send(encodeNotice(NOTICE_HELLO, client.id, "zlabs lab16 bridge"));
  }

  private drop(client: Client, code: number): void {
    if (!this.clients.delete(client.id)) return;
    for (const prefix of this.fanout.remove(client)) this.upstream("unsubscribe", prefix);
    this.stats.browsers = this.clients.size;
    this.log.info(
      {
        browser: client.id,
        code,
        sent: client.sent,
        dropped: client.dropped,
        browsers: this.clients.size,
        upstreamPrefixes: this.fanout.refs.size,
      },
      "browser gone",
    );
  }

  private bad(client: Client, reason: string, closeCode?: number): void {
    client.bad += 1;
    this.stats.badFrames += 1;
    this.log.warn({ browser: client.id, reason, bad: this.stats.badFrames }, "bad frame from a browser dropped");
    if (closeCode !== undefined) client.ws.close(closeCode, reason.slice(0, 100));
    else if (client.bad >= MAX_BAD_CONTROLS) client.ws.close(1008, "too many bad messages");
    else this.sendTo(client, encodeNotice(NOTICE_REFUSED, 0, reason));
  }

  private onControl(client: Client, data: Buffer, isBinary: boolean): void {
    if (!isBinary) {
      this.bad(client, "text frames are not accepted: binary only", 1003);
      return;
    }
    const control = decodeControl(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer));
    switch (control.kind) {
      case "invalid": {
        this.bad(client, control.reason);
        return;
      }
      case "subscribe": {
        const r = this.fanout.subscribe(client, control.prefix);
        if (!r.ok) {
          this.bad(client, r.reason);
          return;
        }
        if (r.upstream) this.upstream("subscribe", control.prefix);
        const cached = r.already ? [] : this.fanout.cachedFor(control.prefix, client);
        this.sendTo(client, encodeNotice(NOTICE_SUBSCRIBED, cached.length, control.prefix));
        for (const frames of cached) this.deliver(client, KIND_CACHED, frames);
        this.log.info(
          {
            browser: client.id,
            prefix: control.prefix,
            cached: cached.length,
            holders: this.fanout.refs.get(control.prefix),
            upstream: r.upstream,
          },
          "browser subscribed",
        );
        return;
      }
      case "unsubscribe": {
        const had = client.prefixes.has(control.prefix);
        if (this.fanout.unsubscribe(client, control.prefix)) this.upstream("unsubscribe", control.prefix);
        this.sendTo(client, encodeNotice(NOTICE_UNSUBSCRIBED, had ? 1 : 0, control.prefix));
        if (had)
          this.log.info(
            { browser: client.id, prefix: control.prefix, holders: this.fanout.refs.get(control.prefix) ?? 0 },
            "browser unsubscribed",
          );
        return;
      }
    }
  }

  private onUpstream(frames: Buffer[]): void {
    const msg = decodeUpstream(frames);
    if (msg.kind === "invalid") {
      this.stats.malformed += 1;
      this.log.warn({ reason: msg.reason, malformed: this.stats.malformed }, "malformed upstream message dropped");
      return;
    }
    this.stats.upstream += 1;
    // Copies: frames over 128 bytes are external buffers owned by libzmq's message (0.6).
    const kept = msg.frames.map((f) => Buffer.from(f));
    this.fanout.remember(msg.topic, kept);
    let encoded: Buffer | undefined;
    for (const client of this.clients.values()) {
      if (!matches(client, msg.topic)) continue;
      encoded ??= encodeData(KIND_LIVE, 0, kept);
      this.deliver(client, KIND_LIVE, kept, encoded);
    }
  }

  /** Sends one data message to one browser, or drops it when the browser is over its buffer limit. */
  private deliver(client: Client, kind: typeof KIND_LIVE | typeof KIND_CACHED, frames: Buffer[], shared?: Buffer): void {
    client.seq = (client.seq + 1) >>> 0;
    if (client.ws.bufferedAmount > this.config.slowBufferBytes) {
      client.dropped += 1;
      this.stats.slowDrops += 1;
      const now = performance.now();
      if (client.overSince === undefined) {
        client.overSince = now;
        this.log.warn(
          { browser: client.id, buffered: client.ws.bufferedAmount, limit: this.config.slowBufferBytes },
          "slow browser: dropping its messages",
        );
      } else if (now - client.overSince >= this.config.slowDisconnectMs) {
        this.stats.slowDisconnects += 1;
        this.log.warn(
          { browser: client.id, dropped: client.dropped, slowDisconnects: this.stats.slowDisconnects },
          "slow browser disconnected",
        );
        client.ws.terminate();
        this.drop(client, 1006);
      }
      return;
    }
    client.overSince = undefined;
    // One shared encoding for every browser; only the seq (bytes 1-4) is per browser, so copy it.
    const out = shared ? Buffer.from(shared) : encodeData(kind, client.seq, frames);
    out.writeUInt32BE(client.seq, 1);
    this.sendTo(client, out);
    client.sent += 1;
    this.stats.delivered += 1;
  }

  /** Changes the SUB's subscriptions (not once it is closed, while stopping). */
  private upstream(op: "subscribe" | "unsubscribe", prefix: string): void {
    if (this.sub.closed) return;
    if (op === "subscribe") this.sub.subscribe(prefix);
    else this.sub.unsubscribe(prefix);
  }

  private sendTo(client: Client, data: Buffer): void {
    if (client.ws.readyState === 1) client.ws.send(data, { binary: true });
  }

  private pingAll(): void {
    for (const client of this.clients.values()) {
      if (!client.alive) {
        this.log.warn({ browser: client.id }, "browser did not answer a ping: disconnected");
        client.ws.terminate();
        continue;
      }
      client.alive = false;
      client.ws.ping();
    }
  }

  private refresh(): void {
    const now = performance.now();
    const dt = Math.max(1, now - this.lastRate.at) / 1000;
    this.stats.inRate = (this.stats.upstream - this.lastRate.upstream) / dt;
    this.stats.outRate = (this.stats.delivered - this.lastRate.delivered) / dt;
    this.lastRate = { at: now, upstream: this.stats.upstream, delivered: this.stats.delivered };
    this.publish(
      bridgeView(
        this.url,
        this.stats,
        [...this.clients.values()].map((c) => ({
          id: c.id,
          address: c.address,
          prefixes: [...c.prefixes],
          sent: c.sent,
          dropped: c.dropped,
          buffered: c.ws.bufferedAmount,
        })),
        [...this.fanout.refs],
      ),
    );
  }
}
