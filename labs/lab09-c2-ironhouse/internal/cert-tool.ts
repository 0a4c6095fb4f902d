/**
 * cert-tool: the key folder of the enclave, one command at a time (it prints, then exits).
 *
 *   create NAME [--admit]   a CURVE certificate pair for an agent (lab19's zcert files); --admit
 *                           also copies the public file into the server's store
 *   admit NAME              copies an agent's public certificate into the store (or back from revoked/)
 *   revoke NAME             moves it from the store to revoked/: the server refuses new handshakes
 *                           with that key and closes its live sessions (within its reload interval)
 *   list                    the store and revoked/, with names, keys (public: safe to print) and files
 *   operator NAME           an Ed25519 operator signing pair; its public file goes to trusted-operators/
 *   server                  the server's CURVE certificate pair
 *   demo                    what the demo needs, where missing: server, operator "ops", agent-1 and
 *                           agent-2 admitted, "stranger" created but not admitted
 *
 * The folder (--keys, `.store` in the lab by default):
 *
 *   server/c2-server{,_secret}      the server's pair          (on the server)
 *   operators/NAME{,_secret}        operators' signing pairs   (with the operator)
 *   agents/NAME{,_secret}           agents' pairs              (each on its agent's host)
 *   authorized/NAME                 the server's certificate store: admitted agents' public files
 *   revoked/NAME                    public files taken out of the store
 *   trusted-operators/NAME          the operators' public files the agents trust
 */
import { copyFile, mkdir, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { isSafeName, UsageError } from "@zlabs/kit";
import { CertificateError, readCertificate, readPublicKeys, writeCertificate } from "lab19/certificates";
import { generateKeyPair } from "lab19/keys";
import { generateOperator, KeyFileError, writeOperator } from "./operator.ts";

export const SERVER_NAME = "c2-server";
export const DEMO_OPERATOR = "ops";
export const DEMO_AGENTS = ["agent-1", "agent-2"];
export const DEMO_STRANGER = "stranger";
/**
 * Certificate files are named NAME.key (and NAME.key_secret): CZMQ's zcertstore reads every file
 * of a store, pyzmq's zmq.auth only `*.key` ones, so this name suits both.
 */
export const CERT_SUFFIX = ".key";

/** The certificate file of NAME in a folder of certificates. */
export function certFile(dir: string, name: string): string {
  return join(dir, `${name}${CERT_SUFFIX}`);
}

export interface KeyLayout {
  root: string;
  server: string;
  operators: string;
  agents: string;
  store: string;
  revoked: string;
  trusted: string;
}

export function keyLayout(root: string): KeyLayout {
  return {
    root,
    server: certFile(join(root, "server"), SERVER_NAME),
    operators: join(root, "operators"),
    agents: join(root, "agents"),
    store: join(root, "authorized"),
    revoked: join(root, "revoked"),
    trusted: join(root, "trusted-operators"),
  };
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

function checkName(name: string | undefined): string {
  if (!name || !isSafeName(name) || name.endsWith("_secret"))
    throw new UsageError(`a certificate name is letters, digits, . _ - (got ${JSON.stringify(name ?? "")})`);
  return name;
}

/** Key and certificate errors become one line and exit 2, never with a key in them. */
async function userFacing<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CertificateError || err instanceof KeyFileError) throw new UsageError(err.message);
    throw err;
  }
}

export async function createAgent(layout: KeyLayout, name: string, options: { admit?: boolean; force?: boolean } = {}): Promise<string> {
  await mkdir(layout.agents, { recursive: true });
  const pair = generateKeyPair();
  await userFacing(() => writeCertificate(certFile(layout.agents, checkName(name)), pair, { name, role: "secure-agent" }, options));
  if (options.admit) await admit(layout, name);
  return pair.publicKey;
}

export async function createServer(layout: KeyLayout, force = false): Promise<string> {
  await mkdir(join(layout.root, "server"), { recursive: true });
  const pair = generateKeyPair();
  await userFacing(() => writeCertificate(layout.server, pair, { name: SERVER_NAME, role: "c2-server" }, { force }));
  return pair.publicKey;
}

export async function createOperator(layout: KeyLayout, name: string, force = false): Promise<void> {
  await mkdir(layout.operators, { recursive: true });
  await mkdir(layout.trusted, { recursive: true });
  const base = join(layout.operators, checkName(name));
  await userFacing(() => writeOperator(base, generateOperator(name), force));
  await copyFile(base, join(layout.trusted, name));
}

