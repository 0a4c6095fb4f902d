import nacl from "tweetnacl";
import { z85Decode, z85Encode } from "./z85.ts";

/**
 * CURVE keys as libzmq uses them: Curve25519 `crypto_box` key pairs, 32 bytes each, written in
 * Z85 (40 characters). libzmq's zmq_curve_keypair and tweetnacl's box.keyPair make the same
 * kind of pair; a public key is scalarmult_base(secret), so it can always be derived again
 * from the secret (zmq_curve_public does that; so does `publicFromSecret`).
 */
export const KEY_BYTES = 32;
export const Z85_KEY_LENGTH = 40;

/** A CURVE key pair in Z85, as zeromq.js socket options (curvePublicKey, curveSecretKey) take them. */
export interface CurveKeyPair {
  publicKey: string;
  secretKey: string;
}

/** A fresh pair from tweetnacl (its random source is node's crypto.randomBytes). */
export function generateKeyPair(): CurveKeyPair {
  const pair = nacl.box.keyPair();
  return { publicKey: z85Encode(pair.publicKey), secretKey: z85Encode(pair.secretKey) };
}

/** True when `text` is a 40-character Z85 string that decodes to 32 bytes. */
export function isZ85Key(text: unknown): text is string {
  return typeof text === "string" && text.length === Z85_KEY_LENGTH && z85Decode(text).ok;
}

/**
 * The 32 raw bytes of a Z85 key; throws a RangeError that never quotes the key (it may be a
 * secret) when the text is not one.
 */
export function keyBytes(keyZ85: string, what = "key"): Uint8Array {
  if (typeof keyZ85 !== "string" || keyZ85.length !== Z85_KEY_LENGTH) {
    throw new RangeError(`${what}: expected ${Z85_KEY_LENGTH} Z85 characters, got ${String(keyZ85?.length ?? typeof keyZ85)}`);
  }
  const decoded = z85Decode(keyZ85);
  if (!decoded.ok) throw new RangeError(`${what}: not Z85 (${decoded.reason})`);
  return new Uint8Array(decoded.value);
}

/** The public key (Z85) of a secret key (Z85): Curve25519 scalarmult_base, via tweetnacl. Throws RangeError on a malformed secret. */
export function publicFromSecret(secretZ85: string): string {
  const secret = keyBytes(secretZ85, "secret key");
  return z85Encode(nacl.box.keyPair.fromSecretKey(secret).publicKey);
}

/** True when `secretKey` derives `publicKey`: the check every loaded pair must pass. */
export function pairMatches(pair: CurveKeyPair): boolean {
  if (!isZ85Key(pair.publicKey) || !isZ85Key(pair.secretKey)) return false;
  return publicFromSecret(pair.secretKey) === pair.publicKey;
}

/**
 * A key (or any text) quoted for a POSIX shell: single quotes, with a single quote inside written
 * as '\''. Z85 has `$ & ( ) < > ! * ? [ ] { } ^ #` but no single quote, so a key comes out as
 * 'key' and pastes safely into `--server-key '...'` or `export X='...'`.
 */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** A short, non-secret label for a public key in logs and views: its first 8 characters and an ellipsis. */
export function keyLabel(publicKeyZ85: string): string {
  return `${publicKeyZ85.slice(0, 8)}…`;
}
