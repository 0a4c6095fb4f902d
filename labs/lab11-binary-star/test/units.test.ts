// Protocol decoders, the ticket desk, and the configuration's checks and defaults.
import { encode, tryParseConfig } from "@zlabs/kit";
import { describe, expect, it } from "vitest";
import { brokerConfig, brokerOptions, checkClient, clientConfig, clientOptions } from "../internal/config.ts";
import {
  encodeReply,
  encodeRequest,
  fromClient,
  fromPeer,
  fromServer,
  fromSubscriber,
  MAX_CLIENT_CHARS,
  stateFrame,
} from "../internal/protocol.ts";
import { MAX_CLIENTS, TicketDesk } from "../internal/tickets.ts";

const id = Buffer.from("client-id");
const empty = Buffer.alloc(0);

describe("the state link (one ASCII digit, as bstar.c sends it)", () => {
  it("sends and reads the four states", () => {
    expect(stateFrame("primary").toString()).toBe("1");
    expect(stateFrame("passive").toString()).toBe("4");
    for (const s of ["primary", "backup", "active", "passive"] as const)
      expect(fromPeer([stateFrame(s)])).toEqual({ kind: "state", state: s });
  });

  it.each([
    [[Buffer.from("0")]],
    [[Buffer.from("5")]],
    [[Buffer.from("33")]],
    [[Buffer.from("3\n")]],
    [[Buffer.from([3])]],
    [[empty]],
    [[Buffer.from("3"), Buffer.from("3")]],
    [[]],
  ])("refuses %j", (frames) => {
    expect(fromPeer(frames as Buffer[]).kind).toBe("invalid");
  });
});

describe("subscriptions on the state XPUB", () => {
  it("reads subscribe and unsubscribe, refuses anything else", () => {
    expect(fromSubscriber([Buffer.from([1])])).toMatchObject({ kind: "subscribe" });
    expect(fromSubscriber([Buffer.from([0, 0x33])])).toMatchObject({ kind: "unsubscribe", topic: Buffer.from("3") });
    expect(fromSubscriber([Buffer.from([2])]).kind).toBe("invalid");
    expect(fromSubscriber([empty]).kind).toBe("invalid");
    expect(fromSubscriber([Buffer.from([1]), Buffer.from([1])]).kind).toBe("invalid");
  });
});

describe("ticket requests and replies", () => {
  const req = encodeRequest({ v: 1, seq: 7, client: "c1" });

  it("takes [identity, '', request] at the front end", () => {
    expect(fromClient([id, empty, req])).toEqual({ kind: "request", identity: id, request: { v: 1, seq: 7, client: "c1" } });
  });

  it.each([
    ["no delimiter", [id, req]],
    ["a non-empty delimiter", [id, Buffer.from("x"), req]],
    ["extra frames", [id, empty, req, req]],
    ["no identity", []],
    ["seq 0", [id, empty, encode({ v: 1, seq: 0, client: "c" })]],
    ["seq fractional", [id, empty, encode({ v: 1, seq: 1.5, client: "c" })]],
    ["seq past 2^53", [id, empty, encode({ v: 1, seq: 2 ** 60, client: "c" })]],
    ["a long client name", [id, empty, encode({ v: 1, seq: 1, client: "x".repeat(MAX_CLIENT_CHARS + 1) })]],
    ["an empty client name", [id, empty, encode({ v: 1, seq: 1, client: "" })]],
    ["version 2", [id, empty, encode({ v: 2, seq: 1, client: "c" })]],
    ["not MessagePack", [id, empty, Buffer.from([0xc1])]],
  ])("drops a request with %s", (_what, frames) => {
    expect(fromClient(frames as Buffer[]).kind).toBe("invalid");
  });

  it("reads a reply, and refuses a malformed one", () => {
    const reply = encodeReply({ v: 1, seq: 7, ticket: 3, server: "backup" });
    expect(fromServer([reply])).toEqual({ kind: "reply", reply: { v: 1, seq: 7, ticket: 3, server: "backup" } });
    expect(fromServer([reply, reply]).kind).toBe("invalid");
    expect(fromServer([encode({ v: 1, seq: 7, ticket: 0, server: "backup" })]).kind).toBe("invalid");
    expect(fromServer([encode({ v: 1, seq: 7, ticket: 1, server: "third" })]).kind).toBe("invalid");
  });
});

describe("the ticket desk", () => {
  it("numbers tickets from 1 and counts clients", () => {
    const desk = new TicketDesk();
    expect([desk.take("a"), desk.take("b"), desk.take("a")]).toEqual([1, 2, 3]);
    expect(desk).toMatchObject({ issued: 3, nextTicket: 4, clients: 2 });
  });

  it("remembers at most MAX_CLIENTS clients", () => {
    const desk = new TicketDesk();
    for (let i = 0; i < MAX_CLIENTS + 5; i++) desk.take(`c${i}`);
    expect(desk.clients).toBe(MAX_CLIENTS);
  });
});

describe("configuration", () => {
  const broker = (argv: string[]) =>
    brokerConfig(tryParseConfig({ lab: "lab11", role: "ha-broker", describe: "", options: brokerOptions }, argv, {}));

  it("derives each role's endpoints from --role (the Guide's layout on ports 5111-5114)", () => {
    expect(broker(["--role", "primary"])).toEqual({
      role: "primary",
      front: "tcp://127.0.0.1:5111",
      stateBind: "tcp://127.0.0.1:5113",
      peerState: "tcp://127.0.0.1:5114",
      heartbeatMs: 1000,
    });
    expect(broker(["--role", "backup", "--heartbeat", "200"])).toMatchObject({
      front: "tcp://127.0.0.1:5112",
      stateBind: "tcp://127.0.0.1:5114",
      peerState: "tcp://127.0.0.1:5113",
      heartbeatMs: 200,
    });
  });

  it("refuses a missing or unknown role and a bad endpoint, in one line", () => {
    expect(() => broker([])).toThrow(/role/);
    expect(() => broker(["--role", "tertiary"])).toThrow(/role/);
    expect(() => broker(["--role", "primary", "--front", "localhost:5111"])).toThrow(/--front .*ZeroMQ endpoint/);
    expect(() => broker(["--role", "primary", "--heartbeat", "5"])).toThrow(/--heartbeat .*at least 10/);
  });

  it("takes two servers for the client, as one flag or two", () => {
    const parse = (argv: string[]) =>
      tryParseConfig({ lab: "lab11", role: "client-app", describe: "", options: clientOptions, check: checkClient }, argv, {});
    expect(clientConfig(parse(["--servers", "tcp://a:1,tcp://b:2"])).servers).toEqual(["tcp://a:1", "tcp://b:2"]);
    expect(clientConfig(parse(["--servers", "tcp://a:1", "tcp://b:2"])).servers).toEqual(["tcp://a:1", "tcp://b:2"]);
    expect(() => parse(["--servers", "tcp://a:1"])).toThrow(/two endpoints/);
    expect(() => parse(["--servers", "tcp://a:1", "b:2"])).toThrow(/not a ZeroMQ endpoint/);
    expect(() => parse(["--id", "x".repeat(65)])).toThrow(/--id/);
  });
});
