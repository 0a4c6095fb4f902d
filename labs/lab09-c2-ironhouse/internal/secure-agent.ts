import { type Logger, type LoopStats, peerLimits, receiveLoop, runLoops, type View } from "@zlabs/kit";
import { keyBytes, keyLabel } from "lab19/keys";
import { Dealer } from "zeromq";
import { type AgentFacts, audit, prepareSandbox, runCommand } from "./commands.ts";
import { authorise, ReplayCache } from "./operator.ts";
import { type FromServer, fromServer, MAX_C2_BYTES, PROTOCOL_VERSION, type ReplyStatus, Sealer } from "./protocol.ts";
import { type AgentSnapshot, agentView, RECENT_COMMANDS, VIEW_MS } from "./view.ts";

/** How long an agent tries to complete a CURVE handshake before it gives up (a wrong server key never completes). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Exit code of an agent that gave up: refused by the server, or no handshake within the timeout. */
export const EXIT_GAVE_UP = 3;

export interface AgentConfig {
  name: string;
  server: string;
  /** The server's CURVE public key, Z85 (distributed out of band: its certificate file). */
  serverKey: string;
  /** The agent's own CURVE pair, Z85. */
  publicKey: string;
  secretKey: string;
  /** Ed25519 public keys of the operators it obeys. */
  operators: { name: string; publicKey: Uint8Array }[];
  sandbox: string;
  helloMs: number;
  handshakeTimeoutMs: number;
}

export interface AgentOptions {
  publish?: (view: View) => void;
  /** The wall clock, ms (command expiry); tests move it. */
  wallClock?: () => number;
}

/**
 * The secure agent: a CURVE DEALER to the C2 server. It watches its socket's handshake events:
 * a refusal by the server's ZAP handler (400/500) means this key is not admitted (or was revoked),
 * so it gives up at once and does not reconnect; no handshake within the timeout (a wrong server
 * key loops forever in libzmq) and it gives up too, saying which it probably is.
 *
 * It runs a command only when authorised (operator.ts: a trusted operator's signature, for this
 * agent's key, unexpired, a nonce never seen) and only from the fixed set (commands.ts); every
 * reply, done or refused, is sealed with its CURVE key (protocol.ts).
 */
