// The README's header table is what a peer in another language writes its code from: each field's
// "Sent as" must be the MessagePack type that the real source puts on the wire.
import { readFileSync } from "node:fs";
import { SocketJar, Tasks, testLogger, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { XSubscriber } from "zeromq";
import { decodeSample } from "../internal/protocol.ts";
import { TelemetrySource } from "../internal/telemetry-source.ts";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const jar = new SocketJar();
const tasks = new Tasks();
afterEach(async () => {
  await tasks.stopAll();
  jar.closeAll();
});

/** MessagePack type bytes each README word stands for: int formats, float32/64, str formats. */
const TYPE_BYTES: Record<string, (b: number) => boolean> = {
  int: (b) => b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3),
  float64: (b) => b === 0xcb,
  int64: (b) => b === 0xd3 || b === 0xcf,
  str: (b) => (b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb),
};

describe("the README's header table", () => {
  it("says, for every header field, the MessagePack type the source sends", async () => {
    const rows = [...readme.matchAll(/^\| `(\w+)`\s*\|\s*(\w+)\s*\|/gm)].map((m) => [m[1] as string, m[2] as string] as const);
    const xsub = jar.add(new XSubscriber());
    await xsub.bind("tcp://127.0.0.1:*");
    await xsub.send(Buffer.from([1]));
    const source = new TelemetrySource(
      { id: "readme", site: "plant1", devices: 1, broker: xsub.lastEndpoint as string, intervalMs: 20, churn: 0, limit: 0 },
      testLogger("lab04"),
      () => {},
    );
    void tasks.run((s) => source.run(s));
    const frames = await withDeadline(xsub.receive(), 10_000, "a sample");
    const sample = decodeSample(frames);
    if (sample.kind !== "sample") throw new Error(sample.reason);
    const header = frames[1] as Buffer;

    expect(rows.map(([field]) => field).sort()).toEqual(Object.keys(sample.header).sort());
    for (const [field, word] of rows) {
      // The byte after the key (a fixstr: these keys are short and distinct) is the value's type.
      const key = Buffer.concat([Buffer.from([0xa0 | field.length]), Buffer.from(field)]);
      const typeByte = header[header.indexOf(key) + key.length] as number;
      expect(TYPE_BYTES[word]?.(typeByte), `${field}: README says ${word}, the wire has 0x${typeByte.toString(16)}`).toBe(true);
    }
  });
});
