import { spawnSync } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hasPyzmq, PYTHON } from "@zlabs/kit/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  CertificateError,
  certificateFromZpl,
  formatCertificate,
  parseZpl,
  readCertificate,
  readKeyPair,
  readPublicKeys,
  writeCertificate,
} from "../internal/certificates.ts";
import { generateKeyPair } from "../internal/keys.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "lab19-certs-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("zcert files", () => {
  it("lays a certificate out as czmq's zcert_save does", () => {
    const pair = { publicKey: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", secretKey: "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6" };
    const when = new Date(2026, 11, 1, 12, 0, 5);
    expect(formatCertificate("public", pair, { name: "server" }, when)).toBe(
      [
        "#   ****  Generated on 2026-12-01 12:00:05 by zlabs lab19  ****",
        "#   ZeroMQ CURVE Public Certificate",
        "#   Exchange securely, or use a secure mechanism to verify the contents",
        "#   of this file after exchange. Store public certificates in your home",
        "#   directory, in the .curve subdirectory.",
        "",
        "metadata",
        '    name = "server"',
        "curve",
        '    public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"',
        "",
      ].join("\n"),
    );
    const secret = formatCertificate("secret", pair, {}, when);
    expect(secret).toContain(
      "#   ZeroMQ CURVE **Secret** Certificate\n#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\nmetadata\ncurve\n",
    );
    expect(secret.endsWith('    secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"\n')).toBe(true);
  });

  it("writes the public file and the _secret file (mode 0600) and reads them back", async () => {
    const pair = generateKeyPair();
    const base = join(dir, "server");
    await writeCertificate(base, pair, { name: "secure-server", email: "ops@example.org" });
    expect((await stat(`${base}_secret`)).mode & 0o777).toBe(0o600);
    expect((await stat(base)).mode & 0o777).toBe(0o644);
    const publicCert = await readCertificate(base);
    expect(publicCert).toEqual({ publicKey: pair.publicKey, metadata: { name: "secure-server", email: "ops@example.org" } });
    expect(await readFile(base, "utf8")).not.toContain(pair.secretKey);
    expect(await readCertificate(`${base}_secret`)).toEqual({ ...publicCert, secretKey: pair.secretKey });
    expect(await readKeyPair(base)).toEqual({ ...pair, metadata: publicCert.metadata });
  });

  it("refuses to overwrite without force, and overwrites with it", async () => {
    const base = join(dir, "client");
    await writeCertificate(base, generateKeyPair(), {});
    await expect(writeCertificate(base, generateKeyPair(), {})).rejects.toThrow(/exists: not overwriting it without --force/);
    await rm(base);
    await expect(writeCertificate(base, generateKeyPair(), {})).rejects.toThrow(/client_secret exists/);
    const next = generateKeyPair();
    await writeCertificate(base, next, {}, { force: true });
    expect((await readKeyPair(base)).publicKey).toBe(next.publicKey);
    expect((await stat(`${base}_secret`)).mode & 0o777).toBe(0o600);
  });

  it("refuses a pair whose secret does not derive its public key, and metadata ZPL cannot hold", async () => {
    const base = join(dir, "x");
    await expect(writeCertificate(base, { ...generateKeyPair(), publicKey: generateKeyPair().publicKey }, {})).rejects.toThrow(
      /does not derive/,
    );
    await expect(writeCertificate(base, generateKeyPair(), { name: 'a"b' })).rejects.toThrow(CertificateError);
    await expect(writeCertificate(base, generateKeyPair(), { "bad name": "x" })).rejects.toThrow(CertificateError);
    await expect(writeCertificate(base, generateKeyPair(), { name: "two\nlines" })).rejects.toThrow(CertificateError);
  });

  it("refuses a secret file that group or others may read, with a clear error", async () => {
    const base = join(dir, "loose");
    await writeCertificate(base, generateKeyPair(), {});
    await chmod(`${base}_secret`, 0o640);
    await expect(readCertificate(`${base}_secret`)).rejects.toThrow(/mode 0640: group or others may read it; chmod 600/);
    await chmod(`${base}_secret`, 0o604);
    await expect(readKeyPair(base)).rejects.toThrow(/mode 0604/);
  });

  it("refuses a secret key that does not derive the public key, without quoting either", async () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    const path = join(dir, "mixed_secret");
    await writeFile(path, `curve\n    public-key = "${a.publicKey}"\n    secret-key = "${b.secretKey}"\n`, { mode: 0o600 });
    const error = await readCertificate(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CertificateError);
    expect(String(error)).toMatch(/does not derive/);
    expect(String(error)).not.toContain(b.secretKey);
  });

  it.each([
    ["no curve section", "metadata\n    a = 1\n", "no curve/public-key"],
    ["a short key", 'curve\n    public-key = "abc"\n', "not a 40-character Z85 key"],
    ["odd indentation", 'curve\n  public-key = "x"\n', "indent 4 spaces"],
    ["a tab", 'curve\n\tpublic-key = "x"\n', "not tabs"],
    ["a missing quote", 'curve\n    public-key = "abc\n', 'missing "'],
    ["junk after a value", 'curve\n    public-key = "abc" junk\n', "invalid syntax"],
    ["a child without a parent", '    public-key = "abc"\n', "indentation error"],
    ["two public keys", `curve\n    public-key = "${"0".repeat(40)}"\n    public-key = "${"1".repeat(40)}"\n`, "a second public-key"],
    ["a line too long", `# ${"x".repeat(2000)}\n`, "longer than 1024"],
  ])("refuses a file with %s", (_what, text, reason) => {
    const parsed = certificateFromZpl(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toContain(reason);
  });

  it("reads ZPL as zconfig does: comments, unquoted and single-quoted values", () => {
    const text = `# top\nmetadata\n    # indented comment\n    name = plain value # trailing\n    other = 'single'\ncurve\n    public-key = "${"0".repeat(40)}"   # ok\n`;
    expect(parseZpl(text).ok).toBe(true);
    expect(certificateFromZpl(text)).toEqual({
      ok: true,
      value: { publicKey: "0".repeat(40), metadata: { name: "plain value", other: "single" } },
    });
  });

  it("reads every public certificate of a directory as a store, reporting what it skips", async () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    await writeCertificate(join(dir, "a"), a, { name: "a" });
    await writeCertificate(join(dir, "b.key"), b, {});
    await writeFile(join(dir, "notes.txt"), "not a certificate\n");
    const skipped: string[] = [];
    const store = await readPublicKeys(dir, { onSkip: (path, reason) => skipped.push(`${path}: ${reason}`) });
    expect([...store.keys()].sort()).toEqual([a.publicKey, b.publicKey].sort());
    expect(store.get(a.publicKey)).toEqual({ path: join(dir, "a"), metadata: { name: "a" } });
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toContain("notes.txt");
  });
});

