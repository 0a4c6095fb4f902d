/**
 * What makes a scanner talk to a device: a beacon is unauthenticated (anyone on the segment can
 * send one, for any uuid, key and port), so the beacon itself earns nothing. A device is contacted
 * only when
 *
 * - its CURVE public key is pinned: a public certificate in the scanner's allowlist folder (lab19's
 *   zcert files, read as zcertstore does, again when an unknown key shows up), or
 * - its beacon carries a valid signature by the fleet's pre-shared Ed25519 key, with a stamp that is
 *   recent (within the allowed clock skew) and newer than the last one seen from that uuid: a
 *   recorded beacon sent again is a replay and is refused.
 *
 * Either way the CURVE handshake then proves the endpoint holds the secret key of the advertised
 * public key; a rogue endpoint cannot complete it (see channel.ts).
 */

import type { KeyObject } from "node:crypto";
import { stat } from "node:fs/promises";
import { type Logger, pause, UsageError } from "@zlabs/kit";
import { readPublicKeys } from "lab19/certificates";
import { z85Encode } from "lab19/z85";
import { type Beacon, signatureValid, uuidText } from "./protocol.ts";
import { verifyKeyFrom } from "./signing.ts";

/** How far a signed beacon's stamp may be from the scanner's clock. */
export const MAX_SKEW_MS = 30_000;
/** On an unknown key the folder is looked at (a stat) at most this often; it is read again only when it changed. */
export const PINNED_CHECK_MS = 100;
/** The most uuids whose last stamp is remembered; the oldest is forgotten first. */
const MAX_STAMPS = 4096;

/**
 * The allowlist: public keys (Z85) from the certificate files in one folder. As zcertstore does, an
 * unknown key makes it look at the folder again, and read it again when it changed (its mtime, which
 * a file added, removed or renamed in it moves), so a certificate dropped in admits a device at its
 * next beacon without a restart; a flood of unknown keys costs at most one stat per PINNED_CHECK_MS
 * (a lookup waits for the next check rather than miss a device that has just written its certificate).
 */
export class PinnedKeys {
  private keys = new Map<string, { path: string; metadata: Record<string, string> }>();
  private loadedMtime = Number.NaN;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private checking: Promise<void> | undefined;

  constructor(
    private readonly dir: string | undefined,
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.keys.size;
  }

  /** Reads the folder (a missing folder is an empty allowlist: devices may not have written theirs yet). */
  async load(): Promise<void> {
    if (!this.dir) return;
    try {
      this.loadedMtime = (await stat(this.dir)).mtimeMs;
      this.keys = await readPublicKeys(this.dir, {
        onSkip: (path, reason) => this.log.warn({ path, reason }, "not a certificate; skipped"),
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") throw new UsageError(`the allowlist ${this.dir}: ${code ?? (err as Error).message}`);
      this.loadedMtime = Number.NaN;
      this.keys = new Map();
    }
  }

  /** The pinned certificate's metadata for a raw key; for a key not yet seen, the folder is read again if it changed. */
  async lookup(key: Buffer): Promise<{ path: string; metadata: Record<string, string> } | undefined> {
    const z85 = z85Encode(key);
    const found = this.keys.get(z85);
    if (found || !this.dir) return found;
    // One check at a time, for every unknown key that arrives meanwhile; the next one waits out
    // the rest of PINNED_CHECK_MS (devices that join together are all found by one read).
    this.checking ??= this.reloadIfChanged().finally(() => {
      this.checking = undefined;
    });
    await this.checking;
    return this.keys.get(z85);
  }

  private async reloadIfChanged(): Promise<void> {
    const wait = this.checkedAt + PINNED_CHECK_MS - this.now();
    if (wait > 0) await pause(wait);
    this.checkedAt = this.now();
    const mtime = await stat(this.dir as string).then(
      (s) => s.mtimeMs,
      () => Number.NaN,
    );
    if (mtime !== this.loadedMtime || Number.isNaN(mtime)) await this.load();
  }
}

export type Verdict = { ok: true; signed: boolean } | { ok: false; reason: "bad signature" | "replayed" | "stale stamp" };

/**
 * Signature and replay checks for signed beacons. Without a verify key a signed beacon counts as
 * unsigned (its trailer proves nothing to a scanner that cannot check it). The cheap checks come
 * first (the stamp's age, then whether it is newer than the last one from that uuid), so only a
 * fresh stamp costs a signature check; the last stamp is recorded only once the signature holds.
 */
export class BeaconVerifier {
  private readonly lastStamp = new Map<string, number>();
  private readonly verifyKey: KeyObject | undefined;

  constructor(
    verifyKey: Uint8Array | undefined,
    private readonly maxSkewMs = MAX_SKEW_MS,
    /** Wall-clock ms: stamps are compared across hosts. */
    private readonly clock: () => number = () => Date.now(),
  ) {
    this.verifyKey = verifyKey ? verifyKeyFrom(verifyKey) : undefined;
  }

  get enabled(): boolean {
    return this.verifyKey !== undefined;
  }

  check(beacon: Beacon): Verdict {
    if (!beacon.signed || !this.verifyKey) return { ok: true, signed: false };
    const stamp = beacon.signed.stamp;
    if (Math.abs(this.clock() - stamp) > this.maxSkewMs) return { ok: false, reason: "stale stamp" };
    const id = uuidText(beacon.uuid);
    const last = this.lastStamp.get(id);
    if (last !== undefined && stamp <= last) return { ok: false, reason: "replayed" };
    if (!signatureValid(beacon.signed, this.verifyKey)) return { ok: false, reason: "bad signature" };
    // Delete and set: the Map's first entry is then the uuid heard longest ago, forgotten first.
    this.lastStamp.delete(id);
    this.lastStamp.set(id, stamp);
    if (this.lastStamp.size > MAX_STAMPS) this.lastStamp.delete(this.lastStamp.keys().next().value as string);
    return { ok: true, signed: true };
  }
}
