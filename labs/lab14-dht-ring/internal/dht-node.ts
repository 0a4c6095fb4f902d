import { randomBytes } from "node:crypto";
import { bindAll, type Logger, type LoopStats, peerLimits, receiveLoop, SendQueue, untilAborted, type View } from "@zlabs/kit";
import { Dealer, Router } from "zeromq";
import { BeaconChannel } from "./beacon.ts";
import {
  decodeBeacon,
  encodeBeacon,
  encodeHello,
  encodeReply,
  encodeRequest,
  fromMailbox,
  fromMailboxReply,
  LEAVING_PORT,
  PEER_COMMANDS,
  type PeerRequest,
  peerIdentity,
  type Reply,
} from "./protocol.ts";
import { type CoreConfig, type CoreEvent, RingNode } from "./ring-node.ts";
import { type NodeSnapshot, nodeView, STRIP_CELLS, VIEW_MS } from "./view.ts";

/** How often the core's duties run (expiry, timeouts, released keys) and took-lines are logged. */
export const TICK_MS = 100;
/** A node stopping cleanly waits at most this long for its hand-off to be acknowledged. */
export const LEAVE_MS = 1500;
/** HELLO again on every peer DEALER this often: TCP presence, and a greeting for a peer that forgot us. */
export const HELLO_EVERY_BEACONS = 2;

export interface DhtNodeConfig extends Omit<CoreConfig, "id" | "endpoint"> {
  /** The mailbox ROUTER's endpoint. */
  bind: string;
  beaconPort: number;
  beaconAddress: string;
  beaconMs: number;
  leaveMs: number;
}

interface Link {
  dealer: Dealer;
  queue: SendQueue;
}

export interface DhtNodeOptions {
  publish?: (view: View) => void;
}

/**
 * The ring node over ZeroMQ (Harmony, zguide ch8): a ROUTER mailbox that every peer and client
 * sends to, one DEALER per peer that carries this node's requests to it (HELLO first) and brings
 * the answers back, and a UDP beacon that announces the mailbox's port. The ring itself is the
 * pure RingNode; this class moves its messages and keeps its clock.
 */
export class DhtNode {
  readonly uuid = randomBytes(16);
  readonly id = this.uuid.toString("hex");
  private readonly mailbox = new Router({ linger: 0, ...peerLimits() });
  private readonly replies = new SendQueue(this.mailbox);
  private readonly links = new Map<string, Link>();
  private readonly beacons: BeaconChannel;
  private readonly stopLinks = new AbortController();
  private readonly linkLoops: Promise<void>[] = [];
  core: RingNode | undefined;
  endpoint = "";
  port = 0;
  /** Malformed or unexpected messages and datagrams, counted. */
  dropped = 0;
  readonly stats: LoopStats = { received: 0, failed: 0 };
  private tookSince = new Map<string, { name: string; keys: number; offered: number }>();
  private beaconsSent = 0;

  constructor(
    private readonly config: DhtNodeConfig,
    private readonly log: Logger,
    private readonly options: DhtNodeOptions = {},
  ) {
    this.beacons = new BeaconChannel(config.beaconPort, config.beaconAddress, (d, from) => this.onDatagram(d, from));
  }

