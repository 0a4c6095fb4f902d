import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeCertificate } from "../internal/certificates.ts";
import { certificatePath } from "../internal/keygen.ts";
import { type CurveKeyPair, generateKeyPair } from "../internal/keys.ts";

export const labDir = fileURLToPath(new URL("..", import.meta.url));

/** A temporary key folder with a server certificate in it (name.key + name.key_secret), removed by cleanup(). */
export async function keyFolder(): Promise<{ dir: string; serverCert: string; server: CurveKeyPair; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "lab19-"));
  const server = generateKeyPair();
  const serverCert = certificatePath(dir, "secure-server");
  await writeCertificate(serverCert, server, { name: "secure-server" });
  return { dir, serverCert, server, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
