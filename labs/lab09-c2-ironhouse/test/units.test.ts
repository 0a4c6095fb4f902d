// Units: the ZAP frames, the address rules and the policy, command signing and the replay cache,
// the sealed replies, the harmless commands, key files and cert-tool.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encode } from "@zlabs/kit";
import { readKeyPair } from "lab19/certificates";
import { generateKeyPair } from "lab19/keys";
import { z85Decode, z85Encode } from "lab19/z85";
import nacl from "tweetnacl";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AddressRules, CertificateStore, ironhousePolicy } from "../internal/cert-store.ts";
import { admit, certFile, list, revoke, runCertTool } from "../internal/cert-tool.ts";
import { checkArgs, prepareSandbox, runCommand } from "../internal/commands.ts";
import {
  authorise,
  decodeCommand,
  generateOperator,
  MAX_COMMAND_TTL_MS,
  ReplayCache,
  readOperator,
  signCommand,
  writeOperator,
} from "../internal/operator.ts";
import { BOX_NONCE_PREFIX, decodeReply, fromAgent, fromServer, seal, unseal } from "../internal/protocol.ts";
import { decodeMetadata, encodeMetadata, fromZapClient, type ZapRequest, zapReply } from "../internal/zap.ts";
import { type DemoKeys, freshKeys, recordingLogger } from "./helpers.ts";

const b = (s: string) => Buffer.from(s);
const E = Buffer.alloc(0);
const KEY = Buffer.alloc(32, 7);

describe("ZAP request decoder (RFC 27)", () => {
  const good = [b("id"), E, b("1.0"), b("1"), b("c2"), b("127.0.0.1"), E, b("CURVE"), KEY];
  it.each([
    ["a CURVE request", good, "request"],
    ["a NULL request", [b("id"), E, b("1.0"), b("7"), b("d"), b("::1"), E, b("NULL")], "request"],
    ["a PLAIN request", [b("id"), E, b("1.0"), b("7"), b("d"), b("::1"), E, b("PLAIN"), b("u"), b("p")], "request"],
    ["no delimiter", [b("id"), b("x"), b("1.0"), b("1")], "invalid"],
    ["only an envelope", [b("id"), E], "invalid"],
    ["an empty routing id", [E, E, b("1.0"), b("1")], "invalid"],
    ["version 2.0", [...good.slice(0, 2), b("2.0"), ...good.slice(3)], "malformed"],
    ["too few frames", good.slice(0, 7), "malformed"],
    ["unknown mechanism", [...good.slice(0, 7), b("GSSAPI"), KEY], "malformed"],
    ["a CURVE key of 31 bytes", [...good.slice(0, 8), Buffer.alloc(31)], "malformed"],
    ["CURVE with two credentials", [...good, KEY], "malformed"],
    ["PLAIN with one credential", [...good.slice(0, 7), b("PLAIN"), b("u")], "malformed"],
    ["a domain over 255 bytes", [...good.slice(0, 4), Buffer.alloc(300, 0x61), ...good.slice(5)], "malformed"],
    ["too many frames", [...good, ...Array(10).fill(E)], "malformed"],
  ])("%s -> %s", (_what, frames, kind) => {
    expect(fromZapClient(frames as Buffer[]).kind).toBe(kind);
  });

  it("a reply is exactly 7 frames after the envelope, the request id echoed; user id and metadata only with 200", () => {
    const ok = zapReply(b("id"), b("42"), { status: 200, text: "OK", userId: "me", metadata: { Name: "agent-1" } });
    expect(ok.map(String).slice(0, 7)).toEqual(["id", "", "1.0", "42", "200", "OK", "me"]);
    expect(decodeMetadata(ok[7] as Buffer)).toEqual({ Name: "agent-1" });
    const no = zapReply(b("id"), b("42"), { status: 400, text: "No access", userId: "me", metadata: { Name: "x" } });
    expect(no.map(String)).toEqual(["id", "", "1.0", "42", "400", "No access", "", ""]);
  });

  it("metadata is ZMTP properties: name length, name, 4-byte big-endian value length, value", () => {
    expect(encodeMetadata({ A: "bc" })).toEqual(Buffer.from([1, 0x41, 0, 0, 0, 2, 0x62, 0x63]));
    expect(decodeMetadata(Buffer.from([1, 0x41, 0, 0, 0, 9]))).toBeUndefined();
  });
});