describe.skipIf(!hasPyzmq())("zcert files with pyzmq's zmq.auth", () => {
  it("pyzmq's load_certificate reads the files we write", async () => {
    const pair = generateKeyPair();
    const base = join(dir, "ours");
    await writeCertificate(base, pair, { name: "ours" });
    const script = `
import sys, zmq.auth
pub, sec = zmq.auth.load_certificate(sys.argv[1])
print(pub.decode(), sec)
pub, sec = zmq.auth.load_certificate(sys.argv[1] + "_secret")
print(pub.decode(), sec.decode())
print(sorted(k.decode() for k in zmq.auth.load_certificates(sys.argv[2])))`;
    const run = spawnSync(PYTHON, ["-c", script, base, dir], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).toBe(`${pair.publicKey} None`);
    expect(lines[1]).toBe(`${pair.publicKey} ${pair.secretKey}`);
    // load_certificates globs *.key only (pyzmq's naming), so our "ours" file is not in it.
    expect(lines[2]).toBe("[]");
  });

  it("we read what pyzmq's create_certificates writes (its secret file once it is chmod 600)", async () => {
    const script = `
import sys, zmq.auth
pub, sec = zmq.auth.create_certificates(sys.argv[1], "theirs", metadata={"name": "py peer"})
print(pub); print(sec)
print(zmq.auth.load_certificate(sec)[1].decode())`;
    const run = spawnSync(PYTHON, ["-c", script, dir], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    const [publicPath, secretPath, secretKey] = run.stdout.trim().split("\n") as [string, string, string];
    const publicCert = await readCertificate(publicPath);
    // pyzmq leaves the secret file at the umask's mode (0644 here): we refuse it until it is 0600.
    if (((await stat(secretPath)).mode & 0o077) !== 0) {
      await expect(readCertificate(secretPath)).rejects.toThrow(/chmod 600/);
      await chmod(secretPath, 0o600);
    }
    const secretCert = await readCertificate(secretPath);
    expect(secretCert.secretKey).toBe(secretKey);
    expect(secretCert.publicKey).toBe(publicCert.publicKey);
    expect(secretCert.metadata).toEqual({ name: "py peer" }); // pyzmq writes it unquoted
    expect(publicCert.metadata).toEqual({});
    const store = await readPublicKeys(dir);
    expect([...store.keys()]).toEqual([publicCert.publicKey]);
  });
});

/** CZMQ itself (Debian's libczmq4), through ctypes: the reference for the zcert format. */
const hasCzmq = hasPyzmq() && spawnSync(PYTHON, ["-c", "import ctypes; ctypes.CDLL('libczmq.so.4')"], { stdio: "ignore" }).status === 0;
const CZMQ = `
import ctypes, json, sys
c = ctypes.CDLL("libczmq.so.4")
for name, res, args in [
    ("zcert_load", ctypes.c_void_p, [ctypes.c_char_p]),
    ("zcert_public_txt", ctypes.c_char_p, [ctypes.c_void_p]),
    ("zcert_secret_txt", ctypes.c_char_p, [ctypes.c_void_p]),
    ("zcert_meta", ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_char_p]),
    ("zcert_new", ctypes.c_void_p, []),
    ("zcert_set_meta", None, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]),
    ("zcert_save", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
    ("zcertstore_new", ctypes.c_void_p, [ctypes.c_char_p]),
    ("zcertstore_lookup", ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]),
]:
    f = getattr(c, name); f.restype = res; f.argtypes = args
txt = lambda p: p.decode() if p else None
ours, store_dir, theirs = sys.argv[1:4]
cert = c.zcert_load(ours.encode())
store = c.zcertstore_new(store_dir.encode())
new = c.zcert_new()
c.zcert_set_meta(new, b"name", b"%s", b"czmq peer")
c.zcert_set_meta(new, b"email", b"%s", b"czmq@example.org")
print(json.dumps({
    "public": txt(c.zcert_public_txt(cert)), "secret": txt(c.zcert_secret_txt(cert)),
    "name": txt(c.zcert_meta(cert, b"name")), "email": txt(c.zcert_meta(cert, b"email")),
    "inStore": bool(c.zcertstore_lookup(store, c.zcert_public_txt(cert))),
    "saved": c.zcert_save(new, theirs.encode()),
}))`;

describe.skipIf(!hasCzmq)("zcert files with CZMQ (libczmq4 through ctypes)", () => {
  it("CZMQ's zcert_load and zcertstore read ours; zcert_save writes what we write, byte for byte after the first comment", async () => {
    const pair = generateKeyPair();
    const store = join(dir, "store");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(store);
    const base = join(store, "ours.key");
    await writeCertificate(base, pair, { name: "ours", email: "ops@example.org" });
    const theirs = join(dir, "theirs.cert");
    const run = spawnSync(PYTHON, ["-c", CZMQ, base, store, theirs], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      public: pair.publicKey,
      secret: pair.secretKey, // zcert_load prefers the _secret file
      name: "ours",
      email: "ops@example.org",
      inStore: true,
      saved: 0,
    });

    expect((await stat(`${theirs}_secret`)).mode & 0o777).toBe(0o600);
    const secret = await readCertificate(`${theirs}_secret`);
    const publicCert = await readCertificate(theirs);
    expect(secret.publicKey).toBe(publicCert.publicKey);
    expect(secret.metadata).toEqual({ name: "czmq peer", email: "czmq@example.org" });
    const theirPair = { publicKey: secret.publicKey, secretKey: secret.secretKey as string };
    const withoutFirstLine = (text: string) => text.split("\n").slice(1).join("\n");
    for (const [kind, path] of [
      ["public", theirs],
      ["secret", `${theirs}_secret`],
    ] as const) {
      const czmqText = await readFile(path, "utf8");
      expect(czmqText.split("\n")[0]).toMatch(/^# {3}\*{4} {2}Generated on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d by CZMQ {2}\*{4}$/);
      expect(withoutFirstLine(formatCertificate(kind, theirPair, secret.metadata))).toBe(withoutFirstLine(czmqText));
    }
  });
});