  async bind(): Promise<void> {
    const { mailbox } = await bindAll(this.log, { mailbox: [this.mailbox, this.config.bind] });
    this.endpoint = mailbox;
    this.port = Number(/:(\d+)$/.exec(mailbox)?.[1]);
    this.core = new RingNode(
      { ...this.config, id: this.id, endpoint: mailbox },
      {
        connect: (peer, endpoint) => this.connect(peer, endpoint),
        disconnect: (peer) => this.disconnect(peer),
        send: (peer, request) => this.send(peer, request),
        reply: (origin, reply) => this.reply(origin, reply),
      },
      () => Date.now(),
      (e) => this.onEvent(e),
    );
    await this.beacons.start();
    this.log.info({ id: this.id, name: this.config.name, beaconPort: this.config.beaconPort }, "node up");
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.core) await this.bind();
    const core = this.core as RingNode;
    const log = this.log;
    const timers = [
      setInterval(() => this.beacon(), this.config.beaconMs),
      setInterval(() => this.tick(), TICK_MS),
      ...(this.options.publish ? [setInterval(() => this.options.publish?.(nodeView(this.snapshot())), VIEW_MS)] : []),
    ];
    this.beacon();
    const loop = receiveLoop(this.mailbox, this.stopLinks.signal, (frames) => this.onMailbox(frames), {
      log,
      name: "mailbox",
      stats: this.stats,
    });
    try {
      await untilAborted(signal);
      // A clean leave: hand the keys off, wait for the acks (bounded), then say so (port 0).
      core.leave();
      const deadline = Date.now() + this.config.leaveMs;
      while (core.handoffsPending > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        core.tick();
      }
      await this.beacons.send(encodeBeacon(this.uuid, LEAVING_PORT)).catch(() => {});
      log.info({ handedOff: core.counters.handedOff, unacknowledged: core.handoffsPending }, "left the ring");
    } finally {
      for (const t of timers) clearInterval(t);
      this.stopLinks.abort();
      this.beacons.close();
      this.mailbox.close();
      for (const link of this.links.values()) link.dealer.close();
      await loop.catch(() => {});
      await Promise.allSettled(this.linkLoops);
    }
  }

  private beacon(): void {
    this.beaconsSent += 1;
    this.beacons.send(encodeBeacon(this.uuid, this.port)).catch((err: unknown) => this.log.warn({ err }, "beacon not sent"));
    if (this.beaconsSent % HELLO_EVERY_BEACONS === 0) for (const link of this.links.values()) this.hello(link);
  }

  private hello(link: Link): void {
    link.queue.send(encodeHello({ id: this.id, endpoint: this.endpoint, name: this.config.name })).catch(() => {});
  }

  private tick(): void {
    this.core?.tick();
    for (const t of this.tookSince.values())
      if (t.keys > 0) this.log.info({ from: t.name, keys: t.keys, offered: t.offered }, "took keys");
      else this.log.debug({ from: t.name, offered: t.offered }, "offered keys already held");
    this.tookSince.clear();
  }

  private onDatagram(datagram: Buffer, from: string): void {
    const b = decodeBeacon(datagram);
    if (b.kind === "invalid") {
      this.drop({ from, reason: b.reason }, "datagram dropped");
      return;
    }
    this.core?.beacon(b.id, b.port === LEAVING_PORT ? undefined : `tcp://${from}:${b.port}`);
  }

  private onMailbox(frames: Buffer[]): void {
    const core = this.core as RingNode;
    const m = fromMailbox(frames);
    switch (m.kind) {
      case "hello":
        core.hello(m.hello);
        return;
      case "request": {
        const fromPeer = m.peer !== undefined && core.greeted(m.peer);
        if ((PEER_COMMANDS as readonly string[]).includes(m.request.op) && !fromPeer) {
          this.drop({ peer: m.peer, op: m.request.op }, "a peer's message before its HELLO dropped");
          return;
        }
        core.request(m.identity, m.request, fromPeer ? m.peer : undefined);
        return;
      }
      case "invalid":
        this.drop({ identity: m.identity, reason: m.reason }, "malformed message dropped");
        return;
    }
  }

  private connect(peer: string, endpoint: string): void {
    const dealer = new Dealer({
      linger: 0,
      routingId: peerIdentity(this.id) as unknown as string,
      sendTimeout: 0,
      sendHighWaterMark: 10_000,
      ...peerLimits(),
    });
    dealer.connect(endpoint);
    const link = { dealer, queue: new SendQueue(dealer) };
    this.links.set(peer, link);
    this.hello(link);
    const name = () => this.core?.nameOf(peer) ?? peer;
    this.linkLoops.push(
      receiveLoop(
        dealer,
        this.stopLinks.signal,
        (frames) => {
          const m = fromMailboxReply(frames);
          if (m.kind === "invalid") return this.drop({ from: name(), reason: m.reason }, "malformed reply dropped");
          this.core?.replied(peer, m.reply);
        },
        { log: this.log, name: `peer ${peer.slice(0, 8)}` },
      ).catch((err: unknown) => this.log.warn({ err, peer }, "peer loop ended")),
    );
  }

  private disconnect(peer: string): void {
    this.links.get(peer)?.dealer.close();
    this.links.delete(peer);
  }

  private send(peer: string, request: PeerRequest): void {
    const link = this.links.get(peer);
    if (!link) return;
    // A full or unconnected DEALER fails at once (send timeout 0): the core's timeout moves on.
    link.queue.send(encodeRequest(request)).catch((err: unknown) => this.log.debug({ err, peer, op: request.op }, "send to a peer failed"));
  }

  private reply(origin: Buffer, reply: Reply): void {
    // ROUTER, not mandatory: a reply to an asker that has gone is dropped by libzmq.
    this.replies.send([origin, ...encodeReply(reply)]).catch((err: unknown) => this.log.debug({ err }, "reply not sent"));
  }

  private onEvent(e: CoreEvent): void {
    switch (e.kind) {
      case "joined":
        this.log.info({ peer: e.name, endpoint: e.endpoint, view: e.view }, "peer joined the view");
        return;
      case "left":
        this.log.warn({ peer: e.name, why: e.why, view: e.view }, "peer left the view");
        return;
      case "handed-off":
        this.log.info({ to: e.name, keys: e.keys }, "handing keys off");
        return;
      case "took": {
        const t = this.tookSince.get(e.peer) ?? { name: e.name, keys: 0, offered: 0 };
        t.keys += e.keys;
        t.offered += e.offered;
        this.tookSince.set(e.peer, t);
        return;
      }
      case "released":
        this.log.info({ keys: e.keys }, "released keys no longer owned");
        return;
      case "hop-limit":
        this.log.warn({ key: e.key }, "hop limit reached; request refused");
        return;
    }
  }

  private drop(fields: Record<string, unknown>, msg: string): void {
    this.dropped += 1;
    this.log.warn({ ...fields, total: this.dropped }, msg);
  }

  snapshot(): NodeSnapshot {
    const core = this.core as RingNode;
    const shares = core.ring.shares();
    const r = core.config.replication;
    const strip: NodeSnapshot["strip"] = [];
    const cells = core.ring.strip(STRIP_CELLS);
    for (let c = 0; c < STRIP_CELLS; c++) {
      const primary = cells[c];
      if (primary === this.id) strip.push("primary" as const);
      else {
        const mid = (((1n << 64n) * BigInt(2 * c + 1)) / BigInt(2 * STRIP_CELLS)) as bigint;
        strip.push(core.ring.ownersAt(mid, r).includes(this.id) ? ("replica" as const) : ("other" as const));
      }
    }
    return {
      name: this.config.name,
      id: this.id,
      share: shares.get(this.id) ?? 0,
      holdings: core.holdings(),
      peers: [...core.members.values()].map((m) => ({ name: m.name, share: shares.get(m.id) ?? 0 })),
      strip,
      lastChange: core.lastChange
        ? {
            what: `${core.lastChange.sign}${core.members.get(core.lastChange.peer)?.name ?? core.lastChange.name}`,
            took: core.lastChange.took,
            handed: core.lastChange.handed,
            agoMs: Date.now() - core.lastChange.at,
          }
        : undefined,
      served: core.counters.served,
      forwarded: core.counters.forwarded,
      dropped: this.dropped,
      replication: r,
    };
  }
}
