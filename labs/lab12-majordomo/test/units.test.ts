// Units: the MDP builders and decoders, table-driven; the reputation table; the requester's mix; flag checks.
import { describe, expect, it } from "vitest";
import { nthRequest } from "../internal/client-requester.ts";
import { checkClient, checkService } from "../internal/config.ts";
import { MdpServiceError, MdpTimeout } from "../internal/errors.ts";
import {
  brokerCommand,
  brokerRequest,
  clientReply,
  clientReplyOf,
  clientRequest,
  DISCONNECT,
  errorBody,
  fromBroker,
  fromPeer,
  HEARTBEAT,
  isServiceName,
  MAX_BODY_FRAMES,
  MAX_ENVELOPE_FRAMES,
  workerCommand,
  workerReady,
  workerReply,
} from "../internal/mdp.ts";
import { answer, lookup } from "../internal/reputation.ts";

const b = (...parts: (string | number[])[]) => parts.map((p) => (Array.isArray(p) ? Buffer.from(p) : Buffer.from(p)));
const ID = "peer";

describe("builders write the RFC's frames", () => {
  const cases: [string, Buffer[], (string | number[])[]][] = [
    ["client REQUEST", clientRequest("echo", b("x", "y")), ["", "MDPC01", "echo", "x", "y"]],
    ["client REQUEST with a tag", clientRequest("echo", b("x"), b("t")), ["t", "", "MDPC01", "echo", "x"]],
    ["REPLY to a client", clientReply(b(ID), "echo", b("x")), [ID, "", "MDPC01", "echo", "x"]],
    ["error reply", clientReply(b(ID), "echo", errorBody("504", "late")), [ID, "", "MDPC01", "echo", "mmi.error", "504", "late"]],
    ["READY", workerReady("echo"), ["", "MDPW01", [1], "echo"]],
    ["worker REPLY", workerReply(Buffer.from("c"), b("r")), ["", "MDPW01", [3], "c", "", "r"]],
    ["worker HEARTBEAT", workerCommand(HEARTBEAT), ["", "MDPW01", [4]]],
    ["worker DISCONNECT", workerCommand(DISCONNECT), ["", "MDPW01", [5]]],
    ["broker REQUEST", brokerRequest(Buffer.from("w"), Buffer.from("c"), b("q")), ["w", "", "MDPW01", [2], "c", "", "q"]],
    ["broker HEARTBEAT", brokerCommand(Buffer.from("w"), HEARTBEAT), ["w", "", "MDPW01", [4]]],
    ["broker DISCONNECT", brokerCommand(Buffer.from("w"), DISCONNECT), ["w", "", "MDPW01", [5]]],
  ];
  it.each(cases)("%s", (_, frames, expected) => expect(frames).toEqual(b(...expected)));
});

describe("fromPeer (the broker's ROUTER)", () => {
  const cases: [string, (string | number[])[], Record<string, unknown>][] = [
    ["client request", [ID, "", "MDPC01", "echo", "x"], { kind: "request", service: "echo" }],
    ["client request behind a tag", [ID, "tag", "", "MDPC01", "echo", "x"], { kind: "request", service: "echo" }],
    ["client request, no body", [ID, "", "MDPC01", "echo"], { kind: "invalid", reason: "client REQUEST without a body" }],
    ["client request, empty service", [ID, "", "MDPC01", "", "x"], { kind: "invalid" }],
    ["client request, unprintable service", [ID, "", "MDPC01", "a\tb", "x"], { kind: "invalid" }],
    ["client request, 256-character service", [ID, "", "MDPC01", "s".repeat(256), "x"], { kind: "invalid" }],
    [
      "client request, too many routing frames",
      [ID, ...Array(MAX_ENVELOPE_FRAMES).fill("r"), "", "MDPC01", "echo", "x"],
      { kind: "invalid" },
    ],
    ["client request, too many body frames", [ID, "", "MDPC01", "echo", ...Array(MAX_BODY_FRAMES + 1).fill("x")], { kind: "invalid" }],
    ["no delimiter", [ID, "MDPC01", "echo"], { kind: "invalid" }],
    ["other header", [ID, "", "MDPC02", "echo", "x"], { kind: "invalid", reason: "neither MDPC01 nor MDPW01" }],
    ["nothing but an identity", [ID], { kind: "invalid" }],
    ["READY", [ID, "", "MDPW01", [1], "echo"], { kind: "ready", service: "echo" }],
    ["READY without a service", [ID, "", "MDPW01", [1]], { kind: "violation", reason: "wrong frame count" }],
    ["READY mmi.x", [ID, "", "MDPW01", [1], "mmi.x"], { kind: "violation", reason: "READY for an mmi.* service" }],
    ["REPLY", [ID, "", "MDPW01", [3], "c", "", "r"], { kind: "reply" }],
    ["REPLY without a body", [ID, "", "MDPW01", [3], "c", ""], { kind: "violation", reason: "wrong frame count" }],
    ["REPLY, no empty frame", [ID, "", "MDPW01", [3], "c", "x", "r"], { kind: "violation", reason: "wrong frame count" }],
    [
      "REPLY posing as an error",
      [ID, "", "MDPW01", [3], "c", "", "mmi.error", "504"],
      { kind: "violation", reason: "REPLY posing as a broker error" },
    ],
    ["HEARTBEAT", [ID, "", "MDPW01", [4]], { kind: "heartbeat" }],
    ["HEARTBEAT + 1", [ID, "", "MDPW01", [4], "x"], { kind: "violation", reason: "wrong frame count" }],
    ["DISCONNECT", [ID, "", "MDPW01", [5]], { kind: "disconnect" }],
    ["REQUEST from a worker", [ID, "", "MDPW01", [2], "c", "", "x"], { kind: "violation", reason: "REQUEST from a worker" }],
    ["command 0x00", [ID, "", "MDPW01", [0]], { kind: "violation", reason: "unknown command" }],
    ["two-byte command", [ID, "", "MDPW01", [1, 1], "x"], { kind: "violation", reason: "unknown command" }],
    ["worker command behind a routing frame", [ID, "r", "", "MDPW01", [4]], { kind: "invalid" }],
  ];
  it.each(cases)("%s", (_, frames, expected) => expect(fromPeer(b(...frames))).toMatchObject(expected));

  it("keeps the whole envelope of a request, for its reply", () => {
    const msg = fromPeer(b(ID, "t1", "t2", "", "MDPC01", "echo", "x"));
    expect(msg.kind === "request" && msg.envelope.map(String)).toEqual([ID, "t1", "t2"]);
  });
});

