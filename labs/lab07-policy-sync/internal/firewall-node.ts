/**
 * A firewall node: a CHP clone client of the master pair holding one subtree of the policy (its
 * zone's rules), applied to a real ACL (acl.ts), and a local REP socket that answers "is this
 * 5-tuple allowed?" (and "what do you hold?") so anyone can check what the replicated rules do.
 */
import { bindAll, type Logger, type LoopStats, peerLimits, receiveLoop, runLoops, type View } from "@zlabs/kit";
import { Reply } from "zeromq";
import { Acl, formatFlow } from "./acl.ts";
import { CloneClient, type Server } from "./clone-client.ts";
import { type Answer, encodeAnswer, fromQuerier, MAX_QUERY_BYTES, type Query } from "./protocol.ts";
import { type DecisionRow, nodeView, VIEW_MS, VIEW_ROWS } from "./view.ts";

export interface NodeConfig {
  name: string;
  subtree: string;
  servers: Server[];
  /** The REP endpoint for checks. */
  query: string;
  serverTtlMs: number;
  maxKeys: number;
}

export interface NodeOptions {
  publish?: (view: View) => void;
  now?: () => number;
}

export class FirewallNode {
  private readonly rep = new Reply({ linger: 0, ...peerLimits(MAX_QUERY_BYTES) });
  readonly acl = new Acl();
  readonly client: CloneClient;
  private readonly decisions: (Omit<DecisionRow, "agoMs"> & { at: number })[] = [];
  queries = 0;
  dropped = 0;
  endpoint = "";
  readonly loop: LoopStats = { received: 0, failed: 0 };
  private readonly now: () => number;

  constructor(
    private readonly config: NodeConfig,
    private readonly log: Logger,
    private readonly options: NodeOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.client = new CloneClient(
      { servers: config.servers, subtree: config.subtree, serverTtlMs: config.serverTtlMs, maxKeys: config.maxKeys, name: config.name },
      log,
      {
        onSnapshot: (map) => {
          this.acl.clear();
          for (const [key, e] of map) this.applyRule(key, e.value);
          this.log.info({ rules: this.acl.size, invalid: this.acl.invalidCount, digest: this.client.digest() }, "policy loaded");
        },
        onUpdate: (msg, ttlS) => {
          this.applyRule(msg.key, msg.body);
          this.log.info(
            {
              key: msg.key,
              seq: String(msg.seq),
              ...(msg.body.length ? { rule: msg.body.toString("utf8"), ...(ttlS ? { ttl: ttlS } : {}) } : { deleted: true }),
              rules: this.acl.size,
            },
            msg.body.length ? "rule set" : "rule deleted",
          );
        },
        onSessionEnd: (why, from, next) =>
          this.log.warn({ why, from, next }, why === "silent" ? "failing over to the next server" : "taking a new snapshot"),
      },
      this.now,
    );
  }

  private binding: Promise<void> | undefined;

  bind(): Promise<void> {
    this.binding ??= bindAll(this.log, { query: [this.rep, this.config.query] }).then((b) => {
      this.endpoint = b.query;
    });
    return this.binding;
  }

  snapshot() {
    const now = this.now();
    const c = this.client.counts;
    return {
      name: this.config.name,
      subtree: this.config.subtree,
      rules: this.acl.size,
      invalid: this.acl.invalidCount,
      seq: this.client.seq,
      state: this.client.state,
      server: this.client.server.snapshot,
      decisions: this.decisions.map((d) => ({ ...d, agoMs: now - d.at })),
      counts: {
        snapshots: c.snapshots,
        updates: c.updates,
        failovers: c.failovers,
        gaps: c.gaps,
        invalid: c.invalid,
        queries: this.queries,
      },
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.bind();
    const publish = this.options.publish;
    await runLoops(
      signal,
      { sockets: [this.rep], every: publish ? [{ ms: VIEW_MS, run: () => publish(nodeView(this.snapshot())) }] : [], log: this.log },
      () => this.client.run(signal),
      () =>
        receiveLoop(this.rep, signal, (frames) => this.rep.send(encodeAnswer(this.answer(fromQuerier(frames)))), {
          log: this.log,
          name: "query",
          stats: this.loop,
        }),
    );
  }

  /** Every message gets an answer: a REP that does not reply can take no further request. */
  answer(q: Query): Answer {
    switch (q.kind) {
      case "invalid":
        this.dropped += 1;
        this.log.warn({ reason: q.reason, total: this.dropped }, "bad query refused");
        return { ok: false, error: q.reason };
      case "status":
        return {
          ok: true,
          status: {
            name: this.config.name,
            rules: this.acl.size,
            seq: Number(this.client.seq),
            digest: this.client.digest(),
            server: this.client.server.snapshot,
            subtree: this.config.subtree,
            synced: this.client.synced,
          },
        };
      case "check": {
        this.queries += 1;
        const verdict = this.acl.check(q.flow);
        const flow = formatFlow(q.flow);
        this.decisions.push({ flow, allowed: verdict.allowed, rule: verdict.rule?.key, at: this.now() });
        if (this.decisions.length > VIEW_ROWS) this.decisions.shift();
        this.log.info(
          { flow, allowed: verdict.allowed, rule: verdict.rule?.key ?? "(default deny)" },
          verdict.allowed ? "flow allowed" : "flow denied",
        );
        return {
          ok: true,
          decision: { allowed: verdict.allowed, seq: Number(this.client.seq), ...(verdict.rule ? { rule: verdict.rule.key } : {}) },
        };
      }
    }
  }

  private applyRule(key: string, value: Buffer): void {
    if (!this.acl.apply(key, value))
      this.log.warn({ key, value: value.toString("utf8").slice(0, 100) }, "value is not a rule: not enforced");
  }
}
