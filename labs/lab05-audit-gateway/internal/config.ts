import os from "node:os";
import { fileURLToPath } from "node:url";
import { type ConfigOf, endpointOption, intOption, isSafeName, numberOption, userPath } from "@zlabs/kit";
import type { ArchivistConfig } from "./archival-worker.ts";
import { KEEP_RECORDS } from "./archive.ts";
import { type ClientConfig, DEFAULT_INFLIGHT, REQUEST_TIMEOUT_MS } from "./audit-client.ts";
import { CLIENT_TTL_MS, type GatewayConfig, MAX_INFLIGHT, REQUEST_TTL_MS } from "./audit-gateway.ts";

export const LAB = "lab05";
export const FRONT = "tcp://127.0.0.1:5050";
export const BACK = "tcp://127.0.0.1:5051";

/** The archive's default: in the lab's own folder, whatever folder the command ran in (`./run.sh clean` removes .store). */
export const DEFAULT_ARCHIVE = ".store/archive";
const LAB_ARCHIVE = fileURLToPath(new URL(`../${DEFAULT_ARCHIVE}`, import.meta.url));

const idCheck = (id: string) => (isSafeName(id) ? undefined : `--id "${id}" may hold only letters, digits, ., - and _`);

export const gatewayOptions = {
  front: endpointOption(FRONT, "ROUTER endpoint for clients"),
  back: endpointOption(BACK, "DEALER endpoint for archivists"),
  maxInflight: intOption(MAX_INFLIGHT, "records in the archive's hands at most; beyond: BUSY", { min: 1 }),
  requestTtl: intOption(REQUEST_TTL_MS, "ms after which an unanswered request is counted lost", { min: 1 }),
  clientTtl: intOption(CLIENT_TTL_MS, "ms of silence after which a client is forgotten", { min: 1 }),
} as const;

export function gatewayConfig(a: ConfigOf<typeof gatewayOptions>): GatewayConfig {
  return { front: a.front, back: a.back, maxInflight: a.maxInflight, requestTtlMs: a.requestTtl, clientTtlMs: a.clientTtl };
}

export const archivistOptions = {
  id: { type: "string", default: `archivist-${process.pid}`, describe: "archivist name, in acks and in the archive" },
  gateway: endpointOption(BACK, "the gateway's DEALER endpoint"),
  archive: {
    type: "string",
    default: DEFAULT_ARCHIVE,
    describe: "archive folder, shared by every archivist (the default is in the lab's folder; a path you give is from where you are)",
  },
  delay: intOption(0, "extra ms per record: a slow archive", { min: 0 }),
  keep: intOption(KEEP_RECORDS, "records the archive keeps, the newest (older ones are removed); 0: every one", { min: 0 }),
} as const;

export const checkArchivist = (a: { id: string }) => idCheck(a.id);

export function archivistConfig(a: ConfigOf<typeof archivistOptions>): ArchivistConfig & { archive: string; keep: number } {
  return {
    id: a.id,
    gateway: a.gateway,
    delayMs: a.delay,
    archive: a.archive === DEFAULT_ARCHIVE ? LAB_ARCHIVE : userPath(a.archive),
    keep: a.keep,
  };
}

export const clientOptions = {
  id: {
    type: "string",
    default: `${os.hostname().replace(/[^A-Za-z0-9_-]/g, "-")}-${process.pid}`,
    describe: "client name: its routing id at the gateway, and the start of its record ids",
  },
  gateway: endpointOption(FRONT, "the gateway's ROUTER endpoint"),
  records: intOption(1000, "audit records to send; 0: no end, until stopped", { min: 0 }),
  rate: numberOption(0, "new records per second at most; 0: as fast as the window allows", { min: 0 }),
  inflight: intOption(DEFAULT_INFLIGHT, "requests in flight at most", { min: 1 }),
  timeout: intOption(REQUEST_TIMEOUT_MS, "ms before a record is sent again", { min: 1 }),
} as const;

export const checkClient = (a: { id: string }) => idCheck(a.id);

export function clientConfig(a: ConfigOf<typeof clientOptions>): ClientConfig {
  return { id: a.id, gateway: a.gateway, records: a.records, rate: a.rate, inflight: a.inflight, timeoutMs: a.timeout };
}
