import { randomBytes } from "node:crypto";
import { lstat, open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type Checked, ok, refuse } from "@zlabs/kit";
import { type CurveKeyPair, isZ85Key, publicFromSecret } from "./keys.ts";

/**
 * Certificates in the files CZMQ's zcert_save writes (and zcertstore, pyzmq's zmq.auth and this
 * lab read): ZPL text (RFC 4/ZPL, as czmq's zconfig writes it) with a `metadata` section and a
 * `curve` section. `basePath` holds the public key; `basePath_secret` (mode 0600) holds both.
 *
 *     #   ****  Generated on 2026-12-01 12:00:00 by CZMQ  ****
 *     #   ZeroMQ CURVE Public Certificate
 *     #   Exchange securely, or use a secure mechanism to verify the contents
 *     #   of this file after exchange. Store public certificates in your home
 *     #   directory, in the .curve subdirectory.
 *
 *     metadata
 *         name = "secure-server"
 *     curve
 *         public-key = "<40 Z85 characters>"
 *
 * The secret file has the comments "ZeroMQ CURVE **Secret** Certificate" and "DO NOT PROVIDE
 * THIS FILE TO OTHER USERS nor change its permissions." and a `secret-key` line after `public-key`.
 * We write "by zlabs lab19" where CZMQ writes "by CZMQ": comments are not read by anyone.
 */
export const SECRET_SUFFIX = "_secret";
export const SECRET_FILE_MODE = 0o600;
export const PUBLIC_FILE_MODE = 0o644;
/** A certificate is a few hundred bytes; anything past this is not one. */
export const MAX_CERTIFICATE_BYTES = 64 * 1024;
/** zconfig reads at most 1024 characters of a line. */
export const MAX_LINE_CHARS = 1024;
/** The most files `readPublicKeys` reads from one directory. */
export const MAX_STORE_FILES = 10_000;

/** A certificate file that cannot be used, or a write that would overwrite one: the message is one clear line, never a key. */
export class CertificateError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = "CertificateError";
  }
}

export interface Certificate {
  publicKey: string;
  secretKey?: string;
  metadata: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** zconfig's name characters (alnum $ - _ @ . & + /), without "/" (a path separator in zconfig_put). */
const METADATA_NAME = /^[A-Za-z0-9$\-_@.&+]{1,64}$/;
/** A value goes between double quotes on one line: no quote, no control character. */
const MAX_METADATA_VALUE = 900;
function isMetadataValue(value: unknown): boolean {
  if (typeof value !== "string" || value.length > MAX_METADATA_VALUE) return false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f || code === 0x22) return false;
  }
  return true;
}

export function checkMetadata(metadata: Record<string, string>): Checked<Record<string, string>> {
  for (const [name, value] of Object.entries(metadata)) {
    if (!METADATA_NAME.test(name)) return refuse(`metadata name ${JSON.stringify(name)}: use 1-64 of A-Z a-z 0-9 $ - _ @ . & +`);
    if (!isMetadataValue(value)) {
      return refuse(`metadata ${name}: a value is one line of at most 900 characters without '"'`);
    }
  }
  return ok(metadata);
}

/** zclock_timestr's format, local time: "2026-12-01 12:00:00". */
function timestr(now: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
}

