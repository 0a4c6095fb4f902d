// Binary Star and the ticket pair in-process over real sockets: start orders, the vote, fatal
// states from a fake peer, and a client failing over when the primary stops.
import { freeTcpEndpoints, SocketJar, Tasks, testLogger, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Publisher, Router } from "zeromq";
import { BinaryStar, DualActive, DualPassive } from "../internal/binary-star.ts";
import { ClientApp } from "../internal/client-app.ts";
import { HaBroker } from "../internal/ha-broker.ts";
import { encodeReply, fromClient } from "../internal/protocol.ts";

const log = testLogger("lab11");
const HB = 50;
const WAIT_MS = 10_000;
const jar = new SocketJar();
const tasks = new Tasks();
afterEach(async () => {
  await tasks.stopAll();
  jar.closeAll();
});

function star(role: "primary" | "backup", stateBind: string, peerState: string) {
  const s = new BinaryStar({ role, stateBind, peerState, heartbeatMs: HB }, log);
  const done = tasks.run((signal) => s.run(signal));
  return { s, done };
}

const until = (what: string, check: () => boolean) => waitUntil(check, { timeoutMs: WAIT_MS, what });

/** A fake peer: a PUB the server's SUB connects to, publishing the states the test chooses. */
async function fakePeer(endpoint: string) {
  const pub = jar.add(new Publisher());
  await pub.bind(endpoint);
  return pub;
}

/** The fake peer publishes `frame` every half heartbeat while `body` runs. */
async function publishing<T>(fake: Publisher, frame: string, body: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => fake.send(frame).catch(() => {}), HB / 2);
  try {
    return await body();
  } finally {
    clearInterval(timer);
  }
}

/** What run() rejected with (undefined if it resolved), within the deadline. */
const rejection = (done: Promise<unknown>) =>
  withDeadline(
    done.then(
      () => undefined,
      (err: unknown) => err,
    ),
    WAIT_MS,
    "run() to reject",
  );

