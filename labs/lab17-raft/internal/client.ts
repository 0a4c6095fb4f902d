// A client of the cluster: one DEALER per node, requests sent to the node believed to lead, sent
// again on a timeout or a "not leader" answer (with the hint, once known) under the same client id
// and sequence number, so the state machine applies a retried write once.
import { type Logger, peerLimits, receiveLoop, reconnectAfterDrops, SendQueue } from "@zlabs/kit";
import { Dealer } from "zeromq";
import type { Command } from "./kv.ts";
import { decodeReply, encodeRequest, type Reply } from "./protocol.ts";

export const REQUEST_TIMEOUT_MS = 1000;
/** Attempts per request before it is reported as failed (the cluster had no leader all that time). */
export const MAX_ATTEMPTS = 30;

type Write =
  | { op: "put"; key: string; value: string }
  | { op: "delete"; key: string }
  | { op: "cas"; key: string; expect: string | null; value: string };
export type Operation = Write | { op: "get"; key: string };

export interface Outcome {
  ok: boolean;
  value?: string | null;
  index: number;
  node: string;
  attempts: number;
}

interface Peer {
  endpoint: string;
  dealer: Dealer;
  queue: SendQueue;
  id: string | undefined;
}

export class RaftClient {
  private readonly peers: Peer[];
  private readonly waiting = new Map<number, (reply: Reply) => void>();
  private nextId = 1;
  private leader = 0;
  retries = 0;
  dropped = 0;
  leaderId: string | undefined;

  constructor(
    endpoints: string[],
    private readonly log: Logger,
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
    private readonly maxAttempts = MAX_ATTEMPTS,
  ) {
    this.peers = endpoints.map((endpoint) => {
      const dealer = new Dealer({ linger: 0, sendHighWaterMark: 10_000, sendTimeout: 0, ...peerLimits() });
      dealer.connect(endpoint);
      reconnectAfterDrops(dealer, [endpoint], log);
      return { endpoint, dealer, queue: new SendQueue(dealer), id: undefined };
    });
  }

  /** The receive loops; they end when close() is called or the signal aborts. */
  run(signal: AbortSignal): Promise<void> {
    return Promise.all(
      this.peers.map((p) => receiveLoop(p.dealer, signal, (frames) => this.onReply(p, frames), { log: this.log, name: p.endpoint })),
    ).then(() => undefined);
  }

  close(): void {
    for (const p of this.peers) p.dealer.close();
  }

  private onReply(peer: Peer, frames: Buffer[]): void {
    const reply = decodeReply(frames[frames.length - 1]);
    if (!reply.ok) {
      this.dropped += 1;
      this.log.warn({ from: peer.endpoint, reason: reply.reason }, "invalid reply dropped");
      return;
    }
    peer.id = reply.value.node;
    this.waiting.get(reply.value.id)?.(reply.value);
  }

  /** One attempt at one node: its reply, or undefined on timeout. */
  private attempt(peer: Peer, request: Record<string, unknown>): Promise<Reply | undefined> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, this.timeoutMs);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(reply);
      });
      // sendTimeout 0: a node not connected yet fails at once (EAGAIN), and counts as a timeout.
      peer.queue.send(encodeRequest({ ...request, id })).catch(() => {});
    });
  }

  /** A node's status (term, role, commit, digest), or undefined when it does not answer in time. */
  async status(index: number): Promise<Extract<Reply, { status: "status" }> | undefined> {
    const reply = await this.attempt(this.peers[index] as Peer, { op: "status" });
    return reply?.status === "status" ? reply : undefined;
  }

  /**
   * Runs one operation to completion. A write carries (client, seq): the caller gives each new
   * write a new seq and keeps it across the retries this does.
   */
  async call(op: Operation, session?: { client: string; seq: number }, signal?: AbortSignal): Promise<Outcome | undefined> {
    const request: Record<string, unknown> = op.op === "get" ? { ...op } : { ...op, ...(session as { client: string; seq: number }) };
    for (let attempts = 1; attempts <= this.maxAttempts && !signal?.aborted; attempts++) {
      if (attempts > 1) this.retries += 1;
      const peer = this.peers[this.leader] as Peer;
      const reply = await this.attempt(peer, request);
      if (reply?.status === "ok") {
        this.leaderId = reply.node;
        return { ok: reply.ok, value: reply.value, index: reply.index, node: reply.node, attempts };
      }
      if (reply?.status === "error") throw new Error(`the node refused the request: ${reply.reason}`);
      // Not the leader: go to the one it names, if we know its endpoint; else the next node.
      const hinted = reply?.status === "notLeader" && reply.leader ? this.peers.findIndex((p) => p.id === reply.leader) : -1;
      if (hinted >= 0 && hinted !== this.leader) this.leader = hinted;
      else {
        this.leader = (this.leader + 1) % this.peers.length;
        // Everyone says "not leader" during an election: wait a little before going round again.
        if (reply) await new Promise((r) => setTimeout(r, Math.min(this.timeoutMs, 50)));
      }
    }
    return undefined;
  }
}

export type { Command };
