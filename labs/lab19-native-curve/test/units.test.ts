import { describe, expect, it } from "vitest";
import { HandshakeWatch, watchEventOf } from "../internal/handshake-watch.ts";
import { parseMeta, shellVariable } from "../internal/keygen.ts";
import {
  checkFrames,
  DIGEST_BYTES,
  EMPTY,
  errorFrames,
  fromClient,
  fromServer,
  MAX_LABEL_BYTES,
  utf8Within,
  verdictFrames,
} from "../internal/protocol.ts";
import { EICAR, sampleFile, sha256, ThreatIntel } from "../internal/threat-intel.ts";

const b = (s: string) => Buffer.from(s);
const rid = b("client-1");
const reqId = b("\x00\x00\x00\x07");
const digest = Buffer.alloc(DIGEST_BYTES, 7);

describe("fromClient (the server's ROUTER)", () => {
  it("takes a CHECK in a REQ envelope", () => {
    expect(fromClient([rid, ...checkFrames(reqId, digest)])).toEqual({ kind: "check", client: rid, requestId: reqId, digest });
  });

  it.each([
    ["no frames", [], "no routing id", false],
    ["a routing id alone", [rid], "not in a REQ envelope", false],
    ["no delimiter", [rid, b("CHECK"), reqId, digest], "not in a REQ envelope", false],
    ["no request id", [rid, EMPTY, b("CHECK")], "request id must be", false],
    ["an empty request id", [rid, EMPTY, b("CHECK"), EMPTY, digest], "request id must be", false],
    ["a 17-byte request id", [rid, EMPTY, b("CHECK"), Buffer.alloc(17), digest], "request id must be", false],
    ["an unknown command", [rid, EMPTY, b("check"), reqId, digest], "unknown command", true],
    ["a short digest", [rid, EMPTY, b("CHECK"), reqId, Buffer.alloc(31)], "digest must be 32 bytes", true],
    ["a long digest", [rid, EMPTY, b("CHECK"), reqId, Buffer.alloc(33)], "digest must be 32 bytes", true],
    ["no digest", [rid, EMPTY, b("CHECK"), reqId], "4 frames", true],
    ["an extra frame", [rid, EMPTY, b("CHECK"), reqId, digest, EMPTY], "4 frames", true],
  ] as [string, Buffer[], string, boolean][])("refuses %s", (_what, frames, reason, answerable) => {
    const msg = fromClient(frames);
    expect(msg.kind).toBe("invalid");
    if (msg.kind === "invalid") {
      expect(msg.reason).toContain(reason);
      expect(msg.requestId !== undefined).toBe(answerable);
    }
  });
});

describe("fromServer (the client's DEALER)", () => {
  const strip = (frames: Buffer[]) => frames.slice(1); // the DEALER never sees the routing id
  it("takes a VERDICT and an ERROR", () => {
    expect(fromServer(strip(verdictFrames(rid, reqId, "malicious", "EICAR-Test-File")))).toEqual({
      kind: "verdict",
      requestId: reqId,
      verdict: "malicious",
      label: "EICAR-Test-File",
    });
    expect(fromServer(strip(errorFrames(rid, reqId, "bad digest")))).toEqual({ kind: "error", requestId: reqId, reason: "bad digest" });
  });

  it.each([
    ["no delimiter", [b("VERDICT"), reqId, b("clean"), EMPTY]],
    ["an unknown verdict", [EMPTY, b("VERDICT"), reqId, b("fine"), EMPTY]],
    ["a label too long", [EMPTY, b("VERDICT"), reqId, b("clean"), Buffer.alloc(MAX_LABEL_BYTES + 1, 0x41)]],
    ["a label not UTF-8", [EMPTY, b("VERDICT"), reqId, b("clean"), Buffer.from([0xff, 0xfe])]],
    ["a missing frame", [EMPTY, b("VERDICT"), reqId, b("clean")]],
    ["an unknown command", [EMPTY, b("HELLO"), reqId]],
    ["no request id", [EMPTY, b("ERROR")]],
  ] as [string, Buffer[]][])("refuses %s", (_what, frames) => {
    expect(fromServer(frames).kind).toBe("invalid");
  });

  it("cuts long text on a character boundary", () => {
    expect(utf8Within("é".repeat(40), 5).toString()).toBe("éé");
    expect(utf8Within("abc", 5).toString()).toBe("abc");
  });
});

describe("threat intel", () => {
  it("knows the EICAR test file and only its known-bad samples", () => {
    const intel = new ThreatIntel();
    expect(intel.lookup(sha256(EICAR))).toBe("EICAR-Test-File");
    expect(intel.lookup(sha256("something else"))).toBeUndefined();
    expect(sha256(EICAR).toString("hex")).toBe("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f");
  });

  it("makes every n-th sample known-bad", () => {
    const intel = new ThreatIntel();
    const bad = Array.from({ length: 20 }, (_, i) => sampleFile(i + 1, 5)).filter((f) => intel.lookup(sha256(f.content)));
    expect(bad.map((f) => f.name)).toEqual(["download-5.bin", "download-10.bin", "download-15.bin", "download-20.bin"]);
    expect(intel.lookup(sha256(sampleFile(5, 0).content))).toBeUndefined();
  });
});

