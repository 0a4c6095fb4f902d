/**
 * The Ironhouse policy: who may complete a CURVE handshake with the C2 server.
 *
 * - A certificate store: a folder of zcert public certificate files (lab19's format, as CZMQ's
 *   zcertstore reads it). A client is admitted when its public key is in one of them. The store
 *   reloads when the folder changes (as zcertstore: the folder's mtime; the files' sizes and
 *   mtimes), checked at every handshake (the folder's mtime) and every reload interval (all of
 *   it), so a new public file admits a client without a restart and a removed one refuses it.
 * - Address lists (zauth's rules): an address on the deny list is refused; when the allow list is
 *   not empty, an address not on it is refused; an allowed address must still present an admitted
 *   key (Ironhouse never lets an address stand in for a key). Entries are addresses or CIDR subnets.
 */
import { readdir, stat } from "node:fs/promises";
import { BlockList, isIP } from "node:net";
import { join } from "node:path";
import type { Logger } from "@zlabs/kit";
import { readPublicKeys, SECRET_SUFFIX } from "lab19/certificates";
import { z85Encode } from "lab19/z85";
import type { ZapDecision, ZapPolicy, ZapRequest } from "./zap.ts";

export interface StoredKey {
  /** The certificate's metadata `name`, or its file name. */
  name: string;
  path: string;
}

export interface StoreChange {
  added: { key: string; name: string }[];
  removed: { key: string; name: string }[];
}

/** What decides a reload: the folder's mtime and, per file, its name, size and mtime. */
async function fingerprint(dir: string): Promise<string> {
  const parts = [String((await stat(dir)).mtimeMs)];
  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith(".") || name.endsWith(SECRET_SUFFIX)) continue;
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info) parts.push(`${name}:${info.size}:${info.mtimeMs}`);
  }
  return parts.join("|");
}

export class CertificateStore {
  private keys = new Map<string, StoredKey>();
  private print = "";
  private folderTime = -1;
  /** One reload at a time: concurrent handshakes share it. */
  private reloading: Promise<StoreChange> | undefined;
  loads = 0;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
    private readonly onChange?: (change: StoreChange) => void,
  ) {}

  get size(): number {
    return this.keys.size;
  }

  get(publicKey: string): StoredKey | undefined {
    return this.keys.get(publicKey);
  }

  entries(): [string, StoredKey][] {
    return [...this.keys.entries()];
  }

  /**
   * Reloads when the folder changed since the last load; resolves with what changed. "quick" (at
   * each handshake) looks only at the folder's mtime, which a file added, removed or renamed in or
   * out changes: one stat, whatever the store's size. "full" (every reload interval) also looks at
   * each file's size and mtime, so a certificate rewritten in place is seen too.
   */
  refresh(mode: "quick" | "full" = "full"): Promise<StoreChange> {
    this.reloading ??= this.reloadIfChanged(mode).finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private async reloadIfChanged(mode: "quick" | "full"): Promise<StoreChange> {
    const folderTime = (await stat(this.dir)).mtimeMs;
    if (mode === "quick" && folderTime === this.folderTime) return { added: [], removed: [] };
    this.folderTime = folderTime;
    const print = await fingerprint(this.dir);
    if (print === this.print) return { added: [], removed: [] };
    const loaded = await readPublicKeys(this.dir, {
      onSkip: (path, reason) => this.log.warn({ path, reason }, "certificate skipped"),
    });
    const next = new Map<string, StoredKey>();
    for (const [key, { path, metadata }] of loaded) next.set(key, { name: metadata.name ?? path.split(/[\\/]/).pop() ?? path, path });
    const change: StoreChange = {
      added: [...next].filter(([k]) => !this.keys.has(k)).map(([key, v]) => ({ key, name: v.name })),
      removed: [...this.keys].filter(([k]) => !next.has(k)).map(([key, v]) => ({ key, name: v.name })),
    };
    const first = this.loads === 0;
    this.keys = next;
    this.print = print;
    this.loads += 1;
    if (first) this.log.info({ dir: this.dir, keys: next.size }, "certificate store loaded");
    else if (change.added.length + change.removed.length > 0) {
      this.log.info(
        { added: change.added.map((a) => a.name), removed: change.removed.map((r) => r.name), keys: next.size },
        "certificate store reloaded",
      );
      this.onChange?.(change);
    }
    return change;
  }
}

/** zauth's address rules; entries are IPv4/IPv6 addresses or CIDR subnets ("10.0.0.0/8"). */
export class AddressRules {
  private readonly allow = new BlockList();
  private readonly deny = new BlockList();
  readonly allowCount: number;
  readonly denyCount: number;

  constructor(allow: readonly string[] = [], deny: readonly string[] = []) {
    for (const entry of allow) addRule(this.allow, entry);
    for (const entry of deny) addRule(this.deny, entry);
    this.allowCount = allow.length;
    this.denyCount = deny.length;
  }

  /** undefined when the address may go on to authenticate; else why not. */
  refusal(address: string): string | undefined {
    const type = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (isIP(address) === 0) return "not an IP address";
    if (this.deny.check(address, type)) return "address on the deny list";
    if (this.allowCount > 0 && !this.allow.check(address, type)) return "address not on the allow list";
    return undefined;
  }
}

/** Parses one entry; throws a one-line Error naming it (the config turns it into a usage error). */
export function addRule(list: BlockList, entry: string): void {
  const [address, bits, ...rest] = entry.split("/");
  const family = isIP(address ?? "");
  if (family === 0 || rest.length > 0) throw new Error(`"${entry}" is not an IP address or a CIDR subnet`);
  const type = family === 6 ? "ipv6" : "ipv4";
  if (bits === undefined) {
    list.addAddress(address as string, type);
    return;
  }
  const prefix = Number(bits);
  if (!/^\d{1,3}$/.test(bits) || prefix > (family === 6 ? 128 : 32)) throw new Error(`"${entry}": bad prefix length`);
  list.addSubnet(address as string, prefix, type);
}

export interface PolicyOptions {
  /** The ZAP domain the server sockets set: requests for any other domain are refused. */
  domain: string;
  store: CertificateStore;
  rules: AddressRules;
}

/** The decision for one handshake, in the order zauth takes them: domain, address, mechanism, key. */
export function ironhousePolicy({ domain, store, rules }: PolicyOptions): ZapPolicy {
  return async (request: ZapRequest): Promise<ZapDecision> => {
    if (request.domain !== domain) return { status: 400, text: `Unknown domain` };
    const refused = rules.refusal(request.address);
    if (refused) return { status: 400, text: `Address denied: ${refused}` };
    if (request.mechanism !== "CURVE") return { status: 400, text: `${request.mechanism} refused: CURVE only` };
    const key = z85Encode(request.credentials[0] as Buffer);
    await store.refresh("quick");
    const known = store.get(key);
    if (!known) return { status: 400, text: "No access: unknown key" };
    return { status: 200, text: "OK", userId: key, metadata: { Name: known.name } };
  };
}
