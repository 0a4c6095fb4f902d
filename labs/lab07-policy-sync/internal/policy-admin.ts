/**
 * The policy admin: sets and deletes rules (KVSET to both masters' collectors, with a ttl when
 * asked), waits for each change's acknowledgement (its KVPUB coming back), and asks the firewall
 * nodes (their REP) what they now decide. One-shot from flags, or a paced demo script that runs
 * until stopped.
 */
import { type Logger, pause, UsageError, type View } from "@zlabs/kit";
import { Request } from "zeromq";
import { type Flow, formatFlow, parseFlow } from "./acl.ts";
import type { Server } from "./clone-client.ts";
import { EMPTY, kv } from "./kvmsg.ts";
import { type Answer, decodeAnswer, encodeQuery, type NodeStatus } from "./protocol.ts";
import { Updater } from "./updater.ts";
import { adminView, type ChangeRow, VIEW_MS } from "./view.ts";

/** How long a change waits for its acknowledgement before it counts as not acknowledged. */
export const ACK_TIMEOUT_MS = 3000;
/** How long a node has to answer a check. */
export const NODE_TIMEOUT_MS = 1000;
/** How long the admin waits for the masters' collectors to subscribe before its first change. */
const LISTEN_TIMEOUT_MS = 3000;

export interface Change {
  what: "set" | "delete";
  key: string;
  rule?: string;
  ttlS?: number;
  /** A flow to check at every node after the change. */
  probe?: Flow;
}

export interface AdminConfig {
  servers: Server[];
  changes: Change[];
  checks: Flow[];
  status: boolean;
  nodes: string[];
  /** Run the demo script (changes every `everyMs`) until stopped. */
  demo: boolean;
  everyMs: number;
  ackTimeoutMs: number;
}

/** The demo's policy for the edge firewalls, set first; then the script below, over and over. */
export const BASE_POLICY: Change[] = [
  { what: "set", key: "/acl/edge/0100", rule: "allow tcp any any 10.1.0.0/16 443" },
  { what: "set", key: "/acl/edge/0200", rule: "allow udp 10.0.0.0/8 any 10.1.0.53 53" },
  { what: "set", key: "/acl/edge/0900", rule: "deny any any any any any" },
];
const BAD_NET = parseFlow("tcp 203.0.113.9:51000 10.1.0.20:443") as Flow;
const SSH = parseFlow("tcp 10.2.3.4:50000 10.1.0.22:22") as Flow;
export const DEMO_SCRIPT: Change[] = [
  { what: "set", key: "/acl/edge/0050", rule: "deny tcp 203.0.113.0/24 any 10.1.0.0/16 any", probe: BAD_NET },
  { what: "set", key: "/acl/edge/0300", rule: "allow tcp 10.0.0.0/8 any 10.1.0.22 22", ttlS: 8, probe: SSH },
  { what: "set", key: "/acl/core/0100", rule: "allow any 10.0.0.0/8 any 10.0.0.0/8 any", probe: SSH },
  { what: "delete", key: "/acl/edge/0050", probe: BAD_NET },
  { what: "delete", key: "/acl/core/0100", probe: SSH },
];

/** One question to a firewall node, on a new REQ socket (a lost answer cannot wedge the next one). */
export async function askNode(endpoint: string, query: Parameters<typeof encodeQuery>[0], timeoutMs: number): Promise<Answer | undefined> {
  const req = new Request({ linger: 0, receiveTimeout: timeoutMs, maxMessageSize: 64 * 1024 });
  req.connect(endpoint);
  try {
    await req.send(encodeQuery(query));
    const [frame] = await req.receive();
    const answer = decodeAnswer(frame);
    return answer.ok ? answer.value : { ok: false, error: answer.reason };
  } catch {
    return undefined;
  } finally {
    req.close();
  }
}

export class PolicyAdmin {
  private readonly updater: Updater;
  readonly changes: (Omit<ChangeRow, "agoMs"> & { at: number })[] = [];
  sent = 0;
  acked = 0;
  private next: string | undefined;

  constructor(
    private readonly config: AdminConfig,
    private readonly log: Logger,
    private readonly options: { publish?: (view: View) => void } = {},
  ) {
    this.updater = new Updater(config.servers, log);
  }

  view(): View {
    const now = performance.now();
    return adminView({
      changes: this.changes.map((c) => ({ ...c, agoMs: now - c.at })),
      sent: this.sent,
      acked: this.acked,
      unacked: this.sent - this.acked,
      next: this.next,
    });
  }

  /** Resolves with the exit code: 0 when every change was acknowledged and every check answered. */
  async run(signal: AbortSignal): Promise<number> {
    const stop = new AbortController();
    const forward = () => stop.abort();
    signal.addEventListener("abort", forward, { once: true });
    const updates = this.updater.run(stop.signal);
    const timer = this.options.publish ? setInterval(() => this.options.publish?.(this.view()), VIEW_MS) : undefined;
    try {
      const needsMasters = this.config.demo || this.config.changes.length > 0;
      if (needsMasters) {
        const listening = await this.updater.untilListening(this.config.servers.length, LISTEN_TIMEOUT_MS, stop.signal);
        if (listening === 0 && !stop.signal.aborted)
          this.log.warn({ servers: this.config.servers.map((s) => s.collector) }, "no master collector has subscribed yet: sending anyway");
      }
      if (this.config.demo) return await this.demo(stop.signal);
      let failed = 0;
      for (const c of this.config.changes) if (!(await this.change(c))) failed += 1;
      for (const flow of this.config.checks) if (!(await this.checkAll(flow))) failed += 1;
      if (this.config.status) for (const node of this.config.nodes) if (!(await this.status(node))) failed += 1;
      return failed === 0 ? 0 : 1;
    } finally {
      if (timer) clearInterval(timer);
      this.options.publish?.(this.view());
      stop.abort();
      signal.removeEventListener("abort", forward);
      await updates;
    }
  }