describe("address rules (zauth)", () => {
  it("deny wins, an allow list excludes the rest, CIDR subnets work, IPv6 too", () => {
    expect(new AddressRules().refusal("127.0.0.1")).toBeUndefined();
    expect(new AddressRules([], ["127.0.0.1"]).refusal("127.0.0.1")).toMatch(/deny list/);
    expect(new AddressRules(["127.0.0.0/8"], ["127.0.0.2"]).refusal("127.0.0.2")).toMatch(/deny list/);
    expect(new AddressRules(["127.0.0.0/8"]).refusal("127.9.9.9")).toBeUndefined();
    expect(new AddressRules(["10.0.0.0/8"]).refusal("127.0.0.1")).toMatch(/not on the allow list/);
    expect(new AddressRules(["::1"]).refusal("::1")).toBeUndefined();
    expect(new AddressRules().refusal("not-an-ip")).toMatch(/not an IP/);
  });

  it.each(["localhost", "10.0.0.0/33", "1.2.3.4/8/9", "1.2.3.4/x"])("refuses the entry %s", (entry) => {
    expect(() => new AddressRules([entry])).toThrow(entry);
  });
});

describe("with a key folder", () => {
  let keys: DemoKeys;
  beforeAll(async () => {
    keys = await freshKeys();
  });
  afterAll(() => keys.cleanup());

  const request = (over: Partial<ZapRequest>): ZapRequest => ({
    routingId: b("r"),
    requestId: b("1"),
    domain: "c2",
    address: "127.0.0.1",
    identity: E,
    mechanism: "CURVE",
    credentials: [KEY],
    ...over,
  });

  it("the policy: domain, address, mechanism, then the key in the store", async () => {
    const { log } = recordingLogger("units");
    const store = new CertificateStore(keys.layout.store, log);
    const agent1 = (await readKeyPair(certFile(keys.layout.agents, "agent-1"))).publicKey;
    const stranger = (await readKeyPair(certFile(keys.layout.agents, "stranger"))).publicKey;
    const raw = (k: string) => Buffer.from((z85Decode(k) as { value: Buffer }).value);
    const policy = ironhousePolicy({ domain: "c2", store, rules: new AddressRules([], ["10.1.1.1"]) });
    expect(await policy(request({ credentials: [raw(agent1)] }))).toMatchObject({
      status: 200,
      userId: agent1,
      metadata: { Name: "agent-1" },
    });
    expect(await policy(request({ credentials: [raw(stranger)] }))).toMatchObject({ status: 400, text: "No access: unknown key" });
    expect(await policy(request({ domain: "other", credentials: [raw(agent1)] }))).toMatchObject({ status: 400 });
    expect(await policy(request({ address: "10.1.1.1", credentials: [raw(agent1)] }))).toMatchObject({ status: 400, text: /deny list/ });
    expect(await policy(request({ mechanism: "NULL", credentials: [] }))).toMatchObject({ status: 400, text: /CURVE only/ });
    // Hot reload: a new public file admits the key at the next lookup; removing it refuses it again.
    await admit(keys.layout, "stranger");
    expect(await policy(request({ credentials: [raw(stranger)] }))).toMatchObject({ status: 200 });
    await revoke(keys.layout, "stranger");
    expect(await policy(request({ credentials: [raw(stranger)] }))).toMatchObject({ status: 400 });
  });

  it("cert-tool: create refuses to overwrite without --force, list, revoke and admit move the public file", async () => {
    const lines: string[] = [];
    const opts = { admit: true, force: false, json: false };
    await runCertTool(["create", "agent-9"], keys.layout, opts, (l) => lines.push(l));
    expect(existsSync(certFile(keys.layout.store, "agent-9"))).toBe(true);
    await expect(runCertTool(["create", "agent-9"], keys.layout, opts, () => {})).rejects.toThrow(
      /exists: not overwriting it without --force/,
    );
    await runCertTool(["revoke", "agent-9"], keys.layout, opts, (l) => lines.push(l));
    expect((await list(keys.layout)).find((c) => c.name === "agent-9")?.state).toBe("revoked");
    await runCertTool(["admit", "agent-9"], keys.layout, opts, (l) => lines.push(l));
    expect((await list(keys.layout)).find((c) => c.name === "agent-9")?.state).toBe("admitted");
    await expect(runCertTool(["revoke", "../x"], keys.layout, opts, () => {})).rejects.toThrow(/certificate name/);
    await expect(runCertTool(["frobnicate"], keys.layout, opts, () => {})).rejects.toThrow(/unknown command/);
    // Never a secret key in what it prints.
    const secret = (await readKeyPair(certFile(keys.layout.agents, "agent-9"))).secretKey;
    expect(lines.join("\n")).not.toContain(secret);
  });

  it("key files with loose permissions are refused with a clear error (CURVE and operator secrets)", async () => {
    const dir = join(keys.layout.root, "loose");
    mkdirSync(dir, { recursive: true });
    copyFileSync(`${certFile(keys.layout.agents, "agent-1")}_secret`, join(dir, "a_secret"));
    chmodSync(join(dir, "a_secret"), 0o644);
    await expect(readKeyPair(join(dir, "a"))).rejects.toThrow(/mode 0644: group or others may read it; chmod 600/);
    await writeOperator(join(dir, "op"), generateOperator("op"));
    chmodSync(join(dir, "op_secret"), 0o640);
    await expect(readOperator(join(dir, "op"))).rejects.toThrow(/secret key file with mode 0640: group or others may read it; chmod 600/);
    chmodSync(join(dir, "op_secret"), 0o600);
    expect((await readOperator(join(dir, "op"))).name).toBe("op");
    expect(readFileSync(join(dir, "op"), "utf8")).not.toMatch(/secret-key/);
  });

  it("commands run inside the sandbox only; rotate-log keeps 3", async () => {
    const sandbox = join(keys.layout.root, "sandbox", "unit");
    await prepareSandbox(sandbox);
    writeFileSync(join(sandbox, "agent.log"), "line\n");
    const facts = { name: "unit", startedAt: Date.now(), run: 0, refused: 0 };
    expect(await runCommand("list", {}, sandbox, facts)).toMatchObject({ entries: ["agent.log", "reports"] });
    for (let i = 0; i < 5; i++) await runCommand("rotate-log", {}, sandbox, facts);
    expect((await runCommand("list", {}, sandbox, facts)).entries).toEqual([
      "agent.log",
      "agent.log.1",
      "agent.log.2",
      "agent.log.3",
      "reports",
    ]);
    expect(checkArgs("list", { dir: "../.." }).ok).toBe(false);
    expect(checkArgs("list", { dir: "/etc" }).ok).toBe(false);
    expect(checkArgs("list", { dir: "reports", rm: "-rf" }).ok).toBe(false);
    expect(checkArgs("status", { x: "1" }).ok).toBe(false);
  });
});

