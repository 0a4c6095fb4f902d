import { access, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { isSafeName, type Logger, UsageError } from "@zlabs/kit";
import { CertificateError, readCertificate, readKeyPair, SECRET_SUFFIX, writeCertificate } from "./certificates.ts";
import { generateKeyPair, publicFromSecret, shellQuote } from "./keys.ts";

/**
 * keygen: zcert certificate pairs for CURVE, as czmq's zcert_save writes them, with pyzmq's file
 * names (`<name>.key` public, `<name>.key_secret` secret, mode 0600), so pyzmq's
 * zmq.auth.load_certificate(s) and czmq's zcert_load / zcertstore read them as they are.
 *
 * Every pair is checked twice: the public key written is the one tweetnacl derives from the
 * secret (Curve25519 scalarmult_base), and both files read back to that same pair.
 */
export const PUBLIC_SUFFIX = ".key";

export type PrintWhat = "none" | "public" | "secret";

export interface KeygenConfig {
  dir: string;
  names: string[];
  force: boolean;
  /** Keep a valid existing pair instead of refusing (the demo starts keygen on every run). */
  ifMissing: boolean;
  metadata: Record<string, string>;
  print: PrintWhat;
}

export interface KeygenResult {
  name: string;
  path: string;
  publicKey: string;
  kept: boolean;
}

/** The certificate's base path (its public file) for a name. */
export function certificatePath(dir: string, name: string): string {
  return join(dir, name + PUBLIC_SUFFIX);
}

/** A shell variable for a name's key: "secure-server" -> SECURE_SERVER_PUBLIC_KEY. */
export function shellVariable(name: string, what: "public" | "secret"): string {
  const stem = name.toUpperCase().replace(/[^A-Z0-9]+/g, "_");
  return `${/^[0-9]/.test(stem) ? `_${stem}` : stem}_${what.toUpperCase()}_KEY`;
}

/** `key=value` flags as metadata; a value may hold "=". */
export function parseMeta(items: readonly string[]): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const item of items) {
    const at = item.indexOf("=");
    if (at <= 0) throw new UsageError(`--meta ${JSON.stringify(item)}: expected name=value`);
    meta[item.slice(0, at)] = item.slice(at + 1);
  }
  return meta;
}

export async function runKeygen(config: KeygenConfig, log: Logger, out: (line: string) => void): Promise<KeygenResult[]> {
  if (config.names.length === 0) throw new UsageError("which certificates? give one or more names: keygen --dir keys secure-server");
  for (const name of config.names) {
    if (name.startsWith("-")) {
      throw new UsageError(
        `certificate name "${name}" looks like a flag: with pnpm, give flags without a "--" before them (pnpm --filter lab19 keygen --print public alice)`,
      );
    }
    if (!isSafeName(name)) throw new UsageError(`certificate name ${JSON.stringify(name)}: use letters, digits, ".", "-" and "_"`);
  }
  // The folder holds secrets: if we create it, only its owner may enter it.
  await mkdir(config.dir, { recursive: true, mode: 0o700 });
  const results: KeygenResult[] = [];
  const secrets = new Map<string, string>();
  for (const name of config.names) {
    const path = certificatePath(config.dir, name);
    try {
      if (config.ifMissing && !config.force) {
        const existing = await keepExisting(path);
        if (existing) {
          log.info({ certificate: name, path, publicKey: existing.publicKey }, "certificate exists and is valid: kept");
          results.push({ name, path, publicKey: existing.publicKey, kept: true });
          secrets.set(name, existing.secretKey);
          continue;
        }
      }
      const pair = generateKeyPair();
      if (publicFromSecret(pair.secretKey) !== pair.publicKey) throw new Error("tweetnacl derived another public key"); // never expected
      await writeCertificate(path, pair, { name, ...config.metadata }, { force: config.force });
      const back = await readKeyPair(path);
      const publicBack = await readCertificate(path);
      if (back.secretKey !== pair.secretKey || back.publicKey !== pair.publicKey || publicBack.publicKey !== pair.publicKey) {
        throw new CertificateError(`${path}: the files do not read back to the pair written`, path);
      }
      log.info(
        { name, public: path, secret: path + SECRET_SUFFIX, publicKey: pair.publicKey },
        "certificate written (secret file mode 0600)",
      );
      results.push({ name, path, publicKey: pair.publicKey, kept: false });
      secrets.set(name, pair.secretKey);
    } catch (error) {
      if (error instanceof CertificateError) {
        throw new UsageError(error.message.includes("without --force") ? `${error.message} (or --if-missing to keep it)` : error.message);
      }
      throw error;
    }
  }
  if (config.print !== "none") {
    for (const r of results) {
      const key = config.print === "public" ? r.publicKey : (secrets.get(r.name) as string);
      out(`${shellVariable(r.name, config.print)}=${shellQuote(key)}`);
    }
  }
  return results;
}

async function present(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The existing pair at `path` if both files are there and valid; undefined if neither is; an error for half a pair or a bad one. */
async function keepExisting(path: string) {
  const secretPath = path + SECRET_SUFFIX;
  const [hasPublic, hasSecret] = await Promise.all([present(path), present(secretPath)]);
  if (!hasPublic && !hasSecret) return undefined;
  if (!hasPublic || !hasSecret) {
    throw new CertificateError(
      `${hasPublic ? secretPath : path} is missing but its other half exists: not guessing (--force writes a new pair)`,
      path,
    );
  }
  const pair = await readKeyPair(path);
  const publicCert = await readCertificate(path);
  if (publicCert.publicKey !== pair.publicKey) throw new CertificateError(`${path}: its public key is not the one in ${secretPath}`, path);
  return pair;
}
