// Geo enrichment: a small built-in table of networks (the documentation and private ranges the demo
// uses, plus a few well-known public blocks), longest prefix first. A real SOC loads a GeoIP database
// here; the lookup and what it fills in stay the same.
import { isIPv4 } from "node:net";
import type { Geo } from "./event.ts";

interface Block {
  net: number;
  bits: number;
  geo: Geo;
}

const g = (country: string, city: string, latitude: number, longitude: number, asn: number, org: string): Geo => ({
  country,
  city,
  latitude,
  longitude,
  asn,
  org,
});

function ipv4(ip: string): number {
  return ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
}

const TABLE: [string, Geo][] = [
  ["10.0.0.0/8", g("FR", "Paris", 48.857, 2.352, 64512, "corp LAN")],
  ["192.168.0.0/16", g("FR", "Lyon", 45.764, 4.836, 64513, "branch LAN")],
  ["172.16.0.0/12", g("DE", "Frankfurt", 50.11, 8.682, 64514, "datacentre")],
  ["203.0.113.0/24", g("RU", "Moscow", 55.756, 37.617, 64501, "bulletproof hosting")],
  ["198.51.100.0/24", g("CN", "Shanghai", 31.23, 121.474, 64502, "scanner network")],
  ["192.0.2.0/24", g("NL", "Amsterdam", 52.37, 4.895, 64503, "anonymiser exit")],
  ["8.8.8.0/24", g("US", "Mountain View", 37.386, -122.084, 15169, "Google")],
  ["1.1.1.0/24", g("AU", "Sydney", -33.869, 151.209, 13335, "Cloudflare")],
  ["151.101.0.0/16", g("US", "San Francisco", 37.775, -122.419, 54113, "Fastly")],
  ["93.184.0.0/16", g("US", "Los Angeles", 34.052, -118.244, 15133, "Edgecast")],
];

const BLOCKS: Block[] = TABLE.map(([cidr, geo]) => {
  const [net, bits] = cidr.split("/") as [string, string];
  return { net: ipv4(net), bits: Number(bits), geo };
}).sort((a, b) => b.bits - a.bits);

/** Where an address is, or undefined (IPv6 and unknown blocks). */
export function geoOf(ip: string): Geo | undefined {
  if (!isIPv4(ip)) return undefined;
  const a = ipv4(ip);
  for (const b of BLOCKS) {
    const size = 2 ** (32 - b.bits);
    if (Math.floor(a / size) === Math.floor(b.net / size)) return b.geo;
  }
  return undefined;
}