/** Into the store: from agents/ (its public file only), or back from revoked/. */
export async function admit(layout: KeyLayout, name: string): Promise<string> {
  await mkdir(layout.store, { recursive: true });
  const target = certFile(layout.store, checkName(name));
  const back = certFile(layout.revoked, name);
  if (await exists(back)) await rename(back, target);
  else {
    const source = certFile(layout.agents, name);
    if (!(await exists(source))) throw new UsageError(`no certificate ${source}: create it first (cert-tool create ${name})`);
    await userFacing(() => readCertificate(source));
    await copyFile(source, target);
  }
  return target;
}

export async function revoke(layout: KeyLayout, name: string): Promise<string> {
  const source = certFile(layout.store, checkName(name));
  if (!(await exists(source))) throw new UsageError(`${name} is not in the store (${layout.store})`);
  await mkdir(layout.revoked, { recursive: true });
  const target = certFile(layout.revoked, name);
  await rename(source, target);
  return target;
}

export interface Listed {
  name: string;
  publicKey: string;
  state: "admitted" | "revoked";
  file: string;
}

export async function list(layout: KeyLayout): Promise<Listed[]> {
  const out: Listed[] = [];
  for (const [dir, state] of [
    [layout.store, "admitted"],
    [layout.revoked, "revoked"],
  ] as const) {
    if (!(await exists(dir))) continue;
    for (const [publicKey, { path, metadata }] of await readPublicKeys(dir))
      out.push({ name: metadata.name ?? path, publicKey, state, file: path });
  }
  return out;
}

/** The demo's keys, each only where missing (so a restart keeps them, and revocations stay). */
export async function demoKeys(layout: KeyLayout): Promise<string[]> {
  const made: string[] = [];
  if (!(await exists(`${layout.server}_secret`))) {
    await createServer(layout);
    made.push(SERVER_NAME);
  }
  if (!(await exists(join(layout.operators, `${DEMO_OPERATOR}_secret`)))) {
    await createOperator(layout, DEMO_OPERATOR);
    made.push(DEMO_OPERATOR);
  }
  for (const name of [...DEMO_AGENTS, DEMO_STRANGER]) {
    if (await exists(`${certFile(layout.agents, name)}_secret`)) continue;
    await createAgent(layout, name, { admit: name !== DEMO_STRANGER });
    made.push(name);
  }
  return made;
}

/** One cert-tool command; lines go to `print` (stdout), and the exit code comes back. */
export async function runCertTool(
  words: string[],
  layout: KeyLayout,
  options: { admit: boolean; force: boolean; json: boolean },
  print: (line: string) => void,
): Promise<number> {
  const [command, name, ...extra] = words;
  if (extra.length > 0) throw new UsageError(`too many words: ${extra.join(" ")}`);
  const needsName = command === "create" || command === "admit" || command === "revoke" || command === "operator";
  if (needsName && !name) throw new UsageError(`${command} needs a NAME`);
  if (!needsName && name) throw new UsageError(`${command} takes no NAME`);
  switch (command) {
    case "create": {
      const key = await createAgent(layout, name as string, { admit: options.admit, force: options.force });
      print(
        `created ${certFile(layout.agents, name as string)} (and _secret, mode 0600) public key ${key}${options.admit ? "; admitted" : ""}`,
      );
      return 0;
    }
    case "admit":
      print(`admitted ${name}: ${await admit(layout, name as string)} (the server admits it at its next handshake)`);
      return 0;
    case "revoke":
      print(`revoked ${name}: moved to ${await revoke(layout, name as string)} (the server closes its session within its reload interval)`);
      return 0;
    case "operator":
      await createOperator(layout, name as string, options.force);
      print(
        `created operator ${name}: ${join(layout.operators, name as string)} (and _secret); agents trust ${join(layout.trusted, name as string)}`,
      );
      return 0;
    case "server":
      print(`created ${layout.server} (and _secret) public key ${await createServer(layout, options.force)}`);
      return 0;
    case "demo": {
      const made = await demoKeys(layout);
      print(made.length > 0 ? `created ${made.join(", ")} in ${layout.root}` : `the demo's keys are all in ${layout.root}`);
      return 0;
    }
    case "list": {
      const certs = await list(layout);
      for (const c of certs)
        print(options.json ? JSON.stringify(c) : `${c.state.padEnd(8)}  ${c.name.padEnd(16)}  ${c.publicKey}  ${c.file}`);
      if (!options.json && certs.length === 0) print(`no certificates in ${layout.store} or ${layout.revoked}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command ?? "")}: create, admit, revoke, list, operator, server or demo`);
  }
}