describe("Binary Star over PUB-SUB", () => {
  it.each([["primary first"], ["backup first"]])("%s: the primary ends active, the backup passive", async (order) => {
    const [p, b] = (await freeTcpEndpoints(2)) as [string, string];
    const first = order === "primary first" ? () => star("primary", p, b) : () => star("backup", b, p);
    const second = order === "primary first" ? () => star("backup", b, p) : () => star("primary", p, b);
    const one = first();
    await until("the first server to publish", () => one.s.statesSent >= 3);
    const two = second();
    const [primary, backup] = order === "primary first" ? [one.s, two.s] : [two.s, one.s];
    await until("primary active and backup passive", () => primary.state === "active" && backup.state === "passive");
    // The passive one refuses clients while the active one lives; the active one serves. Judged at the
    // moment the peer was last heard: by this process's clock, a stall could make it two heartbeats ago.
    expect(backup.vote(backup.peerHeardAt as number)).toBe(false);
    expect(primary.vote(primary.peerHeardAt as number)).toBe(true);
    expect(backup.state).toBe("passive");
  });

  it("the backup fails over on the first client request two heartbeats after the primary's last state, not before", async () => {
    const [p, b] = (await freeTcpEndpoints(2)) as [string, string];
    const ac = new AbortController();
    const primary = new BinaryStar({ role: "primary", stateBind: p, peerState: b, heartbeatMs: HB }, log);
    const primaryDone = primary.run(ac.signal);
    const { s: backup } = star("backup", b, p);
    await until("the pair to settle", () => primary.state === "active" && backup.state === "passive");
    ac.abort();
    await primaryDone;
    // The stopped primary's last state may still be in flight (its PUB lingers to flush it): the
    // last state heard is the one after which the link stays quiet for three heartbeats.
    let heard = 0;
    await until("the primary's states to stop", () => {
      heard = backup.peerHeardAt as number;
      return performance.now() > heard + 3 * HB;
    });
    // Nothing more comes from the stopped primary: the vote decides, by the clock given.
    await until("three more heartbeats", () => performance.now() > heard + 6 * HB);
    expect(backup.peerHeardAt).toBe(heard);
    expect(backup.vote(heard + 2 * HB - 1)).toBe(false);
    expect(backup.state).toBe("passive");
    expect(backup.vote(heard + 2 * HB)).toBe(true);
    expect(backup.state).toBe("active");
  });

  it("a primary alone goes active on a request two heartbeats after its start; a backup alone never serves", async () => {
    const [p, b, nobody1, nobody2] = (await freeTcpEndpoints(4)) as [string, string, string, string];
    const { s: primary } = star("primary", p, nobody1);
    const { s: backup } = star("backup", b, nobody2);
    expect(primary.vote(primary.startedAt + 2 * HB - 1)).toBe(false);
    expect(primary.vote(primary.startedAt + 2 * HB)).toBe(true);
    expect(primary.state).toBe("active");
    expect(backup.vote(backup.startedAt + 1e9)).toBe(false);
    expect(backup.state).toBe("backup");
  });

  it("dual actives: an active server that hears PEER_ACTIVE stops, run() rejects with DualActive", async () => {
    const [p, peer] = (await freeTcpEndpoints(2)) as [string, string];
    const fake = await fakePeer(peer);
    const { s, done } = star("primary", p, peer);
    const changes: string[] = [];
    s.onChange((state, previous) => changes.push(`${previous}->${state}`));
    await publishing(fake, "2", () => until("the primary active on the backup's state", () => s.state === "active"));
    expect(await publishing(fake, "3", () => rejection(done))).toBeInstanceOf(DualActive);
    expect(changes).toEqual(["primary->active"]);
  });

  it("dual passives: a passive server that hears PEER_PASSIVE stops, run() rejects with DualPassive", async () => {
    const [b, peer] = (await freeTcpEndpoints(2)) as [string, string];
    const fake = await fakePeer(peer);
    const { s, done } = star("backup", b, peer);
    await publishing(fake, "3", () => until("the backup passive on the primary's state", () => s.state === "passive"));
    expect(await publishing(fake, "4", () => rejection(done))).toBeInstanceOf(DualPassive);
  });

  it("anything on the state link but one digit 1-4 is dropped, counted, and does not count as the peer heard", async () => {
    const [b, peer] = (await freeTcpEndpoints(2)) as [string, string];
    const fake = await fakePeer(peer);
    const { s } = star("backup", b, peer);
    await waitUntil(
      async () => {
        for (const junk of ["9", ["3", "3"], "33", ""]) await fake.send(junk);
        return s.dropped >= 8;
      },
      { timeoutMs: WAIT_MS, what: "the fake peer's junk to arrive" },
    );
    expect(s.peerHeardAt).toBeUndefined();
    expect(s.state).toBe("backup");
  });
});

describe("holding: an active server whose peer went silent keeps its state to itself until it hears the peer", () => {
  it("holds while the backup is gone, sends again at once when a restarted backup is heard, which then goes passive", async () => {
    const [p, b] = (await freeTcpEndpoints(2)) as [string, string];
    const { s: primary } = star("primary", p, b);
    const ac = new AbortController();
    const first = new BinaryStar({ role: "backup", stateBind: b, peerState: p, heartbeatMs: HB }, log);
    const firstDone = first.run(ac.signal);
    await until("the pair to settle", () => primary.state === "active" && first.state === "passive");
    ac.abort();
    await firstDone;
    await until("the primary to hold", () => primary.holding());
    const sent = primary.statesSent;
    await until("two more heartbeats", () => performance.now() > (primary.peerHeardAt as number) + 5 * HB);
    expect(primary.statesSent).toBe(sent);
    const heardBefore = primary.peerHeardAt as number;
    const { s: again } = star("backup", b, p);
    await until("the restarted backup passive", () => again.state === "passive");
    expect(primary.peerHeardAt).toBeGreaterThan(heardBefore);
    expect(primary.holding(primary.peerHeardAt as number)).toBe(false);
    expect(primary.statesSent).toBeGreaterThan(sent);
  });

  it("a holding server that hears an active peer (it took over meanwhile) stops on dual actives without having sent", async () => {
    const [p, peer] = (await freeTcpEndpoints(2)) as [string, string];
    const fake = await fakePeer(peer);
    const { s, done } = star("primary", p, peer);
    await publishing(fake, "2", () => until("the primary active on the backup's state", () => s.state === "active"));
    await until("the primary to hold", () => s.holding());
    const sent = s.statesSent;
    expect(await publishing(fake, "3", () => rejection(done))).toBeInstanceOf(DualActive);
    expect(s.statesSent).toBe(sent);
  });
});

