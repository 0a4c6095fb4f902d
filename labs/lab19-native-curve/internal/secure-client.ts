import { type Logger, pause, peerLimits, UsageError, VIEW_INTERVAL_MS, type View } from "@zlabs/kit";
import * as zmq from "zeromq";
import { CertificateError, readCertificate, readKeyPair, waitForFile } from "./certificates.ts";
import { HandshakeWatch, watchEventOf } from "./handshake-watch.ts";
import { type CurveKeyPair, generateKeyPair, isZ85Key, keyLabel } from "./keys.ts";
import { CURVE_MAX_MESSAGE_SIZE, checkFrames, fromServer, MAX_MESSAGE_BYTES } from "./protocol.ts";
import { sampleFile, sha256 } from "./threat-intel.ts";
import { type ClientStats, clientView, type LookupRow, RECENT_ROWS } from "./view.ts";

/** Give up when no CURVE handshake has succeeded this long after TCP first connected. */
export const HANDSHAKE_DEADLINE_MS = 5_000;
/** How long a lookup waits for its verdict (and a send for a connection). */
export const REQUEST_TIMEOUT_MS = 2_500;
/** Pause between lookups: a pace a person can follow. */
export const LOOKUP_INTERVAL_MS = 1_000;
/** Every n-th sample carries a known-bad content. */
export const BAD_EVERY = 5;
/** How often the handshake deadline is checked. */
export const WATCH_TICK_MS = 100;
/** Exit code of a client that gave up on the handshake. */
export const EXIT_GAVE_UP = 3;

export interface SecureClientConfig {
  server: string;
  id: string;
  /** The server's public key (Z85), or the public certificate to read it from. */
  serverKey: string | undefined;
  serverCert: string | undefined;
  /** This client's certificate (base path; its `_secret` is read); undefined: a fresh key pair. */
  cert: string | undefined;
  /** Connect without CURVE (NULL): to see a CURVE server refuse it. */
  plaintext: boolean;
  intervalMs: number;
  /** Lookups to make before exiting 0; 0: until stopped. */
  count: number;
  requestTimeoutMs: number;
  handshakeDeadlineMs: number;
  badEvery: number;
  certWaitMs: number;
}

