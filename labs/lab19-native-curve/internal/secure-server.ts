import { bindAll, type Logger, peerLimits, receiveLoop, runLoops, UsageError, type View } from "@zlabs/kit";
import * as zmq from "zeromq";
import { CertificateError, readKeyPair, SECRET_SUFFIX, waitForFile } from "./certificates.ts";
import { CURVE_MAX_MESSAGE_SIZE, errorFrames, fromClient, verdictFrames } from "./protocol.ts";
import { ThreatIntel } from "./threat-intel.ts";
import { type ServerStats, serverView } from "./view.ts";

/** How long a role waits for its certificate to appear (keygen starts beside it in the demo). */
export const CERT_WAIT_MS = 10_000;
/**
 * libzmq drops a connection whose handshake has not finished after this long (ZMQ_HANDSHAKE_IVL,
 * default 30 s): a peer that opens TCP and says nothing holds a slot for no longer than this.
 */
export const HANDSHAKE_INTERVAL_MS = 5_000;
/** A handshake failure code is logged at most once per this interval (the view counts them all). */
export const FAILURE_LOG_EVERY_MS = 3_000;
/** How often the view is redrawn when nothing happens (so "last seen" ages). */
export const VIEW_REFRESH_MS = 1_000;
/** The most clients the server remembers for its view; the one seen longest ago goes first. */
export const MAX_CLIENTS_TRACKED = 256;

export interface SecureServerConfig {
  bind: string;
  /** The certificate's base path: the public file; its secret is `${cert}_secret`. */
  cert: string;
  certWaitMs: number;
  handshakeIntervalMs: number;
}

