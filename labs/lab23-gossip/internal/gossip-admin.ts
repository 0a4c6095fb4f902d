/**
 * gossip-admin: sets, deletes and reads keys on one node (its mailbox, or its id found by beacon),
 * or, in writer mode (--every), writes a random key on a random node found by beacon every
 * interval: the demo's steady trickle of updates.
 */
import type { ConfigOf, Logger } from "@zlabs/kit";
import { Dealer } from "zeromq";
import type { adminOptions } from "./config.ts";
import { Discovery } from "./discovery.ts";
import { type AdminReply, type AdminRequest, encodeAdmin, fromNode, isEndpoint } from "./protocol.ts";

/** Exit code when the node cannot be found or does not answer. */
export const EXIT_NO_NODE = 3;
/** A node not heard by beacon for this long is not picked by the writer. */
const NODE_FRESH_MS = 3000;
const WORDS = ["amber", "birch", "cedar", "dune", "ember", "fjord", "grove", "heath", "inlet", "jade", "kelp", "lagoon"];

export interface AdminConfig {
  node: string;
  beaconPort: number;
  timeoutMs: number;
  everyMs: number;
  keys: number;
  json: boolean;
  command: string[];
}

export function adminConfig(a: ConfigOf<typeof adminOptions>): AdminConfig {
  return { node: a.node, beaconPort: a.beaconPort, timeoutMs: a.timeout, everyMs: a.every, keys: a.keys, json: a.json, command: a._ };
}

/** The requests a command line makes. */
export function requestsOf(command: readonly string[]): AdminRequest[] {
  const [op, ...rest] = command;
  if (op === "set") {
    const out: AdminRequest[] = [];
    for (let i = 0; i + 1 < rest.length; i += 2) out.push({ op: "set", key: rest[i] as string, value: rest[i + 1] as string });
    return out;
  }
  if (op === "get" || op === "del") return [{ op, key: rest[0] as string }];
  return [{ op: "status" }];
}

/** One request to a node's mailbox and its reply, on a DEALER of its own. */
export async function ask(mailbox: string, request: AdminRequest, timeoutMs: number): Promise<AdminReply> {
  const dealer = new Dealer({ linger: 0, receiveTimeout: timeoutMs, sendTimeout: timeoutMs, maxMessageSize: 1024 * 1024 });
  dealer.connect(mailbox);
  try {
    await dealer.send(encodeAdmin(request));
    const reply = fromNode(await dealer.receive());
    if (!reply.ok) throw new Error(`bad reply: ${reply.reason}`);
    return reply.value;
  } finally {
    dealer.close();
  }
}

export class GossipAdmin {
  private readonly nodes = new Map<string, { mailbox: string; seen: number }>();

  constructor(
    private readonly config: AdminConfig,
    private readonly log: Logger,
  ) {}

  private async listen(signal: AbortSignal): Promise<Discovery> {
    const d = new Discovery(this.config.beaconPort, (b, from) => {
      if (b.ok) this.nodes.set(b.value.id, { mailbox: `tcp://${from}:${b.value.mailboxPort}`, seen: performance.now() });
    });
    await d.open();
    signal.addEventListener("abort", () => d.close(), { once: true });
    return d;
  }

  async run(signal: AbortSignal): Promise<number> {
    if (this.config.everyMs > 0) {
      await this.writer(signal);
      return 0;
    }
    let mailbox = this.config.node;
    if (!isEndpoint(mailbox)) {
      const d = await this.listen(signal);
      const end = performance.now() + this.config.timeoutMs;
      while (!this.nodes.has(mailbox) && performance.now() < end && !signal.aborted) await new Promise((r) => setTimeout(r, 50));
      d.close();
      const found = this.nodes.get(mailbox);
      if (!found) {
        process.stderr.write(`gossip-admin: no beacon from node "${mailbox}" within ${this.config.timeoutMs} ms\n`);
        return EXIT_NO_NODE;
      }
      mailbox = found.mailbox;
    }
    for (const request of requestsOf(this.config.command)) {
      let reply: AdminReply;
      try {
        reply = await ask(mailbox, request, this.config.timeoutMs);
      } catch (err) {
        process.stderr.write(`gossip-admin: no answer from ${mailbox}: ${(err as Error).message}\n`);
        return EXIT_NO_NODE;
      }
      if (this.config.json) process.stdout.write(`${JSON.stringify(reply)}\n`);
      else if (!reply.ok) process.stdout.write(`refused: ${reply.error}\n`);
      else if (reply.status) process.stdout.write(`${JSON.stringify(reply.status)}\n`);
      else if (reply.entry)
        process.stdout.write(
          `${reply.entry.key}=${reply.entry.deleted ? "(deleted)" : reply.entry.value} clock=${reply.entry.clock} origin=${reply.entry.origin}\n`,
        );
      else process.stdout.write("(no such key)\n");
    }
    return 0;
  }

  private async writer(signal: AbortSignal): Promise<void> {
    await this.listen(signal);
    let n = 0;
    while (!signal.aborted) {
      await new Promise((r) => setTimeout(r, this.config.everyMs));
      const now = performance.now();
      const fresh = [...this.nodes.entries()].filter(([, v]) => now - v.seen < NODE_FRESH_MS);
      if (fresh.length === 0 || signal.aborted) continue;
      const [id, { mailbox }] = fresh[Math.floor(Math.random() * fresh.length)] as [string, { mailbox: string }];
      n += 1;
      const key = `k${Math.floor(Math.random() * this.config.keys) + 1}`;
      const request: AdminRequest = n % 10 === 0 ? { op: "del", key } : { op: "set", key, value: `${WORDS[n % WORDS.length]}-${n}` };
      try {
        const reply = await ask(mailbox, request, this.config.timeoutMs);
        this.log.info(
          {
            node: id,
            key,
            value: request.op === "set" ? request.value : undefined,
            deleted: request.op === "del",
            clock: reply.entry?.clock,
          },
          "wrote",
        );
      } catch (err) {
        this.log.warn({ node: id, key, err: (err as Error).message }, "no answer from the node");
      }
    }
  }
}
