import { randomBytes } from "node:crypto";
import { type Logger, type LoopStats, pause, peerLimits, receiveLoop, runLoops, UsageError, type View } from "@zlabs/kit";
import { keyLabel } from "lab19/keys";
import { z85Decode, z85Encode } from "lab19/z85";
import { Router } from "zeromq";
import type { CertificateStore, StoreChange } from "./cert-store.ts";
import type { CommandName } from "./commands.ts";
import { COMMAND_NONCE_BYTES, MAX_COMMAND_TTL_MS, type OperatorKeyPair, signCommand } from "./operator.ts";
import { commandFrames, decodeHello, decodeReply, type FromAgent, fromAgent, MAX_C2_BYTES, Opener } from "./protocol.ts";
import { type ServerSnapshot, serverView, VIEW_MS } from "./view.ts";
import type { ZapHandler } from "./zap.ts";

/** The ZAP domain of the server socket (zapEnforceDomain: no handler for it, no handshake). */
export const ZAP_DOMAIN = "c2";
/** How often the operator's plan sends the next command to the next agent. */
export const COMMAND_INTERVAL_MS = 2000;
/** How long a command stays valid (its expiry), and how long the server waits for its reply. */
export const COMMAND_TTL_MS = 10_000;
/** Agents say HELLO this often; one unheard for `liveness` intervals is listed as gone. */
export const HELLO_INTERVAL_MS = 1000;
export const HELLO_LIVENESS = 3;
/** How often the certificate store is checked for changes (it is also checked at every handshake). */
export const RELOAD_INTERVAL_MS = 1000;
/** After a revocation closes the socket, binding the same port again may take a moment. */
const REBIND_DEADLINE_MS = 5000;

/** The operator's plan: what the server asks of agents, in turn. */
export const COMMAND_PLAN: { command: CommandName; args: Record<string, string> }[] = [
  { command: "status", args: {} },
  { command: "list", args: {} },
  { command: "list", args: { dir: "reports" } },
  { command: "rotate-log", args: {} },
];

export interface ServerConfig {
  bind: string;
  /** The server's CURVE pair, Z85 (the secret never logged). */
  publicKey: string;
  secretKey: string;
  operator: OperatorKeyPair;
  commandMs: number;
  commandTtlMs: number;
  helloMs: number;
  liveness: number;
  reloadMs: number;
}

interface Agent {
  key: string;
  name: string;
  routingId: Buffer;
  since: number;
  lastHeard: number;
  sent: number;
  answered: number;
  refused: number;
  last: string;
}

interface Pending {
  agent: string;
  command: CommandName;
  sentAt: number;
}

export interface ServerCounts {
  sent: number;
  answered: number;
  refused: number;
  failed: number;
  unanswered: number;
  dropped: number;
  handshakes: number;
  handshakesRefused: number;
  sessionsClosed: number;
}

export interface ServerOptions {
  publish?: (view: View) => void;
  /** The clock (monotonic ms) for liveness; commands use the wall clock (it crosses hosts). */
  now?: () => number;
}

/**
 * The C2 server: a CURVE ROUTER whose handshakes a ZAP handler decides (Ironhouse). It refuses to
 * bind until that handler is up, and sets zapEnforceDomain so that a handler gone missing fails
 * every handshake rather than letting every key in (libzmq's default without a handler).
 *
 * Agents say HELLO in a box only their CURVE key can make, which ties a routing id to a key. The
 * operator's plan sends a signed command to the next live agent every interval; replies are
 * accepted only in a box from the agent the command was for. When the store loses a key that
 * has a live session (revocation), the server closes its socket and binds a new one: ZeroMQ
 * cannot drop one peer of a ROUTER, so every session ends, the other agents reconnect at once
 * (ZAP admits them again), and the revoked one is refused (ZAP 400) and gives up.
 */
export class C2Server {
  private socket: Router | undefined;
  private readonly agents = new Map<string, Agent>();
  /** Agents whose session ended, kept (only for keys still in the store) so a reconnect keeps its counts. */
  private readonly past = new Map<string, Agent>();
  private readonly byRoute = new Map<string, string>();
  /** Keys heard on the current socket: an agent listed as gone may still hold its connection. */
  private readonly heardOnSocket = new Set<string>();
  private readonly pending = new Map<string, Pending>();
  private readonly opener: Opener;
  private nextAgent = 0;
  private rebinding = false;
  endpoint = "";
  readonly counts: ServerCounts = {
    sent: 0,
    answered: 0,
    refused: 0,
    failed: 0,
    unanswered: 0,
    dropped: 0,
    handshakes: 0,
    handshakesRefused: 0,
    sessionsClosed: 0,
  };
  /** Handshakes refused, by reason (ZAP's status text, or libzmq's error code). */
  readonly refusals = new Map<string, number>();
  readonly loop: LoopStats = { received: 0, failed: 0 };
  private readonly now: () => number;

