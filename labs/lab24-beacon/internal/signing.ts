/**
 * The fleet's Ed25519 key, with node's own crypto (OpenSSL). Why not tweetnacl, which the CURVE
 * keys use: its pure-JS verify ran at 9 to 19 a second on this busy 2-core machine, against 1,600
 * to 2,400 for OpenSSL (`pnpm --filter lab24 bench`), and every signed-size datagram with a fresh
 * stamp costs the scanner one verify: with tweetnacl, a trickle of junk would take its CPU. The
 * signatures are the same (Ed25519 is deterministic): the unit tests check ours against tweetnacl.
 *
 * Keys travel as raw octets: the 32-octet seed (the secret a device holds) and the 32-octet public
 * key (the verify key scanners hold). OpenSSL takes them wrapped in fixed DER headers.
 */
import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from "node:crypto";

/** PKCS#8 for an Ed25519 private key, up to the 32-octet seed (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
/** SubjectPublicKeyInfo for an Ed25519 public key, up to the 32 octets (RFC 8410). */
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
export const SEED_BYTES = 32;

export interface SigningKey {
  privateKey: KeyObject;
  /** The verify key, raw. */
  publicKey: Buffer;
}

export function newSeed(): Buffer {
  return randomBytes(SEED_BYTES);
}

export function signingKeyFromSeed(seed: Uint8Array): SigningKey {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return { privateKey, publicKey: Buffer.from(spki.subarray(SPKI_ED25519_PREFIX.length)) };
}

export function verifyKeyFrom(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: "der", type: "spki" });
}

export function signBytes(message: Buffer, key: SigningKey): Buffer {
  return sign(null, message, key.privateKey);
}

export function verifyBytes(message: Buffer, signature: Buffer, key: KeyObject): boolean {
  return verify(null, message, key, signature);
}
