// The roles' live views, as pure functions of their state: the broker's cache and subscribers,
// the analyst's table of values, a source's one line. The kit draws them (publishView).
import type { View, ViewCell } from "@zlabs/kit";
import type { SampleHeader } from "./protocol.ts";

/** A value this old (no newer sample since) is shown in yellow: its source has gone quiet. */
export const STALE_AFTER_MS = 5000;
/** Rows a view lists at most: a screen shows far fewer, and the tables may hold 10,000 topics. */
export const MAX_VIEW_ROWS = 100;
/** Subscription prefixes the broker's view names at most (the rest are counted). */
export const MAX_VIEW_PREFIXES = 8;

const age = (ms: number): ViewCell => ({
  text: `${(Math.max(0, ms) / 1000).toFixed(1)}s`,
  tone: ms >= STALE_AFTER_MS ? "warn" : undefined,
});
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** What the broker's view needs of a cached sample. */
export interface CachedTopic {
  topic: string;
  source: string;
  /** Monotonic time of the last update, ms. */
  at: number;
}

export interface Subscription {
  prefix: string;
  /** Subscribers holding this prefix now (subscribes less unsubscribes, as the XPUB reports them). */
  subscribers: number;
  /** Cached values sent to them when they subscribed. */
  replayed: number;
}

export interface BrokerCounters {
  forwarded: number;
  replayed: number;
  malformed: number;
  badSubscriptions: number;
  evicted: number;
  maxTopics: number;
}

/**
 * The broker's view: what the cache holds, per site (the topic's first segment): how many topics,
 * from which sources, how old the newest and the oldest value are; then who is subscribed to what,
 * and what was replayed to them.
 */
export function brokerView(
  cached: Iterable<CachedTopic>,
  subscriptions: readonly Subscription[],
  nowMs: number,
  counters: BrokerCounters,
): View {
  const sites = new Map<string, { topics: number; sources: Set<string>; newest: number; oldest: number }>();
  let topics = 0;
  const sources = new Set<string>();
  for (const c of cached) {
    topics += 1;
    sources.add(c.source);
    const site = c.topic.split(".", 1)[0] as string;
    const s = sites.get(site) ?? { topics: 0, sources: new Set<string>(), newest: c.at, oldest: c.at };
    s.topics += 1;
    if (s.sources.size < 4) s.sources.add(c.source);
    s.newest = Math.max(s.newest, c.at);
    s.oldest = Math.min(s.oldest, c.at);
    sites.set(site, s);
  }
  const names = [...sites.keys()].sort();
  const rows: ViewCell[][] = names.slice(0, MAX_VIEW_ROWS).map((name) => {
    const s = sites.get(name) as NonNullable<ReturnType<typeof sites.get>>;
    return [name, s.topics, [...s.sources].join(" "), age(nowMs - s.newest), age(nowMs - s.oldest)];
  });
  const subscribers = subscriptions.reduce((n, s) => n + s.subscribers, 0);
  const title = `cache: ${plural(topics, "topic")} from ${plural(sources.size, "source")} · ${plural(subscribers, "subscription")} · ${plural(counters.replayed, "value")} replayed`;
  const listed = subscriptions
    .slice(0, MAX_VIEW_PREFIXES)
    .map((s) => `${s.prefix === "" ? '""' : s.prefix} ×${s.subscribers} (${s.replayed} replayed)`);
  if (subscriptions.length > MAX_VIEW_PREFIXES) listed.push(`… ${subscriptions.length - MAX_VIEW_PREFIXES} more`);
  const summary = [
    ...(names.length > MAX_VIEW_ROWS ? [`… ${names.length - MAX_VIEW_ROWS} more sites`] : []),
    ...(topics === 0 ? ["empty: a topic is cached at its first sample"] : []),
    `subscribed: ${listed.length ? listed.join(" · ") : "nobody"}`,
    `forwarded ${counters.forwarded} · malformed ${counters.malformed} · bad subscriptions ${counters.badSubscriptions} · evicted ${counters.evicted} (holds at most ${plural(counters.maxTopics, "topic")})`,
  ];
  return { title, columns: ["SITE", "TOPICS", "SOURCES", "NEWEST", "OLDEST"], rows, summary };
}

/** What the terminal's view needs of a topic it shows. */
export interface ShownTopic {
  topic: string;
  header: SampleHeader;
  values: number[];
  /** Samples of this topic received (a replay from the cache is the first). */
  updates: number;
}

export interface TerminalCounters {
  duplicates: number;
  malformed: number;
}

/** The analyst's table: the latest value of every topic watched, with its age on the source's clock. */
export function terminalView(prefixes: readonly string[], topics: Iterable<ShownTopic>, nowMs: number, counters: TerminalCounters): View {
  const all = [...topics].sort((a, b) => a.topic.localeCompare(b.topic));
  const rows: ViewCell[][] = all
    .slice(0, MAX_VIEW_ROWS)
    .map((t) => [
      t.topic,
      { text: (t.values.at(-1) ?? 0).toFixed(2), tone: "bold" },
      t.header.units,
      age(nowMs - t.header.ts),
      t.header.source,
      t.header.seq,
      t.updates,
    ]);
  const watching = prefixes.map((p) => (p === "" ? "everything" : p)).join(", ");
  return {
    title: `watching ${watching} · ${plural(all.length, "topic")}`,
    columns: ["TOPIC", "VALUE", "UNITS", "AGE", "SOURCE", "SEQ", "UPDATES"],
    rows,
    summary: [
      ...(all.length > MAX_VIEW_ROWS ? [`… ${all.length - MAX_VIEW_ROWS} more topics`] : []),
      ...(all.length === 0 ? ["no value yet"] : []),
      `${counters.duplicates} repeats dropped · ${counters.malformed} malformed`,
    ],
  };
}

export interface SourceState {
  site: string;
  topics: number;
  /** Between rounds, ms; undefined when it publishes as fast as it can (--churn). */
  intervalMs: number | undefined;
  broker: string;
  samples: number;
}

/** A source's one line: what it publishes, where, how often, how much so far. */
export function sourceView(s: SourceState): View {
  const pace = s.intervalMs === undefined ? "as fast as it can" : `every ${(s.intervalMs / 1000).toFixed(1)}s`;
  return { title: `${s.site}: ${plural(s.topics, "topic")} ${pace} → ${s.broker} · ${plural(s.samples, "sample")} sent` };
}
