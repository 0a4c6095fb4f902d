// The bridge's bookkeeping, without sockets: which browser holds which prefixes, the reference-
// counted union of them (what the upstream SUB is subscribed to), and the last value per topic.
import { MAX_PREFIXES_PER_CLIENT } from "./protocol.ts";

/** Topics the last-value cache keeps at most; the least recently updated makes room. */
export const MAX_CACHED_TOPICS = 10_000;

export interface ClientSubs {
  prefixes: Set<string>;
}

export type SubscribeResult = { ok: true; upstream: boolean; already: boolean } | { ok: false; reason: string };

export class Fanout<C extends ClientSubs> {
  /** prefix -> how many browsers hold it: the upstream SUB holds exactly the keys. */
  readonly refs = new Map<string, number>();
  /** topic -> the last message's frames (insertion order = least recently updated first). */
  readonly cache = new Map<string, Buffer[]>();

  constructor(private readonly maxCached = MAX_CACHED_TOPICS) {}

  /** A browser subscribes; `upstream` is true when the SUB must subscribe (first holder). */
  subscribe(client: C, prefix: string): SubscribeResult {
    if (client.prefixes.has(prefix)) return { ok: true, upstream: false, already: true };
    if (client.prefixes.size >= MAX_PREFIXES_PER_CLIENT)
      return { ok: false, reason: `at most ${MAX_PREFIXES_PER_CLIENT} prefixes per browser` };
    client.prefixes.add(prefix);
    const n = (this.refs.get(prefix) ?? 0) + 1;
    this.refs.set(prefix, n);
    return { ok: true, upstream: n === 1, already: false };
  }

  /** A browser unsubscribes; true when the SUB must unsubscribe (last holder gone). */
  unsubscribe(client: C, prefix: string): boolean {
    if (!client.prefixes.delete(prefix)) return false;
    const n = (this.refs.get(prefix) ?? 1) - 1;
    if (n > 0) {
      this.refs.set(prefix, n);
      return false;
    }
    this.refs.delete(prefix);
    return true;
  }

  /** A browser leaves: the prefixes the SUB must drop. */
  remove(client: C): string[] {
    const gone: string[] = [];
    for (const prefix of [...client.prefixes]) if (this.unsubscribe(client, prefix)) gone.push(prefix);
    return gone;
  }

  /** Remembers a message as its topic's last value. */
  remember(topic: string, frames: Buffer[]): void {
    this.cache.delete(topic);
    this.cache.set(topic, frames);
    if (this.cache.size > this.maxCached) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }

  /** Cached messages a new subscription to `prefix` gets at once (those the client did not already match). */
  cachedFor(prefix: string, client?: C): Buffer[][] {
    const out: Buffer[][] = [];
    for (const [topic, frames] of this.cache) {
      if (!topic.startsWith(prefix)) continue;
      if (client && matchesOther(client, topic, prefix)) continue;
      out.push(frames);
    }
    return out;
  }
}

/** Whether a browser's prefixes match a topic (a topic matched by two of them is delivered once). */
export function matches(client: ClientSubs, topic: string): boolean {
  for (const p of client.prefixes) if (topic.startsWith(p)) return true;
  return false;
}

function matchesOther(client: ClientSubs, topic: string, except: string): boolean {
  for (const p of client.prefixes) if (p !== except && topic.startsWith(p)) return true;
  return false;
}
