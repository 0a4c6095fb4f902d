// What Ironhouse costs, in one run: CURVE handshakes per second without ZAP (Stonehouse), with our
// ZAP handler over a store of 1 and of 1,000 certificates; and the per-command cryptography the
// lab adds on top of CURVE (Ed25519 sign and verify, the agent's sealed reply), in pure JS.
//   pnpm --filter lab09 bench [-- --handshakes 300 --commands 500]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "@zlabs/kit";
import { readKeyPair } from "lab19/certificates";
import { generateKeyPair } from "lab19/keys";
import nacl from "tweetnacl";
import { Dealer, Router } from "zeromq";
import { AddressRules, CertificateStore, ironhousePolicy } from "../internal/cert-store.ts";
import { createAgent, keyLayout } from "../internal/cert-tool.ts";
import { authorise, generateOperator, MAX_COMMAND_TTL_MS, ReplayCache, signCommand } from "../internal/operator.ts";
import { decodeReply, fromAgent, Opener, Sealer, seal, unseal } from "../internal/protocol.ts";
import { ZapHandler } from "../internal/zap.ts";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const HANDSHAKES = arg("handshakes", 300);
const COMMANDS = arg("commands", 500);
const log = createLogger({ lab: "lab09", role: "bench", level: "silent" });

/** Sequential handshakes: a new CURVE DEALER each, connected until its handshake event. */
async function handshakesPerSecond(zapDomain: string | undefined, client: { publicKey: string; secretKey: string }): Promise<number> {
  const server = generateKeyPair();
  const router = new Router({
    linger: 0,
    curveServer: true,
    curveSecretKey: server.secretKey,
    ...(zapDomain ? { zapDomain, zapEnforceDomain: true } : {}),
  });
  await router.bind("tcp://127.0.0.1:*");
  const endpoint = router.lastEndpoint as string;
  const start = performance.now();
  for (let i = 0; i < HANDSHAKES; i++) {
    const dealer = new Dealer({
      linger: 0,
      curveServerKey: server.publicKey,
      curvePublicKey: client.publicKey,
      curveSecretKey: client.secretKey,
    });
    const done = new Promise<void>((resolve, reject) => {
      dealer.events.on("handshake", () => resolve());
      dealer.events.on("handshake:error:auth", (e) => reject(new Error(`refused ${e.error.status}`)));
    });
    dealer.connect(endpoint);
    await done;
    dealer.close();
  }
  const rate = (HANDSHAKES * 1000) / (performance.now() - start);
  router.close();
  return rate;
}

async function withStore(certs: number): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), "lab09-bench-"));
  const layout = keyLayout(root);
  try {
    for (let i = 1; i < certs; i++) await createAgent(layout, `filler-${i}`, { admit: true });
    await createAgent(layout, "bench", { admit: true });
    const client = await readKeyPair(join(layout.agents, "bench.key"));
    const store = new CertificateStore(layout.store, log);
    await store.refresh();
    const zap = new ZapHandler(ironhousePolicy({ domain: "c2", store, rules: new AddressRules() }), log);
    await zap.start();
    const stop = new AbortController();
    const running = zap.run(stop.signal);
    const rate = await handshakesPerSecond("c2", client);
    stop.abort();
    await running;
    return rate;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** One command's cryptography end to end, without sockets: sign, authorise (verify, decode, replay), seal the reply, open it. */
function commandsPerSecond(): { total: number; sign: number; verify: number; seal: number; sealUncached: number } {
  const operator = generateOperator("ops");
  const agent = nacl.box.keyPair();
  const server = nacl.box.keyPair();
  const agentKey = generateKeyPair().publicKey; // the agent's CURVE key, as commands name it
  const self = { agentKey, trusted: [operator.publicKey], replay: new ReplayCache() };
  const time = (fn: (i: number) => void) => {
    const start = performance.now();
    for (let i = 0; i < COMMANDS; i++) fn(i);
    return (COMMANDS * 1000) / (performance.now() - start);
  };
  const fields = (i: number) => {
    const nonce = Buffer.alloc(16);
    nonce.writeUInt32BE(i);
    return { agent: agentKey, nonce, issued: Date.now(), expires: Date.now() + MAX_COMMAND_TTL_MS, command: "status" as const, args: {} };
  };
  const signed: ReturnType<typeof signCommand>[] = [];
  const sign = time((i) => signed.push(signCommand(operator, fields(i))));
  const verify = time((i) => {
    const v = authorise(signed[i] as (typeof signed)[number], self, Date.now());
    if (!v.ok) throw new Error(`refused: ${v.reason}`);
  });
  const reply = {
    v: 1,
    nonce: Buffer.alloc(16),
    command: "status",
    status: "done",
    output: { name: "agent-1", uptimeS: 5, run: 3, refused: 0 },
  };
  const check = (frames: Buffer[], open: (m: Parameters<typeof unseal>[0]) => Buffer | undefined) => {
    const msg = fromAgent([Buffer.from("r"), ...frames]);
    if (msg.kind !== "reply") throw new Error("bad frames");
    const plain = open(msg);
    if (!plain || !decodeReply(plain).ok) throw new Error("does not open");
  };
  // As the roles do it: the X25519 shared key computed once per agent (box.before), then box.after.
  const sealer = new Sealer(agent, server.publicKey);
  const opener = new Opener(server.secretKey);
  const sealOpen = time(() => check(sealer.seal("reply", reply), (m) => opener.open(m)));
  const sealUncached = time(() => check(seal("reply", reply, agent, server.publicKey), (m) => unseal(m, server.secretKey)));
  const total = 1 / (1 / sign + 1 / verify + 1 / sealOpen);
  return { total, sign, verify, seal: sealOpen, sealUncached };
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const c = commandsPerSecond();
await handshakesPerSecond(undefined, generateKeyPair()); // warm-up
const stonehouse = await handshakesPerSecond(undefined, generateKeyPair());
const store1 = await withStore(1);
const store1000 = await withStore(1000);
console.log(`CURVE handshakes/s, ${HANDSHAKES} sequential, in one process (client and server):`);
console.log(`| Server | handshakes/s | vs Stonehouse |`);
console.log(`| --- | --- | --- |`);
console.log(`| CURVE, no ZAP (Stonehouse) | ${fmt(stonehouse)} | 1.00x |`);
console.log(`| CURVE + our ZAP handler, store of 1 | ${fmt(store1)} | ${(store1 / stonehouse).toFixed(2)}x |`);
console.log(`| CURVE + our ZAP handler, store of 1,000 | ${fmt(store1000)} | ${(store1000 / stonehouse).toFixed(2)}x |`);
console.log(`\nPer-command cryptography (tweetnacl, pure JS), ${COMMANDS} commands:`);
console.log(`| Step | per second | µs each |`);
console.log(`| --- | --- | --- |`);
for (const [name, rate] of [
  ["operator signs (Ed25519)", c.sign],
  ["agent authorises (verify + decode + replay cache)", c.verify],
  ["agent seals its reply, server opens it (shared key cached)", c.seal],
  ["the same without the cache (box, box.open)", c.sealUncached],
  ["sign + authorise + seal/open (cached)", c.total],
] as const)
  console.log(`| ${name} | ${fmt(rate)} | ${fmt(1e6 / rate)} |`);
process.exit(0);
