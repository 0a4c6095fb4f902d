// The README's wire tables are what a peer in another language writes its code from: every field's
// type there must be the MessagePack type that actually goes on the wire (issue 10, found case 7).
import { readFileSync } from "node:fs";
import { decode, isMap } from "@zlabs/kit";
import { ANY_LOOPBACK_TCP, SocketJar, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Subscriber } from "zeromq";
import { HostSampler } from "../internal/metrics.ts";
import { MonitorAgent } from "../internal/monitor-agent.ts";
import { testLog } from "./fixtures.ts";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const jar = new SocketJar();
const agents: MonitorAgent[] = [];
afterEach(() => {
  for (const a of agents.splice(0)) a.close();
  jar.closeAll();
});

/** The MessagePack family of an encoded value, from its first byte. */
function family(bytes: Buffer): string {
  const b = bytes[0] as number;
  if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3)) return "int";
  if (b === 0xca || b === 0xcb) return "float";
  if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)) return "str";
  if ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf) return "map";
  if (b >= 0xc4 && b <= 0xc6) return "bin";
  return `0x${b.toString(16)}`;
}

/** What a README type word allows on the wire: "number" is an int when whole, else a float. */
const ALLOWED: Record<string, string[]> = {
  int: ["int"],
  float: ["float"],
  float64: ["float"],
  int64: ["int"],
  number: ["int", "float"],
  str: ["str"],
  map: ["map"],
  bin: ["bin"],
};

/** `field` -> the first word of its "Sent as" cell, from every field table of the Wire protocol section. */
function documentedTypes(): Map<string, string> {
  const section = readme.split("## Wire protocol")[1]?.split("\n## ")[0] ?? "";
  const types = new Map<string, string>();
  for (const m of section.matchAll(/^\| `([A-Za-z][A-Za-z0-9.]*)`\s*\|\s*([A-Za-z0-9]+)/gm)) types.set(m[1] as string, m[2] as string);
  return types;
}

/**
 * Each field of a MessagePack map on the wire (nested maps as `outer.inner`) with the family of its
 * value, read from the byte after the field's key (a fixstr: every key here is short and distinct).
 */
function wireTypes(body: Buffer): Map<string, string> {
  const decoded = decode(body);
  if (!decoded.ok) throw new Error(decoded.reason);
  const out = new Map<string, string>();
  const walk = (map: Record<string, unknown>, prefix: string, from: number) => {
    for (const [key, value] of Object.entries(map)) {
      const k = Buffer.concat([Buffer.from([0xa0 | key.length]), Buffer.from(key)]);
      const at = body.indexOf(k, from) + k.length;
      out.set(`${prefix}${key}`, family(body.subarray(at)));
      if (isMap(value)) walk(value, `${prefix}${key}.`, at);
    }
  };
  if (isMap(decoded.value)) walk(decoded.value, "", 0);
  return out;
}

describe("the README's wire tables", () => {
  it("give every heartbeat field the MessagePack type the agent sends", async () => {
    const agent = new MonitorAgent(
      { id: "readme", rack: "rack1", bind: ANY_LOOPBACK_TCP, intervalMs: 1000, simulate: "critical" },
      new HostSampler(),
      testLog,
    );
    agents.push(agent);
    await agent.bind();
    const sub = jar.add(new Subscriber());
    sub.connect(agent.endpoint);
    sub.subscribe("hb.");
    const received = new Promise<Buffer[]>((resolve) => void sub.receive().then(resolve, () => {}));
    const pump = setInterval(() => void agent.beat(), 20);
    const [, body] = await withDeadline(received, 10_000, "a heartbeat").finally(() => clearInterval(pump));

    const documented = documentedTypes();
    const onWire = wireTypes(body as Buffer);
    for (const [field, sent] of onWire) {
      const word = documented.get(field);
      expect(word, `${field} is in the README's wire tables`).toBeDefined();
      expect(ALLOWED[word as string], `${field}: README says ${word}, the wire has ${sent}`).toContain(sent);
    }
    expect([...documented.keys()].filter((f) => !onWire.has(f))).toEqual([]);
  });
});