/** The text of one certificate file, byte for byte as zcert_save_public / zcert_save_secret lay it out. */
export function formatCertificate(
  kind: "public" | "secret",
  pair: CurveKeyPair,
  metadata: Record<string, string>,
  now = new Date(),
): string {
  const comments =
    kind === "public"
      ? [
          "   ZeroMQ CURVE Public Certificate",
          "   Exchange securely, or use a secure mechanism to verify the contents",
          "   of this file after exchange. Store public certificates in your home",
          "   directory, in the .curve subdirectory.",
        ]
      : ["   ZeroMQ CURVE **Secret** Certificate", "   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions."];
  const lines = [`#   ****  Generated on ${timestr(now)} by zlabs lab19  ****`, ...comments.map((c) => `#${c}`), ""];
  lines.push("metadata");
  for (const [name, value] of Object.entries(metadata)) lines.push(`    ${name} = "${value}"`);
  lines.push("curve", `    public-key = "${pair.publicKey}"`);
  if (kind === "secret") lines.push(`    secret-key = "${pair.secretKey}"`);
  return `${lines.join("\n")}\n`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

/**
 * Writes `text` to `path` with `mode` from the first byte: a temporary file in the same folder,
 * created exclusively with that mode, then renamed over `path` (so a secret is never readable
 * by others, not even for a moment, and a reader never sees half a file).
 */
async function writeFileAtomic(path: string, text: string, mode: number): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temporary, "wx", mode);
  try {
    await handle.chmod(mode); // the umask may have taken bits off; put back exactly `mode`
    await handle.writeFile(text, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}

/**
 * Writes the pair as zcert does: `basePath` (public, mode 0644) and `basePath_secret` (mode 0600).
 * Refuses (CertificateError) when either file exists and `force` is not set, when the secret does
 * not derive the public key, or when the metadata cannot be written as ZPL.
 */
export async function writeCertificate(
  basePath: string,
  pair: CurveKeyPair,
  metadata: Record<string, string>,
  options: { force?: boolean } = {},
): Promise<void> {
  const secretPath = basePath + SECRET_SUFFIX;
  if (!isZ85Key(pair.publicKey) || !isZ85Key(pair.secretKey)) {
    throw new CertificateError(`${basePath}: the keys are not 40-character Z85 keys`, basePath);
  }
  if (publicFromSecret(pair.secretKey) !== pair.publicKey) {
    throw new CertificateError(`${basePath}: the secret key does not derive the public key`, basePath);
  }
  const checked = checkMetadata(metadata);
  if (!checked.ok) throw new CertificateError(`${basePath}: ${checked.reason}`, basePath);
  if (!options.force) {
    for (const path of [basePath, secretPath]) {
      if (await exists(path)) throw new CertificateError(`${path} exists: not overwriting it without --force`, path);
    }
  }
  const now = new Date();
  await writeFileAtomic(secretPath, formatCertificate("secret", pair, metadata, now), SECRET_FILE_MODE);
  await writeFileAtomic(basePath, formatCertificate("public", pair, metadata, now), PUBLIC_FILE_MODE);
}

// ---------------------------------------------------------------------------------------------
// Reading

/** One property line of a ZPL file: its depth (indent / 4), name and value ("" for a section). */
export interface ZplEntry {
  depth: number;
  name: string;
  value: string;
  line: number;
}

const ZPL_NAME = /^[A-Za-z0-9$\-_@.&+/]*/;

/**
 * Parses ZPL the way czmq's zconfig_chunk_load does: "#" lines are comments, indentation is 4
 * spaces a level, a name is zconfig's name characters, then optionally `= "value"`, `= 'value'`
 * or `= value` (unquoted, up to a "#"). Anything else refuses the whole file, as zconfig does.
 * Returns the entries in order with their depth; the tree is implied by the depths.
 */
export function parseZpl(text: string): Checked<ZplEntry[]> {
  const entries: ZplEntry[] = [];
  const lines = text.split("\n");
  let previousDepth = 0;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = (lines[i] as string).replace(/\s+$/, "");
    if (raw.length > MAX_LINE_CHARS) return refuse(`line ${lineNo}: longer than ${MAX_LINE_CHARS} characters`);
    if (raw.startsWith("#") || raw.trim() === "") continue;
    const indent = raw.length - raw.trimStart().length;
    if (raw.slice(0, indent).includes("\t")) return refuse(`line ${lineNo}: indent with spaces, not tabs`);
    if (indent % 4 !== 0) return refuse(`line ${lineNo}: indent 4 spaces a level`);
    const depth = indent / 4;
    if (depth > previousDepth + 1 || (entries.length === 0 && depth > 0)) return refuse(`line ${lineNo}: indentation error`);
    let rest = raw.slice(indent);
    const name = (ZPL_NAME.exec(rest) as RegExpExecArray)[0];
    if (name === "") {
      if (rest.startsWith("#")) continue; // an indented comment
      return refuse(`line ${lineNo}: invalid syntax`);
    }
    if (name.startsWith("/") || name.endsWith("/")) return refuse(`line ${lineNo}: '/' not valid at name start or end`);
    rest = rest.slice(name.length).trimStart();
    let value = "";
    if (rest.startsWith("=")) {
      rest = rest.slice(1).trimStart();
      const quote = rest[0];
      if (quote === '"' || quote === "'") {
        const end = rest.indexOf(quote, 1);
        if (end < 0) return refuse(`line ${lineNo}: missing ${quote}`);
        value = rest.slice(1, end);
        const after = rest.slice(end + 1).trimStart();
        if (after !== "" && !after.startsWith("#")) return refuse(`line ${lineNo}: invalid syntax after the value`);
      } else {
        const comment = rest.indexOf("#");
        value = (comment < 0 ? rest : rest.slice(0, comment)).trimEnd();
      }
    } else if (rest !== "" && !rest.startsWith("#")) {
      return refuse(`line ${lineNo}: invalid syntax`);
    }
    entries.push({ depth, name, value, line: lineNo });
    previousDepth = depth;
  }
  return ok(entries);
}

/**
 * The certificate in a ZPL text: /curve/public-key (required), /curve/secret-key (optional),
 * and the values under /metadata. A duplicate key line is refused rather than guessed at.
 */
