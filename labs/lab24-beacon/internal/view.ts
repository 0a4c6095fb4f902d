// What the device and the scanner show on the demo screen (the kit's publishView): pure functions
// of a snapshot, so they are tested without sockets.
import { formatCount, formatSeconds, type View, type ViewCell } from "@zlabs/kit";

/** How often a role publishes its view. */
export const VIEW_MS = 500;

export interface DeviceSnapshot {
  name: string;
  endpoint: string;
  /** The advertised key's label. */
  key: string;
  impersonating: boolean;
  signed: boolean;
  uptimeMs: number;
  beaconsSent: number;
  served: number;
  badRequests: number;
  /** Other devices heard on the beacon port. */
  neighbours: number;
  ownIgnored: number;
  dropped: number;
}

export function deviceView(s: DeviceSnapshot): View {
  const key = s.impersonating ? `advertises ${s.key} (not its own: an impostor)` : `key ${s.key}`;
  return {
    title: `${s.name} · CURVE REP ${s.endpoint} · ${key}${s.signed ? " · signed beacons" : ""}`,
    summary:
      `beacons sent ${formatCount(s.beaconsSent)} · status requests served ${formatCount(s.served)} · bad ${formatCount(s.badRequests)} · ` +
      `hears ${s.neighbours} other node${s.neighbours === 1 ? "" : "s"} · own beacons ignored ${formatCount(s.ownIgnored)} · dropped ${formatCount(s.dropped)}`,
  };
}

/** Why a scanner talks to a device, or does not. */
export type Trust = "checking" | "pinned" | "signed" | "not pinned" | "no key" | "untrusted";
export type Presence = "present" | "quiet" | "left" | "vanished";

export interface DeviceRow {
  /** The name from its status reply (only a device past the handshake has one); its uuid's start otherwise. */
  label: string;
  endpoint: string;
  key: string;
  trust: Trust;
  /** For a trusted device: whether the CURVE handshake is done. */
  secure: boolean;
  /** Why it is untrusted. */
  failure?: string;
  presence: Presence;
  /** present: since it joined; quiet: since last heard; left and vanished: since it went. */
  forMs: number;
  replies: number;
  missed: number;
}

export interface ScannerSnapshot {
  /** Present devices first (in the order they joined), then those gone a short while ago, latest first. */
  devices: DeviceRow[];
  beacons: number;
  dropped: Record<string, number>;
  pinnedKeys: number;
  pinnedDir: string | undefined;
  verifying: boolean;
  expiryMs: number;
}

function trustCell(d: DeviceRow): ViewCell {
  switch (d.trust) {
    case "pinned":
    case "signed":
      return d.secure ? { text: `${d.trust}, CURVE ok`, tone: "good" } : { text: `${d.trust}, handshaking`, tone: "info" };
    case "checking":
      return { text: "checking key", tone: "dim" };
    case "not pinned":
      return { text: "untrusted: key not pinned", tone: "warn" };
    case "no key":
      return { text: "v1 beacon, no key: not contacted", tone: "dim" };
    case "untrusted":
      return { text: `untrusted: ${d.failure ?? "?"}`, tone: "bad" };
  }
}

function presenceCell(d: DeviceRow, expiryMs: number): ViewCell {
  switch (d.presence) {
    case "present":
      return { text: `present ${formatSeconds(d.forMs)}`, tone: "good" };
    case "quiet":
      return { text: `quiet ${formatSeconds(d.forMs)} (gone at ${formatSeconds(expiryMs)})`, tone: "warn" };
    case "left":
      return { text: `left ${formatSeconds(d.forMs)} ago (port 0)`, tone: "dim" };
    case "vanished":
      return { text: `vanished ${formatSeconds(d.forMs)} ago (silent)`, tone: "bad" };
  }
}

export function scannerView(s: ScannerSnapshot): View {
  const here = s.devices.filter((d) => d.presence === "present" || d.presence === "quiet");
  const secure = here.filter((d) => d.secure).length;
  const dropped = Object.entries(s.dropped)
    .map(([reason, n]) => `${reason} ${formatCount(n)}`)
    .join(", ");
  const trustFrom = [
    s.pinnedDir !== undefined ? `${s.pinnedKeys} pinned key${s.pinnedKeys === 1 ? "" : "s"} (${s.pinnedDir})` : "no allowlist",
    s.verifying ? "signed beacons verified" : "no signing key",
  ].join(" · ");
  return {
    title: `${here.length} device${here.length === 1 ? "" : "s"} on the network, ${secure} over CURVE`,
    columns: ["DEVICE", "ENDPOINT", "KEY", "TRUST", "STATE", "REPLIES"],
    rows: s.devices.map((d): ViewCell[] => [
      d.presence === "left" || d.presence === "vanished" ? { text: d.label, tone: "dim" } : d.label,
      d.endpoint,
      d.key || { text: "-", tone: "dim" },
      trustCell(d),
      presenceCell(d, s.expiryMs),
      d.replies + d.missed > 0
        ? `${formatCount(d.replies)}${d.missed ? ` (${formatCount(d.missed)} missed)` : ""}`
        : { text: "-", tone: "dim" },
    ]),
    summary: [`beacons heard ${formatCount(s.beacons)} · dropped: ${dropped || "none"}`, `trust: ${trustFrom}`],
  };
}
