import { describe, expect, it } from "vitest";
import { type ClientStats, clientView, routingIdText, type ServerStats, serverView } from "../internal/view.ts";

describe("views", () => {
  it("shows the server's handshakes, clients and messages", () => {
    const stats: ServerStats = {
      endpoint: "tcp://127.0.0.1:5190",
      publicKey: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
      connections: 2,
      handshakesOk: 3,
      handshakesFailed: new Map([
        ["ERR_ZMTP_MECHANISM_MISMATCH", 1],
        ["ERR_ZMTP_CRYPTOGRAPHIC", 12],
      ]),
      lookups: 40,
      malicious: 8,
      dropped: 1,
      clients: new Map([
        ["a", { id: Buffer.from("secure-client-1"), lookups: 30, malicious: 6, lastSeen: 1000 }],
        ["b", { id: Buffer.from([0, 1, 2, 3, 4]), lookups: 10, malicious: 0, lastSeen: 9000 }],
      ]),
    };
    const view = serverView(stats, 10_000);
    expect(view.title).toBe("CURVE on tcp://127.0.0.1:5190 · server key rq:rM>}U… · 2 connections");
    expect(view.rows).toEqual([
      [{ text: "0x0001020304", tone: "bold" }, "10", "0", { text: "1.0 s ago", tone: "good" }],
      [{ text: "secure-client-1", tone: "dim" }, "30", { text: "6", tone: "bad" }, { text: "9.0 s ago", tone: "dim" }],
    ]);
    expect(view.summary).toEqual([
      "handshakes: 3 ok · 13 failed (12 ERR_ZMTP_CRYPTOGRAPHIC, 1 ERR_ZMTP_MECHANISM_MISMATCH)",
      "messages: 40 lookups · 8 known-bad · 1 malformed dropped",
    ]);
    expect(JSON.stringify(view)).not.toContain("secret");
  });

  it("shows a client's state, its lookups and how long a handshake has been failing", () => {
    const stats: ClientStats = {
      id: "c1",
      server: "tcp://127.0.0.1:5190",
      serverKey: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
      mechanism: "CURVE, fresh key abcdefgh…",
      state: "handshaking",
      handshakesOk: 0,
      handshakesFailed: 9,
      lastError: "EPIPE",
      pendingMs: 2100,
      deadlineMs: 5000,
      lookups: 1,
      malicious: 1,
      timeouts: 0,
      recent: [{ file: "download-5.bin", digest: "c127778d34cd…", verdict: "malicious", label: "Demo.Dropper.A", ms: 1.4 }],
    };
    const view = clientView(stats);
    expect(view.title).toBe(
      "→ tcp://127.0.0.1:5190 · CURVE, fresh key abcdefgh… · server key rq:rM>}U… · handshaking for 2.1 s of 5.0 s (last: EPIPE)",
    );
    expect(view.rows).toEqual([
      ["download-5.bin", { text: "c127778d34cd…", tone: "dim" }, { text: "malicious: Demo.Dropper.A", tone: "bad" }, 1],
    ]);
    expect(view.summary).toBe("handshakes: 0 ok · 9 failed · lookups 1 · known-bad 1 · timeouts 0");
  });

  it("prints routing ids safely", () => {
    expect(routingIdText(Buffer.from("client-1"))).toBe("client-1");
    expect(routingIdText(Buffer.from("two words"))).toBe("0x74776f20776f7264");
  });
});
