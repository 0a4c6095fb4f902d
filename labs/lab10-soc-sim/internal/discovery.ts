// Which registry backend a `--registry URL` names: "builtin:tcp://host:port" (the service-registry
// role) or "etcd:http://host:port[,http://host:port]" (real etcd, through B's etcd3 client).
import { type Logger, UsageError } from "@zlabs/kit";
import type { Registry } from "./registry.ts";
import { BuiltinRegistry } from "./registry-builtin.ts";
import { openEtcdRegistry } from "./registry-etcd.ts";

export const DEFAULT_REGISTRY = "builtin:tcp://127.0.0.1:5100";

export type RegistryUrl = { kind: "builtin"; endpoint: string } | { kind: "etcd"; endpoints: string[] };

export function parseRegistryUrl(url: string): RegistryUrl | undefined {
  const b = /^builtin:(tcp:\/\/[A-Za-z0-9.-]+:\d{1,5})$/.exec(url);
  if (b) return { kind: "builtin", endpoint: b[1] as string };
  const e = /^etcd:(.+)$/.exec(url);
  if (e) {
    const endpoints = (e[1] as string).split(",");
    if (endpoints.every((x) => /^https?:\/\/[A-Za-z0-9.-]+:\d{1,5}$/.test(x))) return { kind: "etcd", endpoints };
  }
  return undefined;
}

export async function openRegistry(url: string, log: Logger): Promise<Registry> {
  const parsed = parseRegistryUrl(url);
  if (!parsed) throw new UsageError(`--registry "${url}": builtin:tcp://host:port or etcd:http://host:port[,http://host:port] expected`);
  if (parsed.kind === "builtin") return new BuiltinRegistry(parsed.endpoint, log);
  return openEtcdRegistry(parsed.endpoints, log);
}
