import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ConfigOf, endpointOption, intOption, userPath } from "@zlabs/kit";
import { certificatePath, type KeygenConfig, type PrintWhat, parseMeta } from "./keygen.ts";
import { BAD_EVERY, HANDSHAKE_DEADLINE_MS, LOOKUP_INTERVAL_MS, REQUEST_TIMEOUT_MS, type SecureClientConfig } from "./secure-client.ts";
import { CERT_WAIT_MS, HANDSHAKE_INTERVAL_MS, type SecureServerConfig } from "./secure-server.ts";

export const LAB = "lab19";
export const SERVER = "tcp://127.0.0.1:5190";
/** The lab's own key folder (its demo data): defaults resolve here, paths the user types resolve where they typed them. */
export const KEYS_DIR = join(fileURLToPath(new URL("..", import.meta.url)), ".store", "keys");
export const SERVER_CERT = certificatePath(KEYS_DIR, "secure-server");

const certWait = intOption(CERT_WAIT_MS, "ms to wait for a certificate file to appear (keygen may still be writing it)", { min: 0 });

export const keygenOptions = {
  dir: { type: "string", describe: "folder for the certificates (default: the lab's .store/keys)" },
  force: { type: "boolean", default: false, describe: "overwrite existing certificates" },
  ifMissing: { type: "boolean", default: false, describe: "keep a valid existing pair instead of refusing" },
  meta: { type: "string", array: true, nargs: 1, default: [] as string[], describe: "metadata name=value for the certificates (repeat)" },
  print: {
    type: "string",
    choices: ["none", "public", "secret"],
    default: "none",
    describe: "print NAME_PUBLIC_KEY='...' (or the secret) per certificate on stdout, single-quoted for a shell",
  },
} as const;

export function keygenConfig(a: ConfigOf<typeof keygenOptions>): KeygenConfig {
  return {
    dir: a.dir ? userPath(a.dir) : KEYS_DIR,
    names: a._.map(String),
    force: a.force,
    ifMissing: a.ifMissing,
    metadata: parseMeta(a.meta),
    print: a.print as PrintWhat,
  };
}

export const serverOptions = {
  bind: endpointOption(SERVER, "CURVE ROUTER endpoint"),
  cert: {
    type: "string",
    describe: "the server's certificate (public file; its _secret is read) (default: the lab's .store/keys/secure-server.key)",
  },
  handshakeInterval: intOption(HANDSHAKE_INTERVAL_MS, "ms a connection may take to finish its handshake", { min: 1 }),
  certWait,
} as const;

export function serverConfig(a: ConfigOf<typeof serverOptions>): SecureServerConfig {
  return { bind: a.bind, cert: a.cert ? userPath(a.cert) : SERVER_CERT, handshakeIntervalMs: a.handshakeInterval, certWaitMs: a.certWait };
}

export const clientOptions = {
  server: endpointOption(SERVER, "the server's endpoint"),
  id: { type: "string", default: `secure-client-${process.pid}`, describe: "this client's name (its routing id)" },
  serverKey: { type: "string", describe: "the server's public key, 40 Z85 characters (single-quote it in a shell)" },
  serverCert: { type: "string", describe: "the server's public certificate (default: the lab's .store/keys/secure-server.key)" },
  cert: { type: "string", describe: "this client's certificate (its _secret is read); default: a fresh key pair" },
  plaintext: { type: "boolean", default: false, describe: "connect without CURVE (a CURVE server refuses it)" },
  interval: intOption(LOOKUP_INTERVAL_MS, "ms between lookups", { min: 0 }),
  count: intOption(0, "lookups before exiting (0: until stopped)", { min: 0 }),
  requestTimeout: intOption(REQUEST_TIMEOUT_MS, "ms to wait for a verdict", { min: 1 }),
  handshakeDeadline: intOption(HANDSHAKE_DEADLINE_MS, "ms without a CURVE handshake after TCP connects before giving up", { min: 1 }),
  badEvery: intOption(BAD_EVERY, "every n-th sample file is known-bad (0: none)", { min: 0 }),
  certWait,
} as const;

export function checkClient(a: { id: string; serverKey?: string; serverCert?: string }): string | undefined {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(a.id)) return `--id may hold only letters, digits, ".", "-" and "_" (1-64)`;
  if (a.serverKey !== undefined && a.serverCert !== undefined) return "give --server-key or --server-cert, not both";
  return undefined;
}

export function clientConfig(a: ConfigOf<typeof clientOptions>): SecureClientConfig {
  return {
    server: a.server,
    id: a.id,
    serverKey: a.serverKey,
    serverCert: a.serverKey === undefined ? (a.serverCert ? userPath(a.serverCert) : SERVER_CERT) : undefined,
    cert: a.cert ? userPath(a.cert) : undefined,
    plaintext: a.plaintext,
    intervalMs: a.interval,
    count: a.count,
    requestTimeoutMs: a.requestTimeout,
    handshakeDeadlineMs: a.handshakeDeadline,
    badEvery: a.badEvery,
    certWaitMs: a.certWait,
  };
}