describe("signed commands", () => {
  const op = generateOperator("ops");
  const other = generateOperator("mallory");
  const agentKey = generateKeyPair().publicKey;
  const now = 1_800_000_000_000;
  const fields = (over = {}) => ({
    agent: agentKey,
    nonce: Buffer.alloc(16, 1),
    issued: now,
    expires: now + 5000,
    command: "status" as const,
    args: {},
    ...over,
  });
  const self = () => ({ agentKey, trusted: [op.publicKey], replay: new ReplayCache() });

  it("a valid command is authorised once; the same nonce again is a replay", () => {
    const s = self();
    const signed = signCommand(op, fields());
    expect(authorise(signed, s, now)).toMatchObject({ ok: true, command: { command: "status" } });
    expect(authorise(signed, s, now + 1)).toMatchObject({ ok: false, reason: "replayed nonce" });
  });

  it.each([
    [
      "an altered body (forged)",
      () => ({ ...signCommand(op, fields()), body: Buffer.from(encode({ v: 1, command: "status" })) }),
      /bad signature/,
    ],
    [
      "a flipped signature bit",
      () => {
        const s = signCommand(op, fields());
        s.signature[0] = (s.signature[0] as number) ^ 1;
        return s;
      },
      /bad signature/,
    ],
    ["an untrusted operator", () => signCommand(other, fields()), /bad signature/],
    ["another agent", () => signCommand(op, fields({ agent: generateKeyPair().publicKey })), /another agent/],
    ["expired", () => signCommand(op, fields({ expires: now - 1 })), /expired/],
    ["valid too far ahead", () => signCommand(op, fields({ expires: now + MAX_COMMAND_TTL_MS + 1 })), /too far ahead/],
    ["issued in the future", () => signCommand(op, fields({ issued: now + 60_000, expires: now + 1000 })), /too far ahead/],
    ["an unknown command", () => signCommand(op, fields({ command: "shell" as never, args: { cmd: "rm -rf /" } })), /unknown command/],
    ["a path outside the sandbox", () => signCommand(op, fields({ command: "list", args: { dir: "../../etc" } })), /inside the sandbox/],
  ])("refuses %s", (_what, make, reason) => {
    expect(authorise(make(), self(), now)).toMatchObject({ ok: false, reason: expect.stringMatching(reason) });
  });

  it("the replay cache is bounded: full of live nonces it refuses; expired ones are purged", () => {
    const cache = new ReplayCache(2);
    expect(cache.admit(Buffer.from("a"), now + 10, now)).toBe("fresh");
    expect(cache.admit(Buffer.from("b"), now + 10, now)).toBe("fresh");
    expect(cache.admit(Buffer.from("c"), now + 10, now)).toBe("full");
    expect(cache.admit(Buffer.from("c"), now + 30, now + 20)).toBe("fresh");
    expect(cache.size).toBe(1);
  });

  it("decodeCommand refuses a body that is not a command", () => {
    expect(decodeCommand(Buffer.from([0xc1])).ok).toBe(false);
    expect(decodeCommand(encode({ v: 2 })).ok).toBe(false);
  });
});