describe("the ticket pair with a client", () => {
  it("the client fails over when the primary stops, reports how long it took, and sees ticket numbers go back", async () => {
    const [pf, bf, ps, bs] = (await freeTcpEndpoints(4)) as [string, string, string, string];
    const primary = new HaBroker({ role: "primary", front: pf, stateBind: ps, peerState: bs, heartbeatMs: HB }, log);
    const backup = new HaBroker({ role: "backup", front: bf, stateBind: bs, peerState: ps, heartbeatMs: HB }, log);
    const ac = new AbortController();
    const primaryDone = primary.run(ac.signal);
    void tasks.run((s) => backup.run(s));
    await until("the pair to settle", () => primary.star.state === "active" && backup.star.state === "passive");
    const client = new ClientApp({ servers: [pf, bf], id: "c1", timeoutMs: 200, settleMs: 300, intervalMs: 20, count: 0 }, log);
    void tasks.run((s) => client.run(s));
    await until("five tickets from the primary", () => client.served >= 5);
    expect(client.failoverCount).toBe(0);
    ac.abort();
    expect(await primaryDone).toBe(0);
    await until("a fail-over to the backup", () => client.failoverCount === 1);
    const [f] = client.failovers;
    expect(f).toMatchObject({ from: "primary", to: "backup", timeouts: 1 });
    // One timeout, the settle delay, then served by the backup on its first try.
    expect(f?.ms).toBeGreaterThanOrEqual(500);
    expect(backup.star.state).toBe("active");
    await until("a ticket from the backup", () => backup.desk.issued >= 1 && client.lastTicket === backup.desk.issued);
    // The backup's desk started from 1: ticket numbers the primary gave out are given out again.
    expect(client.reissued).toBeGreaterThanOrEqual(1);
  });

  it("the client checks the sequence: a reply to another request is refused, and it moves to the other server", async () => {
    const [wrong, right] = (await freeTcpEndpoints(2)) as [string, string];
    // Two fake servers: one answers every request with the next sequence number, one correctly.
    const serve = async (endpoint: string, shift: number, server: "primary" | "backup") => {
      const router = jar.add(new Router());
      await router.bind(endpoint);
      void tasks.run(async (signal) => {
        signal.addEventListener("abort", () => router.close(), { once: true });
        while (!signal.aborted && !router.closed) {
          const [id, , body] = await router.receive().catch(() => [] as Buffer[]);
          const request = fromClient([id as Buffer, Buffer.alloc(0), body as Buffer]);
          if (request.kind !== "request") continue;
          const { seq } = request.request;
          await router.send([request.identity, "", encodeReply({ v: 1, seq: seq + shift, ticket: seq, server })]);
        }
      });
    };
    await serve(wrong, 1, "primary");
    await serve(right, 0, "backup");
    const client = new ClientApp({ servers: [wrong, right], id: "c1", timeoutMs: 2000, settleMs: 10, intervalMs: 10, count: 2 }, log);
    expect(await tasks.run((s) => client.run(s))).toBe(0);
    expect(client.badReplies).toBe(1);
    expect(client.served).toBe(2);
    expect(client.lastTicket).toBe(2);
    expect(client.snapshot().server).toBe("backup");
  });
});