describe("HandshakeWatch (when the client gives up)", () => {
  const failed = (code: string, fatal = false) => ({ type: "handshake-failed", code, fatal }) as const;

  it("gives up once TCP has connected for the deadline without a handshake (the wrong-key loop)", () => {
    const w = new HandshakeWatch(1000);
    w.on({ type: "connect" }, 0);
    w.on(failed("EPIPE"), 5);
    w.on({ type: "disconnect" }, 5);
    for (let t = 100; t < 1000; t += 150) {
      w.on({ type: "connect" }, t);
      w.on(failed("EPIPE"), t + 1);
      w.on({ type: "disconnect" }, t + 1);
      expect(w.check(t + 2).kind).toBe("waiting");
    }
    const verdict = w.check(1000);
    expect(verdict.kind).toBe("give-up");
    if (verdict.kind === "give-up")
      expect(verdict.reason).toMatch(/within 1000 ms: 7 handshakes failed \(last: EPIPE\).*wrong --server-key/);
  });

  it("a plaintext client that only sees EPIPE is told what a CURVE server does to plaintext, not about a server key", () => {
    const w = new HandshakeWatch(1000, "NULL");
    w.on({ type: "connect" }, 0);
    w.on(failed("EPIPE"), 5);
    const verdict = w.check(1000);
    expect(verdict.kind).toBe("give-up");
    if (verdict.kind === "give-up") {
      expect(verdict.reason).toMatch(
        /^no NULL handshake within 1000 ms: 1 handshakes failed \(last: EPIPE\).*CURVE server does to a plaintext client/,
      );
      expect(verdict.reason).not.toMatch(/server-key/);
    }
  });

  it("gives up at once on a mechanism mismatch or a ZAP refusal", () => {
    for (const event of [
      watchEventOf({ type: "handshake:error:protocol", error: { code: "ERR_ZMTP_MECHANISM_MISMATCH" } }),
      watchEventOf({ type: "handshake:error:auth", error: { status: 400 } }),
    ]) {
      const w = new HandshakeWatch(60_000);
      w.on({ type: "connect" }, 0);
      w.on(event as NonNullable<typeof event>, 1);
      expect(w.check(2).kind).toBe("give-up");
    }
    const temporary = watchEventOf({ type: "handshake:error:auth", error: { status: 300 } });
    expect(temporary).toEqual({ type: "handshake-failed", code: "ZAP 300", fatal: false });
  });

  it("waits for a server that is down, without a deadline, and is secure after a handshake", () => {
    const w = new HandshakeWatch(1000);
    expect(w.check(60_000).kind).toBe("waiting"); // connect:retry only: no TCP connection yet
    w.on({ type: "connect" }, 60_000);
    w.on({ type: "handshake" }, 60_010);
    expect(w.check(70_000)).toEqual({ kind: "secure" });
    // The server restarts: a new connection and handshake, and the deadline starts again.
    w.on({ type: "disconnect" }, 70_000);
    expect(w.check(90_000).kind).toBe("waiting");
    w.on({ type: "connect" }, 90_000);
    expect(w.check(90_999).kind).toBe("waiting");
    expect(w.check(91_000).kind).toBe("give-up");
  });

  it("says when TCP connects but nothing ever answers", () => {
    const w = new HandshakeWatch(500);
    w.on({ type: "connect" }, 0);
    const verdict = w.check(600);
    expect(verdict.kind === "give-up" && verdict.reason).toMatch(/TCP connected but no handshake finished/);
  });

  it("maps monitor events and ignores the rest", () => {
    expect(watchEventOf({ type: "connect" })).toEqual({ type: "connect" });
    expect(watchEventOf({ type: "connect:retry" })).toBeUndefined();
    expect(watchEventOf({ type: "handshake:error:other", error: { code: "EPIPE" } })).toEqual(failed("EPIPE"));
  });
});

describe("keygen helpers", () => {
  it("names shell variables after certificates", () => {
    expect(shellVariable("secure-server", "public")).toBe("SECURE_SERVER_PUBLIC_KEY");
    expect(shellVariable("9lives.x", "secret")).toBe("_9LIVES_X_SECRET_KEY");
  });
  it("parses --meta name=value", () => {
    expect(parseMeta(["email=a@b.c", "note=x=y"])).toEqual({ email: "a@b.c", note: "x=y" });
    expect(() => parseMeta(["novalue"])).toThrow(/expected name=value/);
  });
});