export function certificateFromZpl(text: string): Checked<Certificate> {
  const parsed = parseZpl(text);
  if (!parsed.ok) return parsed;
  let section = "";
  const curve: Record<string, string> = {};
  const metadata: Record<string, string> = {};
  for (const entry of parsed.value) {
    if (entry.depth === 0) {
      section = entry.name;
      continue;
    }
    if (entry.depth !== 1) continue; // deeper properties are not part of a certificate
    if (section === "curve" && (entry.name === "public-key" || entry.name === "secret-key")) {
      if (entry.name in curve) return refuse(`line ${entry.line}: a second ${entry.name}`);
      curve[entry.name] = entry.value;
    } else if (section === "metadata") {
      metadata[entry.name] = entry.value;
    }
  }
  const publicKey = curve["public-key"];
  if (publicKey === undefined) return refuse("no curve/public-key");
  if (!isZ85Key(publicKey)) return refuse("curve/public-key is not a 40-character Z85 key");
  const secretKey = curve["secret-key"];
  if (secretKey === undefined) return ok({ publicKey, metadata });
  if (!isZ85Key(secretKey)) return refuse("curve/secret-key is not a 40-character Z85 key");
  if (publicFromSecret(secretKey) !== publicKey) return refuse("curve/secret-key does not derive curve/public-key");
  return ok({ publicKey, secretKey, metadata });
}

/** "0644" for an error message. */
function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, "0")}`;
}

/**
 * Reads one certificate file (public or secret). A file that holds a secret key, or whose name
 * ends in `_secret`, must not be readable or writable by group or others (as ssh refuses a loose
 * private key; on POSIX systems: Windows reports no such modes): CertificateError "... mode 0644: group or others may read it; chmod 600 ...".
 * The secret, when present, must derive the public key. Errors never quote a key.
 */
export async function readCertificate(path: string): Promise<Certificate> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    throw new CertificateError(`${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, path);
  }
  if (!info.isFile()) throw new CertificateError(`${path}: not a regular file`, path);
  if (info.size > MAX_CERTIFICATE_BYTES) throw new CertificateError(`${path}: ${info.size} bytes, too big for a certificate`, path);
  const text = await readFile(path, "utf8");
  // Windows has no POSIX modes (stat reports 0666 or 0444 whatever the ACL says): the check is POSIX-only.
  const loose = process.platform !== "win32" && (Number(info.mode) & 0o077) !== 0;
  const holdsSecret = path.endsWith(SECRET_SUFFIX) || /^\s*secret-key\s*=/m.test(text);
  if (holdsSecret && loose) {
    throw new CertificateError(
      `${path}: secret certificate with mode ${octal(Number(info.mode))}: group or others may read it; chmod 600 ${path}`,
      path,
    );
  }
  const certificate = certificateFromZpl(text);
  if (!certificate.ok) throw new CertificateError(`${path}: ${certificate.reason}`, path);
  return certificate.value;
}

/** Reads the secret certificate of `basePath` (`basePath_secret`) and checks it holds a secret key. */
export async function readKeyPair(basePath: string): Promise<CurveKeyPair & { metadata: Record<string, string> }> {
  const path = basePath.endsWith(SECRET_SUFFIX) ? basePath : basePath + SECRET_SUFFIX;
  const certificate = await readCertificate(path);
  if (certificate.secretKey === undefined) throw new CertificateError(`${path}: no curve/secret-key`, path);
  return { publicKey: certificate.publicKey, secretKey: certificate.secretKey, metadata: certificate.metadata };
}

/**
 * Every public certificate in `dir`, keyed by its public key (Z85), as zcertstore loads a store:
 * every regular file except `*_secret` and dot files (our temporary files). A file that is not a
 * certificate is skipped and reported through `onSkip` (path, reason), never silently.
 * Only the public key and metadata are kept, even from a file that holds a secret.
 */
export async function readPublicKeys(
  dir: string,
  options: { onSkip?: (path: string, reason: string) => void } = {},
): Promise<Map<string, { path: string; metadata: Record<string, string> }>> {
  const keys = new Map<string, { path: string; metadata: Record<string, string> }>();
  const names = (await readdir(dir)).sort();
  if (names.length > MAX_STORE_FILES) throw new CertificateError(`${dir}: more than ${MAX_STORE_FILES} files`, dir);
  for (const name of names) {
    if (name.startsWith(".") || name.endsWith(SECRET_SUFFIX)) continue;
    const path = join(dir, name);
    try {
      const info = await stat(path);
      if (!info.isFile()) continue;
      const certificate = await readCertificate(path);
      if (keys.has(certificate.publicKey)) {
        options.onSkip?.(path, `same public key as ${keys.get(certificate.publicKey)?.path}`);
        continue;
      }
      keys.set(certificate.publicKey, { path, metadata: certificate.metadata });
    } catch (error) {
      options.onSkip?.(path, error instanceof CertificateError ? error.message : String(error));
    }
  }
  return keys;
}

/**
 * Waits until `path` exists (a role started beside keygen waits for its certificate), polling
 * every `everyMs`; resolves false when `timeoutMs` passes or the signal aborts first.
 */
export async function waitForFile(path: string, timeoutMs: number, signal?: AbortSignal, everyMs = 100): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    if (await exists(path)) return true;
    if (signal?.aborted || performance.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
