// The live views, from snapshots.
import { describe, expect, it } from "vitest";
import { type BrokerSnapshot, brokerView, clientView } from "../internal/view.ts";

const broker: BrokerSnapshot = {
  role: "backup",
  state: "passive",
  peerState: "active",
  peerSilentMs: 300,
  peerDeadAfterMs: 2000,
  issued: 0,
  nextTicket: 1,
  clients: 0,
  refused: 2,
  dropped: 1,
  holding: false,
};

describe("the broker's view", () => {
  it("shows its state, the peer as last heard, and its desk", () => {
    const v = brokerView(broker);
    expect(v.title).toBe("backup broker");
    expect(v.rows?.[0]?.[1]).toMatchObject({ text: "PASSIVE: refusing clients while the peer lives", tone: "warn" });
    expect(v.rows?.[1]?.[1]).toBe("ACTIVE, heard 0.3 s ago");
    expect(v.rows?.[2]?.[1]).toBe("0 issued here · next 1 · 0 clients");
    expect(v.summary).toBe("requests refused (not active) 2 · malformed dropped 1");
  });

  it("marks a peer silent past two heartbeats, one never heard, and a holding server", () => {
    expect(brokerView({ ...broker, peerSilentMs: 2500 }).rows?.[1]?.[1]).toMatchObject({ tone: "bad" });
    expect(brokerView({ ...broker, peerState: undefined, peerSilentMs: undefined }).rows?.[1]?.[1]).toMatchObject({
      text: "never heard",
    });
    const holding = brokerView({ ...broker, state: "active", peerSilentMs: 2500, holding: true });
    expect(holding.rows?.[0]?.[1]).toMatchObject({ text: "ACTIVE: serving clients (state held: peer silent)", tone: "good" });
  });
});

describe("the client's view", () => {
  it("shows the server in use and each fail-over with its duration", () => {
    const v = clientView({
      server: "backup",
      endpoint: "tcp://127.0.0.1:5112",
      served: 40,
      lastTicket: 12,
      reissued: 12,
      timeouts: 1,
      waitingMs: undefined,
      failovers: [{ from: "primary", to: "backup", ms: 3012, timeouts: 1 }],
      failoverCount: 1,
    });
    expect(v.title).toBe("using backup (tcp://127.0.0.1:5112) · last ticket 12");
    expect(v.rows).toEqual([[1, "primary → backup", { text: "3.0 s", tone: "warn" }, 1]]);
    expect(v.summary).toContain("fail-overs 1");
  });

  it("says when no fail-over happened yet, and how long a request waits", () => {
    const v = clientView({
      server: "primary",
      endpoint: "tcp://127.0.0.1:5111",
      served: 0,
      lastTicket: undefined,
      reissued: 0,
      timeouts: 0,
      waitingMs: 1500,
      failovers: [],
      failoverCount: 0,
    });
    expect(v.title).toBe("using primary (tcp://127.0.0.1:5111) · last ticket - · waiting 1.5 s for a reply");
    expect(v.rows?.[0]?.[0]).toMatchObject({ text: "none yet" });
  });
});
