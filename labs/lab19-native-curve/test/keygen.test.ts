// keygen as a user runs it: a real process writing into a temporary folder.
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "@zlabs/kit";
import { testLogger } from "@zlabs/kit/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readCertificate, readKeyPair } from "../internal/certificates.ts";
import { type KeygenConfig, runKeygen } from "../internal/keygen.ts";
import { publicFromSecret, shellQuote } from "../internal/keys.ts";
import { labDir } from "./helpers.ts";

let dir: string;
const log = testLogger("lab19");
const config = (names: string[], more: Partial<KeygenConfig> = {}): KeygenConfig => ({
  dir,
  names,
  force: false,
  ifMissing: false,
  metadata: {},
  print: "none",
  ...more,
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "lab19-keygen-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs keygen to its end: exit code, stdout (its answer), stderr (its log, JSON lines). */
function keygen(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "cmd/keygen.ts", ...args], {
      cwd: labDir,
      env: { ...process.env, LOG_FORMAT: "json", ZLABS_USER_CWD: dir },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("keygen", () => {
  it("writes zcert pairs (secret 0600), derives and checks the public key, prints it quoted for a shell", async () => {
    const run = await keygen("--dir", "keys", "--print", "public", "--meta", "email=ops@example.org", "secure-server", "analyst-1");
    expect(run.code, run.stderr).toBe(0);
    const keys = join(dir, "keys");
    expect((await stat(keys)).mode & 0o777).toBe(0o700);
    for (const name of ["secure-server", "analyst-1"]) {
      const base = join(keys, `${name}.key`);
      expect((await stat(`${base}_secret`)).mode & 0o777).toBe(0o600);
      const pair = await readKeyPair(base);
      expect(publicFromSecret(pair.secretKey)).toBe(pair.publicKey);
      expect((await readCertificate(base)).publicKey).toBe(pair.publicKey);
      expect(pair.metadata).toEqual({ name, email: "ops@example.org" });
      expect(await readFile(base, "utf8")).not.toContain(pair.secretKey);
      expect(run.stderr).not.toContain(pair.secretKey); // the log has public keys only
    }
    // stdout is shell: sourcing it gives back the public keys unchanged, whatever Z85 characters they hold.
    const lines = run.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^SECURE_SERVER_PUBLIC_KEY='[^']{40}'$/);
    const shell = spawnSync("sh", ["-c", `${run.stdout}\nprintf '%s\\n' "$SECURE_SERVER_PUBLIC_KEY" "$ANALYST_1_PUBLIC_KEY"`], {
      encoding: "utf8",
    });
    expect(shell.stdout.trim().split("\n")).toEqual([
      (await readCertificate(join(keys, "secure-server.key"))).publicKey,
      (await readCertificate(join(keys, "analyst-1.key"))).publicKey,
    ]);
  });

  it("refuses to overwrite without --force: exit 2 and one line, the pair untouched", async () => {
    await runKeygen(config(["alice"]), log, () => undefined);
    const first = await readKeyPair(join(dir, "alice.key"));
    const refused = await keygen("--dir", dir, "alice");
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe(
      `keygen: ${join(dir, "alice.key")} exists: not overwriting it without --force (or --if-missing to keep it)`,
    );
    expect((await readKeyPair(join(dir, "alice.key"))).secretKey).toBe(first.secretKey);
  });
});

describe("keygen's logic (in process)", () => {
  it("keeps a valid pair with --if-missing and replaces it with --force", async () => {
    await runKeygen(config(["alice"]), log, () => undefined);
    const first = await readKeyPair(join(dir, "alice.key"));
    const printed: string[] = [];
    const kept = await runKeygen(config(["alice"], { ifMissing: true, print: "public" }), log, (line) => printed.push(line));
    expect(kept).toEqual([{ name: "alice", path: join(dir, "alice.key"), publicKey: first.publicKey, kept: true }]);
    expect(printed).toEqual([`ALICE_PUBLIC_KEY='${first.publicKey}'`]);

    await runKeygen(config(["alice"], { force: true }), log, () => undefined);
    const second = await readKeyPair(join(dir, "alice.key"));
    expect(second.publicKey).not.toBe(first.publicKey);
    expect((await stat(join(dir, "alice.key_secret"))).mode & 0o777).toBe(0o600);
  });

  it("refuses half a pair with --if-missing rather than guessing", async () => {
    await runKeygen(config(["bob"]), log, () => undefined);
    await rm(join(dir, "bob.key"));
    await expect(runKeygen(config(["bob"], { ifMissing: true }), log, () => undefined)).rejects.toThrow(
      /bob\.key is missing but its other half exists/,
    );
  });

  it("refuses bad names and no names", async () => {
    await expect(runKeygen(config([]), log, () => undefined)).rejects.toThrow(UsageError);
    await expect(runKeygen(config(["../escape"]), log, () => undefined)).rejects.toThrow(/certificate name "\.\.\/escape"/);
    await expect(runKeygen(config(["--force"]), log, () => undefined)).rejects.toThrow(/looks like a flag/);
  });

  it("prints a secret only when asked, quoted", async () => {
    const printed: string[] = [];
    await runKeygen(config(["carol"], { print: "secret" }), log, (line) => printed.push(line));
    const pair = await readKeyPair(join(dir, "carol.key"));
    expect(printed).toEqual([`CAROL_SECRET_KEY=${shellQuote(pair.secretKey)}`]);
  });
});
