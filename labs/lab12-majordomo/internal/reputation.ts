/**
 * The hash worker's local reputation table: what a security team's own intel knows about a few
 * file hashes (SHA-256). Small on purpose: the lab is about the bus, not the intel.
 */
export type Verdict = "malicious" | "benign" | "unknown" | "invalid";

export interface Reputation {
  verdict: Verdict;
  /** Family or description, for people. */
  detail: string;
}

/** SHA-256 → what we know. Public, well-known hashes only. */
export const REPUTATION_TABLE: ReadonlyMap<string, Reputation> = new Map([
  [
    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
    { verdict: "malicious", detail: "EICAR-Test-File (AV test string)" },
  ],
  ["ed01ebfbc9eb5bbea545af4d01bf5f1071661840480439c6e5babe8e080e41aa", { verdict: "malicious", detail: "WannaCry ransomware (2017)" }],
  ["027cc450ef5f8c5f653329641ec1fed91f694e0d229928963b30f6b0d7d3a745", { verdict: "malicious", detail: "NotPetya wiper (2017)" }],
  ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", { verdict: "benign", detail: "the empty file" }],
  ["a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447", { verdict: "benign", detail: 'the text "hello world\\n"' }],
]);

const SHA256 = /^[0-9a-fA-F]{64}$/;

/** Looks a hash up; anything that is not 64 hex digits is "invalid" (an answer, not an error). */
export function lookup(hash: string, table: ReadonlyMap<string, Reputation> = REPUTATION_TABLE): Reputation {
  if (!SHA256.test(hash)) return { verdict: "invalid", detail: "not a SHA-256 (64 hex digits)" };
  return table.get(hash.toLowerCase()) ?? { verdict: "unknown", detail: "not in the local table" };
}

/**
 * The service's wire format, inside MDP bodies: request [sha256 as text]; reply [verdict, detail]
 * (two text frames). A request with more or fewer frames gets ["invalid", why].
 */
export function answer(body: readonly Buffer[]): Buffer[] {
  const r: Reputation =
    body.length === 1 && (body[0] as Buffer).length <= 128
      ? lookup((body[0] as Buffer).toString("latin1"))
      : { verdict: "invalid", detail: "send one frame: the SHA-256 in hex" };
  return [Buffer.from(r.verdict), Buffer.from(r.detail)];
}