async function oneLine<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (error instanceof CertificateError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * The endpoint agent: asks the server about one file's SHA-256 at a time over a CURVE DEALER.
 * It knows the server's public key in advance (from its public certificate or a flag): that is
 * what authenticates the server. It watches its socket's handshake events (HandshakeWatch) and
 * gives up with a clear reason instead of queueing requests for ever to a server it cannot open.
 */
export class SecureClient {
  readonly stats: ClientStats;
  private gaveUp: string | undefined;

  constructor(
    private readonly config: SecureClientConfig,
    private readonly log: Logger,
    private readonly options: { publish?: (view: View) => void } = {},
  ) {
    this.stats = {
      id: config.id,
      server: config.server,
      serverKey: config.serverKey ?? "",
      mechanism: config.plaintext ? "plaintext (NULL)" : "CURVE",
      state: "connecting",
      handshakesOk: 0,
      handshakesFailed: 0,
      lastError: undefined,
      pendingMs: 0,
      deadlineMs: config.handshakeDeadlineMs,
      lookups: 0,
      malicious: 0,
      timeouts: 0,
      recent: [],
    };
  }

  /** Why the client gave up, if it did. */
  get gaveUpReason(): string | undefined {
    return this.gaveUp;
  }

  private async serverKey(signal: AbortSignal): Promise<string> {
    if (this.config.serverKey !== undefined) {
      if (!isZ85Key(this.config.serverKey))
        throw new UsageError("--server-key is not a 40-character Z85 key (quote it in single quotes in a shell)");
      return this.config.serverKey;
    }
    const path = this.config.serverCert;
    if (path === undefined) throw new UsageError("which server? give --server-key or --server-cert");
    if (!(await waitForFile(path, 0)))
      this.log.info({ path, waitMs: this.config.certWaitMs }, "waiting for the server's public certificate");
    if (!(await waitForFile(path, this.config.certWaitMs, signal))) {
      throw new UsageError(`no server certificate at ${path}: create it with keygen, or give --server-key`);
    }
    return (await oneLine(() => readCertificate(path))).publicKey;
  }

  private async ownKeys(): Promise<CurveKeyPair> {
    if (this.config.cert === undefined) return generateKeyPair();
    const cert = this.config.cert;
    return oneLine(() => readKeyPair(cert));
  }

  /** Runs until stopped, until `count` lookups are done (0), or until the handshake is given up (EXIT_GAVE_UP). */
  async run(signal: AbortSignal): Promise<number> {
    // A plaintext client needs no server key: it is the experiment of a client that skips CURVE.
    const serverKey = this.config.plaintext ? "" : await this.serverKey(signal);
    const own = await this.ownKeys();
    this.stats.serverKey = serverKey;
    if (!this.config.plaintext) this.stats.mechanism = `CURVE, ${this.config.cert ? "key" : "fresh key"} ${keyLabel(own.publicKey)}`;
    const socket = new zmq.Dealer({
      routingId: this.config.id,
      immediate: true,
      sendTimeout: this.config.requestTimeoutMs,
      receiveTimeout: this.config.requestTimeoutMs,
      ...(this.config.plaintext ? {} : { curveServerKey: serverKey, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey }),
      ...peerLimits(this.config.plaintext ? MAX_MESSAGE_BYTES : CURVE_MAX_MESSAGE_SIZE),
    });
    // The monitor starts when `events` is first read: before connect, or the first events go unseen.
    const events = socket.events;
    const stop = new AbortController();
    // Stopping (a signal, or giving up) closes the socket: a pending send or receive ends at once.
    stop.signal.addEventListener("abort", () => {
      if (socket.closed) return;
      socket.linger = 0;
      socket.close();
    });
    const onAbort = () => stop.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    const watch = new HandshakeWatch(this.config.handshakeDeadlineMs, this.config.plaintext ? "NULL" : "CURVE");
    const tick = setInterval(() => this.checkWatch(watch, stop), WATCH_TICK_MS);
    this.log.info(
      {
        server: this.config.server,
        serverKey,
        mechanism: this.config.plaintext ? "NULL" : "CURVE",
        ...(this.config.plaintext ? {} : { publicKey: own.publicKey }),
      },
      this.config.plaintext ? "connecting in plaintext (a CURVE server will refuse)" : "connecting over CURVE",
    );
    socket.connect(this.config.server);
    try {
      await Promise.all([this.watchEvents(events, watch, stop), this.lookups(socket, stop.signal)]);
    } finally {
      clearInterval(tick);
      signal.removeEventListener("abort", onAbort);
      if (!socket.closed) {
        socket.linger = 0;
        socket.close();
      }
    }
    if (this.gaveUp && this.options.publish) await pause(VIEW_INTERVAL_MS + 50); // let the last view ("gave up") go out
    return this.gaveUp ? EXIT_GAVE_UP : 0;
  }

  private checkWatch(watch: HandshakeWatch, stop: AbortController): void {
    const now = performance.now();
    const verdict = watch.check(now);
    this.stats.pendingMs = watch.pendingMs(now);
    this.stats.lastError = watch.lastError;
    if (verdict.kind === "give-up" && !this.gaveUp) {
      this.gaveUp = verdict.reason;
      this.stats.state = "gave up";
      this.log.error({ server: this.config.server, attempts: watch.failed }, `giving up: ${verdict.reason}`);
      stop.abort();
    }
    this.publish();
  }

  private async watchEvents(observer: zmq.Observer, watch: HandshakeWatch, stop: AbortController): Promise<void> {
    const events = observer[Symbol.asyncIterator]();
    const stopped = new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve(), { once: true }));
    while (!stop.signal.aborted) {
      const next = await Promise.race([events.next(), stopped.then(() => undefined)]);
      if (!next || next.done) return;
      const event = watchEventOf(next.value as { type: string; error?: { code?: string; status?: number } });
      if (!event) continue;
      const wasSecure = watch.state === "secure";
      watch.on(event, performance.now());
      if (event.type === "handshake")
        this.log.info({ server: this.config.server }, "CURVE handshake ok: the server proved it holds the key");
      // The first failure of a streak is news; libzmq's retries after it are counted in the view and the give-up line.
      if (event.type === "handshake-failed" && watch.streak === 1) {
        this.log.warn(
          { code: event.code },
          event.fatal ? "handshake failed" : "handshake failed (libzmq retries; the client gives up after its deadline)",
        );
      }
      if (event.type === "disconnect" && wasSecure) this.log.warn({ server: this.config.server }, "disconnected from the server");
      this.stats.handshakesOk = watch.succeeded;
      this.stats.handshakesFailed = watch.failed;
      if (this.stats.state !== "gave up") this.stats.state = watch.state;
      this.checkWatch(watch, stop);
    }
  }

  private async lookups(socket: zmq.Dealer, signal: AbortSignal): Promise<void> {
    for (let n = 1; this.config.count === 0 || n <= this.config.count; n++) {
      if (signal.aborted) return;
      await this.lookup(socket, n, signal);
      if (this.config.count !== 0 && n === this.config.count) break;
      if (!(await pause(this.config.intervalMs, signal))) return;
    }
    // All lookups done: end the event watch too.
    if (!signal.aborted) socket.close();
  }

  private async lookup(socket: zmq.Dealer, n: number, signal: AbortSignal): Promise<void> {
    const file = sampleFile(n, this.config.badEvery);
    const digest = sha256(file.content);
    const requestId = Buffer.alloc(4);
    requestId.writeUInt32BE(n >>> 0);
    const row: LookupRow = { file: file.name, digest: `${digest.toString("hex").slice(0, 12)}…`, verdict: "not sent", label: "", ms: 0 };
    const started = performance.now();
    try {
      await socket.send(checkFrames(requestId, digest));
    } catch (error) {
      if (signal.aborted || socket.closed) return;
      if ((error as { code?: string }).code !== "EAGAIN") throw error;
      this.log.warn({ file: file.name, server: this.config.server }, "lookup not sent: no secure connection to the server yet");
      this.remember(row);
      return;
    }
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await socket.receive();
      } catch (error) {
        if (signal.aborted || socket.closed) return;
        if ((error as { code?: string }).code !== "EAGAIN") throw error;
        this.stats.timeouts += 1;
        this.log.warn({ file: file.name, timeoutMs: this.config.requestTimeoutMs }, "no verdict in time");
        this.remember({ ...row, verdict: "timeout", ms: performance.now() - started });
        return;
      }
      const reply = fromServer(frames);
      if (reply.kind === "invalid") {
        this.log.warn({ reason: reply.reason }, "malformed reply dropped");
        continue;
      }
      if (!reply.requestId.equals(requestId)) {
        this.log.debug({ requestId: reply.requestId }, "late reply to an earlier lookup dropped");
        continue;
      }
      const ms = performance.now() - started;
      this.stats.lookups += 1;
      if (reply.kind === "error") {
        this.log.warn({ file: file.name, reason: reply.reason }, "the server refused the lookup");
        this.remember({ ...row, verdict: "error", label: reply.reason, ms });
        return;
      }
      if (reply.verdict === "malicious") {
        this.stats.malicious += 1;
        this.log.warn({ file: file.name, label: reply.label }, `${file.name}: known-bad (${reply.label})`);
      } else {
        this.log.info({ file: file.name, ms: Math.round(ms) }, `${file.name}: clean`);
      }
      this.remember({ ...row, verdict: reply.verdict, label: reply.label, ms });
      return;
    }
  }

  private remember(row: LookupRow): void {
    this.stats.recent.unshift(row);
    this.stats.recent.length = Math.min(this.stats.recent.length, RECENT_ROWS);
    this.publish();
  }

  private publish(): void {
    this.options.publish?.(clientView(this.stats));
  }
}
