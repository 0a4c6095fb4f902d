import { createHash } from "node:crypto";

/**
 * What the server knows: SHA-256 digests of known-bad files and their names. A real feed would
 * hold millions; the lab's few are enough to see both answers. The EICAR line is the industry's
 * harmless anti-virus test file.
 */
export const EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

export function sha256(data: string | Buffer): Buffer {
  return createHash("sha256").update(data).digest();
}

/** The demo's "malware": contents the client's samples sometimes carry. */
export const KNOWN_BAD_SAMPLES: readonly { label: string; content: string }[] = [
  { label: "EICAR-Test-File", content: EICAR },
  { label: "Demo.Dropper.A", content: "lab19 demo dropper payload v1" },
  { label: "Demo.Stealer.B", content: "lab19 demo credential stealer v2" },
];

export class ThreatIntel {
  private readonly known = new Map<string, string>();

  constructor(entries: readonly { label: string; content: string }[] = KNOWN_BAD_SAMPLES) {
    for (const e of entries) this.known.set(sha256(e.content).toString("hex"), e.label);
  }

  /** The threat's name for a known-bad digest, else undefined. */
  lookup(digest: Buffer): string | undefined {
    return this.known.get(digest.toString("hex"));
  }

  get size(): number {
    return this.known.size;
  }
}

/**
 * The client's n-th sample "file": every `badEvery`-th one carries a known-bad content, the
 * others are unique and clean. Deterministic, so a test knows what to expect.
 */
export function sampleFile(n: number, badEvery: number): { name: string; content: string } {
  if (badEvery > 0 && n % badEvery === 0) {
    const bad = KNOWN_BAD_SAMPLES[(n / badEvery) % KNOWN_BAD_SAMPLES.length] as { content: string };
    return { name: `download-${n}.bin`, content: bad.content };
  }
  return { name: `report-${n}.pdf`, content: `lab19 clean sample ${n}` };
}