  constructor(
    private readonly config: ServerConfig,
    private readonly zap: ZapHandler,
    private readonly store: CertificateStore,
    private readonly log: Logger,
    private readonly options: ServerOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    const secret = z85Decode(config.secretKey);
    if (!secret.ok) throw new UsageError("the server's secret key is not Z85");
    this.opener = new Opener(new Uint8Array(secret.value));
  }

  /** Binds the CURVE socket; refuses while the ZAP handler is not up (RFC 27: the handler starts first). */
  async bind(): Promise<string> {
    if (!this.zap.ready)
      throw new Error("the ZAP handler is not running: refusing to bind (Ironhouse: the handler starts before any server socket)");
    const socket = new Router({
      linger: 0,
      curveServer: true,
      curveSecretKey: this.config.secretKey,
      zapDomain: ZAP_DOMAIN,
      zapEnforceDomain: true,
      // Commands to an agent whose connection has gone fail at once instead of vanishing.
      mandatory: true,
      sendTimeout: 0,
      ...peerLimits(MAX_C2_BYTES),
    });
    this.watch(socket);
    const endpoint = this.endpoint || this.config.bind;
    const deadline = performance.now() + (this.endpoint ? REBIND_DEADLINE_MS : 0);
    for (;;) {
      try {
        await socket.bind(endpoint);
        break;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === "EADDRINUSE" && performance.now() < deadline) {
          await pause(20);
          continue;
        }
        socket.close();
        const why = code === "EADDRINUSE" ? "the address is in use (is another instance running?)" : (err as Error).message;
        throw new UsageError(`cannot bind to ${endpoint}: ${why}`);
      }
    }
    this.socket = socket;
    if (!this.endpoint) {
      this.endpoint = socket.lastEndpoint ?? endpoint;
      this.log.info({ endpoint: this.endpoint, serverKey: this.config.publicKey, domain: ZAP_DOMAIN, keys: this.store.size }, "listening");
    }
    return this.endpoint;
  }

  /** Counts the handshakes the socket completes and refuses; refusals by reason. */
  private watch(socket: Router): void {
    socket.events.on("handshake", () => {
      this.counts.handshakes += 1;
    });
    const refused = (reason: string, address: string) => {
      this.counts.handshakesRefused += 1;
      this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
      return { reason, address, refused: this.counts.handshakesRefused };
    };
    socket.events.on("handshake:error:auth", (e) => {
      // ZAP's handler has logged the key and why; this is the socket's side of the same refusal.
      this.log.debug(refused(`ZAP ${e.error.status}`, e.address), "handshake refused");
    });
    socket.events.on("handshake:error:protocol", (e) => {
      // No ZAP involved: a plaintext (NULL) client, or a client with the wrong server key.
      this.log.warn(refused(e.error.code, e.address), "handshake refused");
    });
    socket.events.on("handshake:error:other", (e) => {
      this.log.debug(refused(e.error.code ?? "other", e.address), "handshake failed");
    });
  }

  snapshot(): ServerSnapshot {
    const now = this.now();
    return {
      endpoint: this.endpoint,
      agents: [...this.agents.values()].map((a) => ({
        name: a.name,
        key: keyLabel(a.key),
        forMs: now - a.since,
        silentMs: now - a.lastHeard,
        sent: a.sent,
        answered: a.answered,
        refused: a.refused,
        last: a.last,
      })),
      helloMs: this.config.helloMs,
      storeKeys: this.store.size,
      zap: { ...this.zap.stats },
      counts: { ...this.counts },
      refusals: [...this.refusals.entries()],
      pending: this.pending.size,
    };
  }

  agentList(): { name: string; key: string }[] {
    return [...this.agents.values()].map((a) => ({ name: a.name, key: a.key }));
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.socket) await this.bind();
    const log = this.log;
    const publish = this.options.publish;
    await runLoops(
      signal,
      {
        sockets: [],
        every: [
          { ms: this.config.commandMs, run: () => this.sendNext() },
          { ms: this.config.helloMs, run: () => this.expire() },
          { ms: this.config.reloadMs, run: () => this.reload() },
          ...(publish ? [{ ms: VIEW_MS, run: () => publish(serverView(this.snapshot())) }] : []),
        ],
        onAbort: () => this.socket?.close(),
        log,
      },
      async () => {
        // One socket at a time; a revocation closes it, and the next one is bound here.
        while (!signal.aborted) {
          if (!this.socket) await this.bind();
          await receiveLoop(this.socket as Router, signal, (frames) => this.onAgent(fromAgent(frames)), {
            log,
            name: "agents",
            stats: this.loop,
          });
          this.socket = undefined;
          this.heardOnSocket.clear();
          this.rebinding = false;
        }
      },
    );
    this.socket?.close();
  }

  private reload(): void {
    this.store.refresh().then(
      (change) => this.onStoreChange(change),
      (err: unknown) => this.log.error({ err }, "certificate store unreadable; keeping the keys loaded before"),
    );
  }

  /** A key that left the store loses its live session: the socket is closed and bound again. */
  onStoreChange(change: StoreChange): void {
    for (const r of change.removed) {
      this.past.delete(r.key);
      const raw = z85Decode(r.key);
      if (raw.ok) this.opener.forget(raw.value);
    }
    const live = change.removed.filter((r) => this.agents.has(r.key) || this.heardOnSocket.has(r.key));
    if (live.length === 0 || this.rebinding) return;
    for (const r of live) {
      this.forget(r.key);
      this.past.delete(r.key);
    }
    this.counts.sessionsClosed += live.length;
    this.rebinding = true;
    this.log.warn(
      { revoked: live.map((r) => r.name), sessionsClosed: this.counts.sessionsClosed },
      "revoked key had a live session: closing every session (the others reconnect through ZAP)",
    );
    // Every session goes: ZeroMQ cannot drop one peer of a ROUTER. Admitted agents come back at once.
    for (const key of [...this.agents.keys()]) this.forget(key, false);
    this.socket?.close();
  }

  private forget(key: string, logIt = true): void {
    const agent = this.agents.get(key);
    if (!agent) return;
    this.agents.delete(key);
    if (this.store.get(key)) this.past.set(key, agent);
    this.byRoute.delete(agent.routingId.toString("latin1"));
    for (const [nonce, p] of this.pending) if (p.agent === key) this.pending.delete(nonce);
    if (logIt) this.log.info({ agent: agent.name, key: keyLabel(key) }, "agent session ended");
  }

  private onAgent(msg: FromAgent): Promise<void> | undefined {
    if (msg.kind === "invalid") return this.drop({ reason: msg.reason }, "invalid message from an agent dropped");
    const key = z85Encode(msg.agentKey);
    const stored = this.store.get(key);
    if (!stored) return this.drop({ key: keyLabel(key), kind: msg.kind }, "message for a key not in the store dropped");
    const plain = this.opener.open(msg);
    if (!plain) return this.drop({ key: keyLabel(key), kind: msg.kind }, "box that this key did not seal dropped");
    this.heardOnSocket.add(key);
    if (msg.kind === "hello") return this.onHello(msg.routingId, key, stored.name, plain);
    return this.onReply(msg.routingId, key, plain);
  }

  private onHello(routingId: Buffer, key: string, name: string, plain: Buffer): undefined {
    const hello = decodeHello(plain);
    if (!hello.ok) return this.drop({ agent: name, reason: hello.reason }, "bad hello dropped");
    const now = this.now();
    const route = routingId.toString("latin1");
    const live = this.agents.get(key);
    if (live?.routingId.equals(routingId)) {
      live.lastHeard = now;
      return;
    }
    const known = live ?? this.past.get(key);
    this.past.delete(key);
    // A key seen on another routing id: its agent reconnected (the old connection is gone or going).
    if (live) this.byRoute.delete(live.routingId.toString("latin1"));
    const previous = this.byRoute.get(route);
    if (previous && previous !== key) this.forget(previous);
    this.agents.set(key, {
      key,
      name,
      routingId,
      since: now,
      lastHeard: now,
      sent: known?.sent ?? 0,
      answered: known?.answered ?? 0,
      refused: known?.refused ?? 0,
      last: known?.last ?? "",
    });
    this.byRoute.set(route, key);
    this.log.info({ agent: name, key: keyLabel(key), again: known !== undefined, agents: this.agents.size }, "agent connected");
    return undefined;
  }

  private onReply(routingId: Buffer, key: string, plain: Buffer): undefined {
    const agent = this.agents.get(key);
    if (!agent || this.byRoute.get(routingId.toString("latin1")) !== key)
      return this.drop({ key: keyLabel(key) }, "reply from a connection that did not say HELLO with this key dropped");
    const reply = decodeReply(plain);
    if (!reply.ok) return this.drop({ agent: agent.name, reason: reply.reason }, "bad reply dropped");
    const { nonce, status, output, command } = reply.value;
    const id = nonce.toString("hex");
    const pending = this.pending.get(id);
    if (!pending || pending.agent !== key)
      return this.drop({ agent: agent.name, command }, "reply to no command of ours to this agent dropped");
    this.pending.delete(id);
    agent.lastHeard = this.now();
    const ms = Math.round(this.now() - pending.sentAt);
    if (status === "done") {
      this.counts.answered += 1;
      agent.answered += 1;
      agent.last = `${command}: ${summary(output)}`;
      this.log.info({ agent: agent.name, command, ms, output }, "answered");
    } else {
      this.counts[status] += 1;
      agent.refused += 1;
      agent.last = `${command}: ${status} (${String(output.reason ?? "")})`;
      this.log.warn({ agent: agent.name, command: pending.command, status, reason: output.reason }, `command ${status} by the agent`);
    }
    return undefined;
  }

  /** The operator's plan: the next command, signed, to the next live agent. */
  private sendNext(): void {
    const agents = [...this.agents.values()];
    if (agents.length === 0 || !this.socket || this.rebinding) return;
    const agent = agents[this.nextAgent++ % agents.length] as Agent;
    // Each agent goes through the whole plan, in turn with the others.
    const step = COMMAND_PLAN[agent.sent % COMMAND_PLAN.length] as (typeof COMMAND_PLAN)[number];
    this.sendCommand(agent, step.command, step.args);
  }

  /** Signs and sends one command; false when the agent's connection has gone. */
  sendCommand(agent: { key: string }, command: CommandName, args: Record<string, string>): boolean {
    const known = this.agents.get(agent.key);
    if (!known || !this.socket) return false;
    const nonce = randomBytes(COMMAND_NONCE_BYTES);
    const issued = Date.now();
    const ttl = Math.min(this.config.commandTtlMs, MAX_COMMAND_TTL_MS);
    const signed = signCommand(this.config.operator, { agent: known.key, nonce, issued, expires: issued + ttl, command, args });
    try {
      // A ROUTER with mandatory and a send timeout of 0 never waits: this resolves or throws now.
      this.socket.send(commandFrames(known.routingId, signed)).catch((err: unknown) => this.unreachable(known, err));
    } catch (err) {
      this.unreachable(known, err);
      return false;
    }
    this.pending.set(nonce.toString("hex"), { agent: known.key, command, sentAt: this.now() });
    this.counts.sent += 1;
    known.sent += 1;
    this.log.debug({ agent: known.name, command, args, operator: this.config.operator.name }, "command sent");
    return true;
  }

  private unreachable(agent: Agent, err: unknown): void {
    const code = (err as { code?: string }).code;
    if (code !== "EHOSTUNREACH" && code !== "EAGAIN") this.log.warn({ err }, "command send failed");
    if (this.agents.get(agent.key) === agent) this.forget(agent.key);
  }

  /** Agents unheard for `liveness` hello intervals are gone; commands unanswered past their TTL are counted. */
  private expire(): void {
    const now = this.now();
    for (const agent of [...this.agents.values()]) {
      if (now - agent.lastHeard > this.config.helloMs * this.config.liveness) {
        this.log.warn({ agent: agent.name, silentMs: Math.round(now - agent.lastHeard) }, "agent silent; listed as gone");
        this.forget(agent.key, false);
      }
    }
    for (const [nonce, p] of this.pending) {
      if (now - p.sentAt > this.config.commandTtlMs) {
        this.pending.delete(nonce);
        this.counts.unanswered += 1;
      }
    }
  }

  private drop(fields: Record<string, unknown>, msg: string): undefined {
    this.counts.dropped += 1;
    this.log.warn({ ...fields, dropped: this.counts.dropped }, msg);
    return undefined;
  }
}

/** One short line of a command's output, for the view. */
export function summary(output: Record<string, unknown>): string {
  return Object.entries(output)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : String(v)}`)
    .join(" ")
    .slice(0, 60);
}