describe("fromBroker (a worker's DEALER)", () => {
  const cases: [string, (string | number[])[], string][] = [
    ["REQUEST", ["", "MDPW01", [2], "c", "", "x"], "request"],
    ["REQUEST without a body", ["", "MDPW01", [2], "c", ""], "invalid"],
    ["REQUEST without a client", ["", "MDPW01", [2], "", "", "x"], "invalid"],
    ["HEARTBEAT", ["", "MDPW01", [4]], "heartbeat"],
    ["DISCONNECT", ["", "MDPW01", [5]], "disconnect"],
    ["DISCONNECT + 1", ["", "MDPW01", [5], "x"], "invalid"],
    ["READY from a broker", ["", "MDPW01", [1], "x"], "invalid"],
    ["client header", ["", "MDPC01", [4]], "invalid"],
    ["no empty frame", ["MDPW01", [4]], "invalid"],
  ];
  it.each(cases)("%s", (_, frames, kind) => expect(fromBroker(b(...frames)).kind).toBe(kind));
});

describe("clientReplyOf (a client's DEALER)", () => {
  it("a reply, an error reply, garbage", () => {
    expect(clientReplyOf(b("", "MDPC01", "echo", "x"))).toMatchObject({ kind: "reply", service: "echo" });
    expect(clientReplyOf(b("", "MDPC01", "echo", "mmi.error", "504", "late"))).toMatchObject({
      kind: "error",
      code: "504",
      reason: "late",
    });
    expect(clientReplyOf(b("", "MDPC01", "echo", "mmi.error", "five"))).toMatchObject({ kind: "invalid" });
    expect(clientReplyOf(b("", "MDPC01", "echo"))).toMatchObject({ kind: "invalid" });
    expect(clientReplyOf(b("", "MDPW01", "echo", "x"))).toMatchObject({ kind: "invalid" });
    expect(clientReplyOf(b("t", "", "MDPC01", "echo", "x"), 1)).toMatchObject({ kind: "reply" });
    expect(clientReplyOf(b("", "MDPC01", "echo", "x"), 1)).toMatchObject({ kind: "invalid" });
  });

  it("service names: printable ASCII, 1 to 255", () => {
    expect(["echo", "intel.hash", "a b", "~".repeat(255)].every(isServiceName)).toBe(true);
    expect(["", "é", "a\nb", "x".repeat(256)].some(isServiceName)).toBe(false);
  });
});

describe("the hash reputation table", () => {
  it.each([
    ["275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "malicious"],
    ["275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F", "malicious"],
    ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "benign"],
    ["0".repeat(64), "unknown"],
    ["../../etc/passwd", "invalid"],
    ["", "invalid"],
  ])("%s → %s", (hash, verdict) => expect(lookup(hash).verdict).toBe(verdict));

  it("answers [verdict, detail]; a request of several frames is invalid, not an error", () => {
    expect(answer(b("0".repeat(64))).map(String)).toEqual(["unknown", "not in the local table"]);
    expect(answer(b("a", "b"))[0]?.toString()).toBe("invalid");
  });
});

describe("the client requester and the flags", () => {
  const config = {
    broker: "",
    timeoutMs: 1,
    retries: 1,
    async: false,
    inFlight: 1,
    rate: 1,
    count: 0,
    hashes: [],
    echoService: "echo",
    hashService: "intel.hash",
  };
  it("asks echo and intel.hash in turn, and mmi.service every tenth", () => {
    expect(Array.from({ length: 10 }, (_, n) => nthRequest(n, config).service)).toEqual([
      "echo",
      "intel.hash",
      "echo",
      "intel.hash",
      "echo",
      "intel.hash",
      "echo",
      "intel.hash",
      "echo",
      "mmi.service",
    ]);
  });

  it("rejects an mmi.* or unprintable service, a hash that is not one", () => {
    expect(checkService({ service: "mmi.x" })).toMatch(/mmi\./);
    expect(checkService({ service: "bad\tname" })).toMatch(/printable/);
    expect(checkService({ service: "echo" })).toBeUndefined();
    expect(checkClient({ echoService: "echo", hashService: "intel.hash", hashes: ["abc"] })).toMatch(/SHA-256/);
  });

  it("errors say what happened", () => {
    expect(new MdpTimeout("echo", 3, 2500).message).toBe('no reply from service "echo" after 3 attempts of 2500 ms');
    expect(new MdpServiceError("echo", "504", "late")).toMatchObject({
      expired: true,
      message: 'broker answered 504 for service "echo": late',
    });
  });
});
