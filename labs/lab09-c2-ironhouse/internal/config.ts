import { access } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ConfigOf, endpointOption, intOption, type Logger, pause, UsageError, userPath } from "@zlabs/kit";
import { CertificateError, readCertificate, readKeyPair } from "lab19/certificates";
import { isZ85Key } from "lab19/keys";
import {
  COMMAND_INTERVAL_MS,
  COMMAND_TTL_MS,
  HELLO_INTERVAL_MS,
  HELLO_LIVENESS,
  RELOAD_INTERVAL_MS,
  type ServerConfig,
} from "./c2-server.ts";
import { AddressRules } from "./cert-store.ts";
import { certFile, DEMO_OPERATOR, type KeyLayout, keyLayout } from "./cert-tool.ts";
import { KeyFileError, MAX_COMMAND_TTL_MS, readOperator, readTrustedOperators } from "./operator.ts";
import { type AgentConfig, HANDSHAKE_TIMEOUT_MS } from "./secure-agent.ts";

export const LAB = "lab09";
export const SERVER = "tcp://127.0.0.1:5090";
/** The lab's own key folder (a default of the lab, not a path the user typed). */
export const LAB_STORE = fileURLToPath(new URL("../.store", import.meta.url));

const keysOption = { type: "string", default: "", describe: "the key folder (see cert-tool); the lab's .store when empty" } as const;

/** The key folder: the user's path when given, else the lab's .store. */
export function layoutFor(keys: string): KeyLayout {
  return keyLayout(keys ? userPath(keys) : LAB_STORE);
}

/** Key and certificate problems are the user's to fix: one line, exit 2, never a key in it. */
export async function keyFiles<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CertificateError || err instanceof KeyFileError) throw new UsageError(err.message);
    throw err;
  }
}

export const serverOptions = {
  bind: endpointOption(SERVER, "CURVE ROUTER endpoint for agents"),
  keys: keysOption,
  operator: { type: "string", default: DEMO_OPERATOR, describe: "the operator whose key signs the commands (operators/NAME_secret)" },
  allow: { type: "string", array: true, default: [] as string[], describe: "allow only these addresses or CIDR subnets (repeat)" },
  deny: { type: "string", array: true, default: [] as string[], describe: "deny these addresses or CIDR subnets (repeat)" },
  commandMs: intOption(COMMAND_INTERVAL_MS, "ms between commands of the operator's plan", { min: 10 }),
  commandTtl: intOption(COMMAND_TTL_MS, "ms a command stays valid (its expiry)", { min: 100, max: MAX_COMMAND_TTL_MS }),
  hello: intOption(HELLO_INTERVAL_MS, "ms between an agent's HELLOs (as the agents are set)", { min: 10 }),
  liveness: intOption(HELLO_LIVENESS, "silent hello intervals before an agent is listed as gone", { min: 1 }),
  reload: intOption(RELOAD_INTERVAL_MS, "ms between checks of the certificate store", { min: 10 }),
  demoKeys: { type: "boolean", default: false, describe: "create the demo's keys first where missing (cert-tool demo)" },
} as const;

export function checkServer(a: { allow: string[]; deny: string[] }): string | undefined {
  try {
    new AddressRules(a.allow, a.deny);
    return undefined;
  } catch (err) {
    return `--allow/--deny: ${(err as Error).message}`;
  }
}

export async function serverConfig(
  a: ConfigOf<typeof serverOptions>,
): Promise<{ config: ServerConfig; layout: KeyLayout; rules: AddressRules }> {
  const layout = layoutFor(a.keys);
  const pair = await keyFiles(() => readKeyPair(layout.server));
  const operator = await keyFiles(() => readOperator(join(layout.operators, a.operator)));
  await access(layout.store).catch(() => {
    throw new UsageError(`no certificate store at ${layout.store} (cert-tool create NAME --admit makes it)`);
  });
  return {
    layout,
    rules: new AddressRules(a.allow, a.deny),
    config: {
      bind: a.bind,
      publicKey: pair.publicKey,
      secretKey: pair.secretKey,
      operator,
      commandMs: a.commandMs,
      commandTtlMs: a.commandTtl,
      helloMs: a.hello,
      liveness: a.liveness,
      reloadMs: a.reload,
    },
  };
}

export const agentOptions = {
  name: { type: "string", default: "agent-1", describe: "the agent's certificate name (agents/NAME_secret)" },
  server: endpointOption(SERVER, "the C2 server's endpoint"),
  keys: keysOption,
  serverKey: { type: "string", default: "", describe: "the server's public key (Z85); its certificate in the key folder when empty" },
  sandbox: { type: "string", default: "", describe: "the only folder commands touch; sandbox/NAME in the key folder when empty" },
  hello: intOption(HELLO_INTERVAL_MS, "ms between HELLOs", { min: 10 }),
  handshakeTimeout: intOption(HANDSHAKE_TIMEOUT_MS, "ms to complete the CURVE handshake before giving up", { min: 100 }),
  waitForKeys: intOption(0, "wait up to this many ms for the key files to appear (the demo creates them)", { min: 0 }),
} as const;

export function checkAgent(a: { name: string; serverKey: string }): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(a.name)) return `--name "${a.name}" may hold only letters, digits, - and _`;
  // Never quote the value: a secret key pasted here by mistake must not reach a terminal log.
  if (a.serverKey && !isZ85Key(a.serverKey)) return "--server-key must be a 40-character Z85 public key";
  return undefined;
}

async function waitFor(path: string, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (
      await access(path).then(
        () => true,
        () => false,
      )
    )
      return;
    await pause(100);
  }
}

export async function agentConfig(a: ConfigOf<typeof agentOptions>, log: Logger): Promise<AgentConfig> {
  const layout = layoutFor(a.keys);
  const base = certFile(layout.agents, a.name);
  if (a.waitForKeys > 0) {
    for (const path of [`${base}_secret`, layout.server, layout.trusted]) await waitFor(path, a.waitForKeys);
  }
  const pair = await keyFiles(() => readKeyPair(base));
  const serverKey = a.serverKey || (await keyFiles(() => readCertificate(layout.server))).publicKey;
  const operators = await keyFiles(() => readTrustedOperators(layout.trusted));
  log.debug({ operators: operators.map((o) => o.name) }, "trusted operators loaded");
  return {
    name: a.name,
    server: a.server,
    serverKey,
    publicKey: pair.publicKey,
    secretKey: pair.secretKey,
    operators,
    sandbox: a.sandbox ? userPath(a.sandbox) : join(layout.root, "sandbox", a.name),
    helloMs: a.hello,
    handshakeTimeoutMs: a.handshakeTimeout,
  };
}

export const certToolOptions = {
  keys: keysOption,
  admit: { type: "boolean", default: false, describe: "create: also admit the new certificate into the store" },
  force: { type: "boolean", default: false, describe: "create, operator, server: overwrite existing files" },
  json: { type: "boolean", default: false, describe: "list: one JSON line per certificate" },
} as const;

export const CERT_TOOL_USAGE = "<create NAME|admit NAME|revoke NAME|list|operator NAME|server|demo>";