  private async demo(signal: AbortSignal): Promise<number> {
    for (const c of BASE_POLICY) await this.change(c);
    while (!signal.aborted) {
      for (const c of DEMO_SCRIPT) {
        this.next = `${c.what} ${c.key} in ${(this.config.everyMs / 1000).toFixed(0)} s`;
        if (!(await pause(this.config.everyMs, signal))) return 0;
        this.next = undefined;
        await this.change(c);
      }
    }
    return 0;
  }

  /** One change, acknowledged or not; then its probe flow checked at every node. */
  async change(c: Change): Promise<boolean> {
    const props: Record<string, string> = c.ttlS ? { ttl: String(c.ttlS) } : {};
    const msg = kv(c.key, c.what === "set" ? Buffer.from(c.rule ?? "") : EMPTY, props);
    this.sent += 1;
    const row = {
      what: c.what,
      key: c.key,
      rule: c.rule ?? "",
      ttlS: c.ttlS ?? 0,
      seq: undefined as bigint | undefined,
      nodes: "",
      at: performance.now(),
    };
    this.changes.push(row);
    if (this.changes.length > 20) this.changes.shift();
    const ack = await this.updater.set(msg, this.config.ackTimeoutMs);
    if (!ack) {
      this.log.error({ key: c.key, what: c.what, timeoutMs: this.config.ackTimeoutMs }, "change not acknowledged by any master");
      return false;
    }
    this.acked += 1;
    row.seq = ack.seq;
    this.log.info(
      {
        key: c.key,
        what: c.what,
        ...(c.rule ? { rule: c.rule } : {}),
        ...(c.ttlS ? { ttl: c.ttlS } : {}),
        seq: String(ack.seq),
        by: ack.server,
      },
      "change acknowledged",
    );
    if (c.probe && this.config.nodes.length > 0) row.nodes = await this.probe(c.probe, c.key, Number(ack.seq));
    return true;
  }

  /** Each node's decision for a flow once it has caught up with `seq` (or after a second), for a change to `key`. */
  private async probe(flow: Flow, key: string, seq: number): Promise<string> {
    const results: string[] = [];
    for (const node of this.config.nodes) {
      const started = performance.now();
      let status: NodeStatus | undefined;
      let outside = false;
      do {
        const a = await askNode(node, { op: "status" }, NODE_TIMEOUT_MS);
        status = a?.ok && "status" in a ? a.status : undefined;
        // A key outside the node's subtree never reaches it: its sequence numbers skip that update.
        outside = status !== undefined && !key.startsWith(status.subtree);
        if (status && (outside || status.seq >= seq)) break;
        await pause(20);
      } while (performance.now() - started < 1000);
      const a = await askNode(node, { op: "check", ...flow }, NODE_TIMEOUT_MS);
      const name = status?.name ?? node;
      if (!a?.ok || !("decision" in a)) {
        results.push(`${name} ?`);
        continue;
      }
      const note = outside ? " (not its subtree)" : status && status.seq >= seq ? "" : " (behind)";
      results.push(`${name} ${a.decision.allowed ? "ALLOW" : "DENY"}${note}`);
    }
    const line = results.join(", ");
    this.log.info({ flow: formatFlow(flow), nodes: line }, "nodes checked");
    return line;
  }

  private async checkAll(flow: Flow): Promise<boolean> {
    let ok = true;
    for (const node of this.config.nodes) {
      const a = await askNode(node, { op: "check", ...flow }, NODE_TIMEOUT_MS);
      if (!a) {
        this.log.error({ node, timeoutMs: NODE_TIMEOUT_MS }, "node did not answer");
        ok = false;
      } else if (!a.ok) {
        this.log.error({ node, error: a.error }, "node refused the check");
        ok = false;
      } else if ("decision" in a)
        this.log.info(
          { node, flow: formatFlow(flow), allowed: a.decision.allowed, rule: a.decision.rule ?? "(default deny)", seq: a.decision.seq },
          a.decision.allowed ? "allowed" : "denied",
        );
    }
    return ok;
  }

  private async status(node: string): Promise<boolean> {
    const a = await askNode(node, { op: "status" }, NODE_TIMEOUT_MS);
    if (!a?.ok || !("status" in a)) {
      this.log.error({ node }, "node did not answer");
      return false;
    }
    this.log.info({ node, ...a.status }, "node status");
    return true;
  }
}

/** "KEY=RULE" as the user gives it to --set. */
export function parseSet(text: string, ttlS: number): Change {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new UsageError(`--set "${text}" is not KEY=RULE`);
  return { what: "set", key: text.slice(0, eq), rule: text.slice(eq + 1), ...(ttlS ? { ttlS } : {}) };
}
