// The bridge's live view, pure: browsers, their subscriptions, rates and slow drops.
import { formatCount, type View, type ViewCell } from "@zlabs/kit";

export interface BridgeStats {
  browsers: number;
  connects: number;
  /** Upstream messages taken (valid ones). */
  upstream: number;
  /** WebSocket data messages sent to browsers. */
  delivered: number;
  slowDrops: number;
  slowDisconnects: number;
  refusedOrigin: number;
  refusedFull: number;
  badFrames: number;
  malformed: number;
  inRate: number;
  outRate: number;
}

export interface BrowserRow {
  id: number;
  address: string;
  prefixes: string[];
  sent: number;
  dropped: number;
  buffered: number;
}

/** Browsers listed at most. */
export const MAX_VIEW_ROWS = 20;

export const VIEW_COLUMNS = ["BROWSER", "FROM", "SUBSCRIBED TO", "SENT", "DROPPED (SLOW)", "BUFFERED"];

const kib = (n: number) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(0)} KiB`);

export function bridgeView(url: string, s: BridgeStats, browsers: readonly BrowserRow[], upstream: readonly [string, number][]): View {
  const title = `${url || "(starting)"} · ${s.browsers} browsers · ${Math.round(s.inRate)} msg/s in, ${Math.round(s.outRate)} msg/s out`;
  const rows: ViewCell[][] = browsers
    .slice(0, MAX_VIEW_ROWS)
    .map((b) => [
      `#${b.id}`,
      b.address,
      b.prefixes.length ? b.prefixes.map((p) => p || "(all)").join(" ") : { text: "nothing yet", tone: "dim" },
      formatCount(b.sent),
      b.dropped ? { text: formatCount(b.dropped), tone: "warn" } : 0,
      { text: kib(b.buffered), tone: b.buffered > 0 ? "warn" : "dim" },
    ]);
  const union = upstream.length ? upstream.map(([p, n]) => `${p || "(all)"}×${n}`).join(" ") : "nothing (no browser subscribed)";
  const summary = [
    `upstream SUB holds: ${union}`,
    `messages in ${formatCount(s.upstream)}, to browsers ${formatCount(s.delivered)} · slow drops ${formatCount(s.slowDrops)}, slow disconnects ${s.slowDisconnects}` +
      ` · refused: origin ${s.refusedOrigin}, full ${s.refusedFull} · bad frames ${s.badFrames} · malformed upstream ${s.malformed}`,
  ];
  if (browsers.length > MAX_VIEW_ROWS) summary.unshift(`… ${browsers.length - MAX_VIEW_ROWS} more browsers`);
  if (browsers.length === 0) summary.unshift(`no browser yet: open ${url || "the page"}`);
  return { title, columns: VIEW_COLUMNS, rows, summary };
}