describe("the C2 frames", () => {
  const agent = nacl.box.keyPair();
  const server = nacl.box.keyPair();
  const sealed = seal(
    "reply",
    { v: 1, nonce: Buffer.alloc(16), command: "status", status: "done", output: { a: 1 } },
    agent,
    server.publicKey,
  );

  it("a sealed reply opens only with the agent's key and the server's secret", () => {
    const msg = fromAgent([b("route"), ...sealed]);
    expect(msg.kind).toBe("reply");
    if (msg.kind !== "reply") return;
    expect(msg.nonce.subarray(0, 8)).toEqual(BOX_NONCE_PREFIX);
    const plain = unseal(msg, server.secretKey);
    expect(plain && decodeReply(plain)).toMatchObject({ ok: true, value: { status: "done", output: { a: 1 } } });
    // The same box presented under another agent's key does not open: a reply cannot be claimed by another agent.
    expect(unseal({ ...msg, agentKey: Buffer.from(nacl.box.keyPair().publicKey) }, server.secretKey)).toBeUndefined();
  });

  it.each([
    ["a word that is neither", [b("r"), b("HELO"), ...sealed.slice(1)]],
    ["a key of 31 bytes", [b("r"), sealed[0], Buffer.alloc(31), ...sealed.slice(2)]],
    ["a nonce without the prefix", [b("r"), sealed[0], sealed[1], Buffer.alloc(24), sealed[3]]],
    ["a frame too many", [b("r"), ...sealed, E]],
    ["no routing id", [E, ...sealed]],
  ])("fromAgent refuses %s", (_what, frames) => {
    expect(fromAgent(frames as Buffer[]).kind).toBe("invalid");
  });

  it("fromServer takes COMMAND with a 64-byte signature only", () => {
    expect(fromServer([b("COMMAND"), b("x"), Buffer.alloc(64)]).kind).toBe("command");
    expect(fromServer([b("COMMAND"), b("x"), Buffer.alloc(63)]).kind).toBe("invalid");
    expect(fromServer([b("COMMAND"), E, Buffer.alloc(64)]).kind).toBe("invalid");
    expect(fromServer([b("STATUS")]).kind).toBe("invalid");
  });

  it("a Z85 key round-trips through lab19", () => {
    const k = generateKeyPair().publicKey;
    expect(z85Encode((z85Decode(k) as { value: Buffer }).value)).toBe(k);
  });
});

describe("secrets never reach a log", () => {
  it("the kit's logger redacts secretKey fields, and the agent and server configs keep secrets under that name", () => {
    const { log, text } = recordingLogger("units");
    const secret = generateKeyPair().secretKey;
    log.info({ config: { secretKey: secret, curveSecretKey: secret }, secretKey: secret }, "config");
    expect(text.join("\n")).not.toContain(secret);
    expect(text.join("\n")).toContain("[redacted]");
  });
});
