// Network namespaces for the partition tests: the primary, the backup and the client each in a
// namespace of its own, joined by three veth pairs (the state link, and one link from the client to
// each server), so a test can cut any link with `ip link set ... down`. Every name starts with zl11.
import { addNamespace, ip, removeNamespaces } from "@zlabs/kit/testing";

export const PREFIX = "zl11";
export const NAMESPACES = { primary: "zl11p", backup: "zl11b", client: "zl11c" } as const;
type Where = keyof typeof NAMESPACES;

interface End {
  ns: Where;
  dev: string;
  ip: string;
}

/** Each link: a veth pair with a /30 on it. */
export const LINKS = {
  state: [
    { ns: "primary", dev: "zl11st-p", ip: "10.111.1.1" },
    { ns: "backup", dev: "zl11st-b", ip: "10.111.1.2" },
  ],
  primaryClient: [
    { ns: "primary", dev: "zl11pc-p", ip: "10.111.2.1" },
    { ns: "client", dev: "zl11pc-c", ip: "10.111.2.2" },
  ],
  backupClient: [
    { ns: "backup", dev: "zl11bc-b", ip: "10.111.3.1" },
    { ns: "client", dev: "zl11bc-c", ip: "10.111.3.2" },
  ],
} as const satisfies Record<string, readonly [End, End]>;
export type Link = keyof typeof LINKS;

export function build(): void {
  removeNamespaces(PREFIX);
  for (const ns of Object.values(NAMESPACES)) addNamespace(ns);
  for (const [a, b] of Object.values(LINKS)) {
    ip("link", "add", a.dev, "netns", NAMESPACES[a.ns], "type", "veth", "peer", "name", b.dev, "netns", NAMESPACES[b.ns]);
    for (const end of [a, b]) {
      ip("-n", NAMESPACES[end.ns], "addr", "add", `${end.ip}/30`, "dev", end.dev);
      ip("-n", NAMESPACES[end.ns], "link", "set", end.dev, "up");
    }
  }
}

/** Cuts a link (its first end down: the other loses its carrier too) or heals it. */
export function setLink(link: Link, up: boolean): void {
  const [end] = LINKS[link];
  ip("-n", NAMESPACES[end.ns], "link", "set", end.dev, up ? "up" : "down");
}
