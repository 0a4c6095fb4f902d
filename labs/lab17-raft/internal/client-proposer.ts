// The proposer: a policy administrator's tool that keeps changing firewall-style policies (put,
// compare-and-set, delete) and reading them back, through whichever node leads.
import { type Logger, pause, seededRandom, type View } from "@zlabs/kit";
import { type Operation, type Outcome, RaftClient } from "./client.ts";
import { type ProposerSnapshot, proposerView, VIEW_MS } from "./view.ts";

export const POLICIES = ["policy/ssh", "policy/rdp", "policy/usb", "policy/dns", "policy/vpn", "policy/smtp"];
export const VERDICTS = ["allow", "deny", "audit"];

export interface ProposerConfig {
  nodes: string[];
  clientId: string;
  /** Operations a second, over all sessions (0: as fast as the cluster answers). */
  rate: number;
  /** Operations in all; 0 runs until stopped. */
  count: number;
  /** Requests in flight, each from a client session of its own. */
  sessions: number;
  timeoutMs: number;
  seed: number;
}

export interface ProposerOptions {
  publish?: (view: View) => void;
}

/** Exit code when some operation found no leader after every attempt. */
export const EXIT_GAVE_UP = 3;

export class ClientProposer {
  private readonly client: RaftClient;
  private readonly random: () => number;
  private readonly values = new Map<string, string | null>();
  private started = 0;
  private nextSlot = 0;
  done = 0;
  failed = 0;
  private inFlight = 0;

  constructor(
    private readonly config: ProposerConfig,
    private readonly log: Logger,
    private readonly options: ProposerOptions = {},
  ) {
    this.client = new RaftClient(config.nodes, log, config.timeoutMs);
    this.random = seededRandom(config.seed);
  }

  snapshot(): ProposerSnapshot {
    return {
      done: this.done,
      failed: this.failed,
      retries: this.client.retries,
      leader: this.client.leaderId,
      values: [...this.values.entries()].sort(([a], [b]) => a.localeCompare(b)),
      inFlight: this.inFlight,
    };
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.random() * list.length)] as T;
  }

  /** The next change: mostly puts, some compare-and-set on the value last seen, reads and deletes. */
  private nextOperation(): Operation {
    const key = this.pick(POLICIES);
    const roll = this.random();
    if (roll < 0.55) return { op: "put", key, value: this.pick(VERDICTS) };
    if (roll < 0.7) return { op: "cas", key, expect: this.values.get(key) ?? null, value: this.pick(VERDICTS) };
    if (roll < 0.95) return { op: "get", key };
    return { op: "delete", key };
  }

  private record(op: Operation, outcome: Outcome): void {
    if (op.op === "get") this.values.set(op.key, outcome.value ?? null);
    else if (op.op === "delete") this.values.set(op.key, null);
    else if (outcome.ok) this.values.set(op.key, op.value);
  }

  private async session(n: number, signal: AbortSignal): Promise<void> {
    const client = `${this.config.clientId}-${n}`;
    let seq = 0;
    const interval = this.config.rate > 0 ? 1000 / this.config.rate : 0;
    while (!signal.aborted && (this.config.count === 0 || this.started < this.config.count)) {
      this.started += 1;
      if (interval > 0) {
        const now = performance.now();
        const slot = Math.max(now, this.nextSlot);
        this.nextSlot = slot + interval;
        if (!(await pause(slot - now, signal))) return;
      }
      const op = this.nextOperation();
      if (op.op !== "get") seq += 1;
      const t0 = performance.now();
      this.inFlight += 1;
      const outcome = await this.client.call(op, op.op === "get" ? undefined : { client, seq }, signal);
      this.inFlight -= 1;
      if (signal.aborted) return;
      const what = { ...op };
      if (!outcome) {
        this.failed += 1;
        this.log.warn({ ...what, client }, "no leader answered; gave up");
        continue;
      }
      this.done += 1;
      this.record(op, outcome);
      this.log.info(
        {
          ...what,
          ok: outcome.ok,
          ...(op.op === "get" ? { value: outcome.value ?? null } : {}),
          index: outcome.index,
          node: outcome.node,
          attempts: outcome.attempts,
          ms: Math.round(performance.now() - t0),
        },
        op.op === "get" ? "read" : "committed",
      );
    }
  }

  async run(signal: AbortSignal): Promise<number> {
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    const publish = this.options.publish;
    const view = publish ? setInterval(() => publish(proposerView(this.snapshot())), VIEW_MS) : undefined;
    const receiving = this.client.run(stop.signal);
    try {
      await Promise.all(Array.from({ length: this.config.sessions }, (_, n) => this.session(n + 1, stop.signal)));
    } finally {
      if (view) clearInterval(view);
      if (publish) publish(proposerView(this.snapshot()));
      signal.removeEventListener("abort", onAbort);
      stop.abort();
      this.client.close();
      await receiving.catch(() => {});
    }
    this.log.info({ committed: this.done, failed: this.failed, retries: this.client.retries }, "done");
    return this.failed > 0 ? EXIT_GAVE_UP : 0;
  }
}