/** Loads the server's key pair from its zcert secret file, waiting for keygen if it is not there yet. One-line errors. */
export async function loadServerKeys(cert: string, waitMs: number, signal: AbortSignal, log: Logger) {
  const secretPath = cert + SECRET_SUFFIX;
  if (!(await waitForFile(secretPath, 0))) {
    log.info({ path: secretPath, waitMs }, "waiting for the server certificate (keygen writes it)");
    if (!(await waitForFile(secretPath, waitMs, signal))) {
      throw new UsageError(`no certificate at ${secretPath}: create it with keygen (pnpm --filter lab19 keygen -- --dir <dir> <name>)`);
    }
  }
  try {
    return await readKeyPair(cert);
  } catch (error) {
    if (error instanceof CertificateError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * The threat-intel server: a ROUTER with curveServer, answering CHECK requests. libzmq does the
 * CurveZMQ handshake and encrypts every frame; this class never sees a byte of ciphertext. It
 * watches the socket's monitor events to count handshakes, because a failed handshake never
 * reaches the receive loop. It authenticates no client (Stonehouse): lab09 adds ZAP for that.
 */
export class SecureServer {
  readonly stats: ServerStats;
  private readonly intel = new ThreatIntel();
  private socket: zmq.Router | undefined;
  /** When each failure code was last logged. */
  private readonly failureLogged = new Map<string, number>();

  constructor(
    private readonly config: SecureServerConfig,
    private readonly log: Logger,
    private readonly options: { publish?: (view: View) => void } = {},
  ) {
    this.stats = {
      endpoint: config.bind,
      publicKey: "",
      connections: 0,
      handshakesOk: 0,
      handshakesFailed: new Map(),
      lookups: 0,
      malicious: 0,
      dropped: 0,
      clients: new Map(),
    };
  }

  /** The bound endpoint, once run() has bound it. */
  get endpoint(): string | undefined {
    return this.socket?.lastEndpoint ?? undefined;
  }

  async run(signal: AbortSignal): Promise<void> {
    const pair = await loadServerKeys(this.config.cert, this.config.certWaitMs, signal, this.log);
    if (signal.aborted) return;
    this.stats.publicKey = pair.publicKey;
    this.log.info({ cert: this.config.cert, publicKey: pair.publicKey }, "server certificate loaded (the secret stays in memory)");
    const socket = new zmq.Router({
      curveServer: true,
      curveSecretKey: pair.secretKey,
      curvePublicKey: pair.publicKey,
      handshakeInterval: this.config.handshakeIntervalMs,
      handover: true,
      ...peerLimits(CURVE_MAX_MESSAGE_SIZE),
    });
    this.socket = socket;
    // The monitor starts when `events` is first read: before bind, or the first handshakes go unseen.
    const events = socket.events;
    const bound = await bindAll(this.log, { curve: [socket, this.config.bind] });
    this.stats.endpoint = bound.curve;
    this.publish();
    const loopStats = { received: 0, failed: 0 };
    await runLoops(
      signal,
      { sockets: [socket], every: [{ ms: VIEW_REFRESH_MS, run: () => this.publish() }], log: this.log },
      () => this.watchEvents(events),
      () => receiveLoop(socket, signal, (frames) => this.handle(socket, frames), { log: this.log, name: "curve", stats: loopStats }),
    );
  }

  private async watchEvents(events: zmq.Observer): Promise<void> {
    for await (const event of events) {
      switch (event.type) {
        case "accept":
          this.stats.connections += 1;
          break;
        case "disconnect":
          this.stats.connections = Math.max(0, this.stats.connections - 1);
          break;
        case "handshake":
          this.stats.handshakesOk += 1;
          this.log.info({ address: event.address, ok: this.stats.handshakesOk }, "CURVE handshake ok");
          break;
        case "handshake:error:protocol":
        case "handshake:error:auth":
        case "handshake:error:other": {
          const code = event.type === "handshake:error:auth" ? `ZAP ${event.error.status}` : (event.error.code ?? event.type);
          const count = (this.stats.handshakesFailed.get(code) ?? 0) + 1;
          this.stats.handshakesFailed.set(code, count);
          // A wrong-key client retries every 100-200 ms for ever: one line per code every few seconds, with the count.
          const now = performance.now();
          if (now - (this.failureLogged.get(code) ?? Number.NEGATIVE_INFINITY) >= FAILURE_LOG_EVERY_MS) {
            this.failureLogged.set(code, now);
            this.log.warn({ address: event.address, code, count }, `handshake failed: ${describeFailure(code)}`);
          }
          break;
        }
        default:
          continue;
      }
      this.publish();
    }
  }

  private async handle(socket: zmq.Router, frames: Buffer[]): Promise<void> {
    const msg = fromClient(frames);
    switch (msg.kind) {
      case "check": {
        const label = this.intel.lookup(msg.digest);
        this.stats.lookups += 1;
        if (label) this.stats.malicious += 1;
        this.noteClient(msg.client, label !== undefined);
        await socket.send(verdictFrames(msg.client, msg.requestId, label ? "malicious" : "clean", label ?? ""));
        if (label) this.log.info({ client: msg.client, digest: msg.digest.toString("hex").slice(0, 16), label }, "known-bad file reported");
        break;
      }
      case "invalid":
        this.stats.dropped += 1;
        this.log.warn({ client: msg.client, reason: msg.reason, dropped: this.stats.dropped }, "malformed request dropped");
        // ROUTER sends never block; an answer lets a REQ client go on instead of hanging.
        if (msg.client && msg.requestId) await socket.send(errorFrames(msg.client, msg.requestId, msg.reason));
        break;
    }
    this.publish();
  }

  private noteClient(client: Buffer, malicious: boolean): void {
    const key = client.toString("latin1");
    const entry = this.stats.clients.get(key) ?? { id: Buffer.from(client), lookups: 0, malicious: 0, lastSeen: 0 };
    entry.lookups += 1;
    if (malicious) entry.malicious += 1;
    entry.lastSeen = performance.now();
    this.stats.clients.delete(key); // re-insert: the map stays in order of last sight
    this.stats.clients.set(key, entry);
    if (this.stats.clients.size > MAX_CLIENTS_TRACKED) {
      const oldest = this.stats.clients.keys().next().value as string;
      this.stats.clients.delete(oldest);
    }
  }

  private publish(): void {
    this.options.publish?.(serverView(this.stats, performance.now()));
  }
}

/** A handshake failure's code, in words for the log. */
export function describeFailure(code: string): string {
  switch (code) {
    case "ERR_ZMTP_CRYPTOGRAPHIC":
      return "the client's HELLO did not open with our key (it has a wrong server key)";
    case "ERR_ZMTP_MECHANISM_MISMATCH":
      return "the client is not using CURVE (plaintext NULL)";
    default:
      return code.startsWith("ERR_ZMTP") ? "the peer broke the ZMTP handshake" : "the connection failed during the handshake";
  }
}
