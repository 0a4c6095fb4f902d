// Shared by the tests: a key folder made by cert-tool's own functions, and a logger whose lines a test reads.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createLogger } from "@zlabs/kit";
import { readCertificate, readKeyPair } from "lab19/certificates";
import { certFile, demoKeys, type KeyLayout, keyLayout } from "../internal/cert-tool.ts";
import { readOperator, readTrustedOperators } from "../internal/operator.ts";

export interface Entry {
  msg: string;
  level: number;
  [field: string]: unknown;
}

/** The kit's logger (with its redaction), writing JSON lines to memory; `text` is every line as written. */
export function recordingLogger(role: string, level = "debug") {
  const entries: Entry[] = [];
  const text: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) {
        text.push(line);
        entries.push(JSON.parse(line));
      }
      done();
    },
  });
  return { log: createLogger({ lab: "lab09", role, level, pretty: false, destination }), entries, text };
}

export interface DemoKeys {
  layout: KeyLayout;
  cleanup: () => void;
}

/** A fresh key folder with the demo's keys (server, operator "ops", agent-1, agent-2 admitted, stranger not). */
export async function freshKeys(): Promise<DemoKeys> {
  const root = mkdtempSync(join(tmpdir(), "lab09-keys-"));
  const layout = keyLayout(root);
  await demoKeys(layout);
  return { layout, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Every secret in a key folder, as it would appear in a log if it leaked (Z85, and hex of the raw bytes). */
export async function secretsOf(layout: KeyLayout): Promise<string[]> {
  const out: string[] = [];
  for (const base of [layout.server, ...["agent-1", "agent-2", "stranger"].map((n) => certFile(layout.agents, n))]) {
    out.push((await readKeyPair(base)).secretKey);
  }
  const op = await readOperator(join(layout.operators, "ops"));
  out.push(Buffer.from(op.secretKey.subarray(0, 32)).toString("hex"), Buffer.from(op.secretKey).toString("base64"));
  return out;
}

export async function agentSetup(layout: KeyLayout, name: string, server: string, extra: Record<string, unknown> = {}) {
  const pair = await readKeyPair(certFile(layout.agents, name));
  return {
    name,
    server,
    serverKey: (await readCertificate(layout.server)).publicKey,
    publicKey: pair.publicKey,
    secretKey: pair.secretKey,
    operators: await readTrustedOperators(layout.trusted),
    sandbox: join(layout.root, "sandbox", name),
    helloMs: 100,
    handshakeTimeoutMs: 3000,
    ...extra,
  };
}