export class SecureAgent {
  private readonly socket: Dealer;
  private readonly replay = new ReplayCache();
  private readonly trusted: Uint8Array[];
  private readonly operatorNames = new Map<string, string>();
  private readonly sealer: Sealer;
  private state: AgentSnapshot["state"] = "connecting";
  private stateSince = performance.now();
  private gaveUp: string | undefined;
  private tcpConnected = 0;
  private failedHandshakes = 0;
  private unreachableSaid = false;
  readonly facts: AgentFacts;
  readonly reasons = new Map<string, number>();
  readonly recent: AgentSnapshot["recent"] = [];
  readonly loop: LoopStats = { received: 0, failed: 0 };
  private stop: (() => void) | undefined;
  private readonly wallClock: () => number;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
    private readonly options: AgentOptions = {},
  ) {
    this.wallClock = options.wallClock ?? Date.now;
    this.sealer = new Sealer(
      { publicKey: keyBytes(config.publicKey, "public key"), secretKey: keyBytes(config.secretKey, "secret key") },
      keyBytes(config.serverKey, "server key"),
    );
    this.trusted = config.operators.map((o) => o.publicKey);
    for (const o of config.operators) this.operatorNames.set(Buffer.from(o.publicKey).toString("hex"), o.name);
    this.facts = { name: config.name, startedAt: Date.now(), run: 0, refused: 0 };
    this.socket = new Dealer({
      linger: 0,
      curveServerKey: config.serverKey,
      curvePublicKey: config.publicKey,
      curveSecretKey: config.secretKey,
      // Queue only to a completed (authenticated) connection; never wait to send.
      immediate: true,
      sendTimeout: 0,
      ...peerLimits(MAX_C2_BYTES),
    });
  }

  snapshot(): AgentSnapshot {
    return {
      name: this.config.name,
      server: this.config.server,
      state: this.state,
      ...(this.gaveUp ? { gaveUp: this.gaveUp.split(":")[0] } : {}),
      forMs: performance.now() - this.stateSince,
      run: this.facts.run,
      refused: this.facts.refused,
      reasons: [...this.reasons.entries()],
      recent: [...this.recent],
    };
  }

  /** Resolves with 0 when stopped, EXIT_GAVE_UP when it gave up. */
  async run(signal: AbortSignal): Promise<number> {
    await prepareSandbox(this.config.sandbox);
    const inner = new AbortController();
    const abort = () => inner.abort();
    signal.addEventListener("abort", abort, { once: true });
    this.stop = abort;
    this.watch();
    this.socket.connect(this.config.server);
    this.log.info(
      { server: this.config.server, serverKey: keyLabel(this.config.serverKey), key: keyLabel(this.config.publicKey) },
      "connecting",
    );
    const publish = this.options.publish;
    const log = this.log;
    try {
      await runLoops(
        inner.signal,
        {
          sockets: [this.socket],
          every: [
            { ms: this.config.helloMs, run: () => this.hello() },
            { ms: Math.min(500, this.config.handshakeTimeoutMs), run: () => this.checkDeadline() },
            ...(publish ? [{ ms: VIEW_MS, run: () => publish(agentView(this.snapshot())) }] : []),
          ],
          log,
        },
        () =>
          receiveLoop(this.socket, inner.signal, (frames) => this.onServer(fromServer(frames)), { log, name: "server", stats: this.loop }),
      );
    } finally {
      signal.removeEventListener("abort", abort);
      publish?.(agentView(this.snapshot()));
    }
    return this.gaveUp ? EXIT_GAVE_UP : 0;
  }

  private setState(state: AgentSnapshot["state"]): void {
    this.state = state;
    this.stateSince = performance.now();
    // What the handshake deadline judges: the attempts since the agent started connecting again.
    this.tcpConnected = 0;
    this.failedHandshakes = 0;
    this.unreachableSaid = false;
  }

  private watch(): void {
    const events = this.socket.events;
    events.on("connect", () => {
      this.tcpConnected += 1;
    });
    events.on("handshake", () => {
      this.setState("connected");
      this.failedHandshakes = 0;
      this.log.info({ server: this.config.server }, "CURVE handshake done; saying HELLO");
      this.hello();
    });
    events.on("disconnect", () => {
      if (this.state === "connected") {
        this.setState("connecting");
        this.log.warn({ server: this.config.server }, "disconnected; reconnecting");
      }
    });
    events.on("handshake:error:auth", (e) => {
      this.giveUp(
        `the server refused this agent's key (ZAP ${e.error.status}): it is not in the server's store, or was revoked; not reconnecting`,
      );
    });
    events.on("handshake:error:protocol", (e) => {
      this.giveUp(`the handshake failed with ${e.error.code}: not reconnecting`);
    });
    events.on("handshake:error:other", () => {
      this.failedHandshakes += 1;
    });
  }

  /**
   * No handshake within the timeout. When the server took TCP connections but every handshake
   * failed, the server key is wrong (libzmq would retry forever): give up, saying so. When nothing
   * accepted a connection, the server is down: say it once and keep trying (it may come back).
   */
  private checkDeadline(): void {
    if (this.state !== "connecting" || performance.now() - this.stateSince < this.config.handshakeTimeoutMs) return;
    const secs = this.config.handshakeTimeoutMs / 1000;
    if (this.tcpConnected > 0) {
      this.giveUp(
        `no CURVE handshake with ${this.config.server} within ${secs} s: the server took the connection ${this.tcpConnected} times but the handshake failed (${this.failedHandshakes} failures): is the server key right?`,
      );
    } else if (!this.unreachableSaid) {
      this.unreachableSaid = true;
      this.log.warn({ server: this.config.server }, `no server has accepted a connection for ${secs} s; still trying`);
    }
  }

  private giveUp(reason: string): void {
    if (this.gaveUp) return;
    this.gaveUp = reason;
    this.setState("gave up");
    this.log.error({ server: this.config.server, key: keyLabel(this.config.publicKey) }, `giving up: ${reason}`);
    // Closing the socket ends the loops; the process exits with EXIT_GAVE_UP.
    this.stop?.();
  }

  private hello(): void {
    if (this.state !== "connected") return;
    this.send(this.sealer.seal("hello", { v: PROTOCOL_VERSION, name: this.config.name, sent: this.wallClock() }));
  }

  private send(frames: Buffer[]): void {
    try {
      this.socket.send(frames).catch((err: unknown) => this.log.debug({ err }, "not sent: no connection"));
    } catch (err) {
      this.log.debug({ err }, "not sent");
    }
  }

  private async onServer(msg: FromServer): Promise<void> {
    if (msg.kind === "invalid") {
      this.refuse("malformed", undefined, "?", msg.reason);
      return;
    }
    const verdict = authorise(
      msg.signed,
      { agentKey: this.config.publicKey, trusted: this.trusted, replay: this.replay },
      this.wallClock(),
    );
    if (!verdict.ok) {
      this.refuse(verdict.reason, verdict.nonce, "?", verdict.reason);
      return;
    }
    const { command, args, nonce } = verdict.command;
    const operator = this.operatorNames.get(Buffer.from(verdict.operator).toString("hex")) ?? "?";
    let status: ReplyStatus = "done";
    let output: Record<string, unknown>;
    try {
      output = await runCommand(command, args, this.config.sandbox, this.facts);
      this.facts.run += 1;
      await audit(this.config.sandbox, `ran ${command} ${JSON.stringify(args)} for operator ${operator}`);
      this.log.info({ command, args, operator }, "command run");
    } catch (err) {
      status = "failed";
      output = { reason: (err as Error).message.slice(0, 200) };
      this.log.warn({ command, err }, "command failed");
    }
    this.remember(operator, `${command}${args.dir ? ` ${args.dir}` : ""}`, status === "done" ? "done" : "failed", status === "done");
    this.send(this.sealer.seal("reply", { v: PROTOCOL_VERSION, nonce, command, status, output }));
  }

  /** A refused command: counted by reason, logged, and answered "refused" (sealed like any reply). */
  private refuse(reason: string, nonce: Buffer | undefined, command: string, detail: string): void {
    this.facts.refused += 1;
    const key = reason.split(":")[0] as string;
    this.reasons.set(key, (this.reasons.get(key) ?? 0) + 1);
    this.log.warn({ reason: detail, refused: this.facts.refused }, "command refused");
    this.remember("?", command, `refused: ${key}`, false);
    const output = { reason: detail.slice(0, 200) };
    this.send(this.sealer.seal("reply", { v: PROTOCOL_VERSION, nonce: nonce ?? Buffer.alloc(0), command: "?", status: "refused", output }));
  }

  private remember(operator: string, command: string, result: string, ok: boolean): void {
    this.recent.unshift({ at: new Date().toISOString().slice(11, 19), operator, command, result, ok });
    this.recent.length = Math.min(this.recent.length, RECENT_COMMANDS);
  }
}
