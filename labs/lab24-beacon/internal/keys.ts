/**
 * Where a role's keys come from. CURVE keys and their certificate files are lab19's (Z85, zcert
 * files); this module only decides which file to read or write. The fleet's Ed25519 signing key is
 * this lab's: its 32-octet seed in Z85 in a file of its own (mode 0600, like any secret).
 */
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { UsageError } from "@zlabs/kit";
import { CertificateError, readCertificate, readKeyPair, SECRET_SUFFIX, writeCertificate } from "lab19/certificates";
import { type CurveKeyPair, generateKeyPair, isZ85Key } from "lab19/keys";
import { z85Decode, z85Encode } from "lab19/z85";
import { newSeed, type SigningKey, signingKeyFromSeed } from "./signing.ts";

const certError = (err: unknown): never => {
  if (err instanceof CertificateError) throw new UsageError(err.message);
  throw err;
};

/**
 * The pair in `base`_secret, or, when neither file exists yet, a new pair written there as a zcert
 * pair (the public file is what a scanner pins). A file that exists but cannot be used is a usage error.
 */
export async function loadOrCreatePair(base: string, metadata: Record<string, string>): Promise<{ pair: CurveKeyPair; created: boolean }> {
  const exists = await stat(base + SECRET_SUFFIX).then(
    () => true,
    () => false,
  );
  if (exists) {
    const { publicKey, secretKey } = await readKeyPair(base).catch(certError);
    return { pair: { publicKey, secretKey }, created: false };
  }
  const pair = generateKeyPair();
  await mkdir(dirname(base), { recursive: true });
  await writeCertificate(base, pair, metadata).catch(certError);
  return { pair, created: true };
}

/** The public key (Z85) in a certificate file. */
export async function readPublicKey(path: string): Promise<string> {
  return (await readCertificate(path).catch(certError)).publicKey;
}

/** A Z85 key given on the command line, as raw octets; a usage error naming the flag otherwise. */
export function keyFromFlag(text: string, flag: string): Buffer {
  if (!isZ85Key(text)) throw new UsageError(`${flag} must be a 40-character Z85 key`);
  const decoded = z85Decode(text);
  if (!decoded.ok) throw new UsageError(`${flag}: ${decoded.reason}`);
  return decoded.value;
}

/** Reads the fleet's signing seed; refuses a file others may read, as ssh refuses a loose private key. */
export async function readSigningKey(path: string): Promise<SigningKey> {
  let text: string;
  try {
    const info = await stat(path);
    if ((info.mode & 0o077) !== 0)
      throw new UsageError(`${path}: a signing key others may read (mode 0${(info.mode & 0o777).toString(8)}); chmod 600 ${path}`);
    text = (await readFile(path, "utf8")).trim();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const seed = z85Decode(text);
  if (!isZ85Key(text) || !seed.ok) throw new UsageError(`${path}: not a signing key (40 Z85 characters)`);
  return signingKeyFromSeed(seed.value);
}

/** Writes a new signing seed (mode 0600, never over an existing file) and returns the verify key scanners are given, in Z85. */
export async function writeSigningKey(path: string): Promise<string> {
  const seed = newSeed();
  await mkdir(dirname(path), { recursive: true });
  try {
    await writeFile(path, `${z85Encode(seed)}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === "EEXIST" ? `${path} exists: not overwriting a signing key` : `${path}: ${code ?? String(err)}`);
  }
  await chmod(path, 0o600);
  return z85Encode(signingKeyFromSeed(seed).publicKey);
}
