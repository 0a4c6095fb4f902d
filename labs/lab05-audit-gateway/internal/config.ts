import os from "node:os";
import { DEFAULT_INFLIGHT, REQUEST_TIMEOUT_MS } from "./client.ts";
import { CLIENT_TTL_MS, MAX_INFLIGHT, REQUEST_TTL_MS } from "./gateway.ts";
import { RECORD_ID } from "./protocol.ts";

export const LAB = "lab05";
export const FRONT = "tcp://127.0.0.1:5050";
export const BACK = "tcp://127.0.0.1:5051";

export const gatewayOptions = {
  front: { type: "string", default: FRONT, describe: "ROUTER endpoint for clients" },
  back: { type: "string", default: BACK, describe: "DEALER endpoint for archivists" },
  maxInflight: { type: "number", default: MAX_INFLIGHT, describe: "records in the archive's hands at most; beyond: BUSY" },
  requestTtl: { type: "number", default: REQUEST_TTL_MS, describe: "ms after which an unanswered request is counted lost" },
  clientTtl: { type: "number", default: CLIENT_TTL_MS, describe: "ms of silence after which a client is forgotten" },
} as const;

export function checkGateway(a: { maxInflight: number; requestTtl: number; clientTtl: number }): string | undefined {
  if (!Number.isInteger(a.maxInflight) || a.maxInflight < 1) return "--max-inflight must be a whole number, 1 or more";
  if (a.requestTtl < 1 || a.clientTtl < 1) return "--request-ttl and --client-ttl must be at least 1 ms";
  return undefined;
}

export const archivistOptions = {
  id: { type: "string", default: `archivist-${process.pid}`, describe: "archivist name, in acks and in the archive" },
  gateway: { type: "string", default: BACK, describe: "the gateway's DEALER endpoint" },
  archive: { type: "string", default: ".store/archive", describe: "archive folder (shared by every archivist)" },
  delay: { type: "number", default: 0, describe: "extra ms per record: a slow archive" },
} as const;

export function checkArchivist(a: { id: string; delay: number }): string | undefined {
  if (!RECORD_ID.test(a.id)) return `--id "${a.id}" may hold only letters, digits, ., - and _`;
  return a.delay < 0 ? "--delay must be 0 or more" : undefined;
}

export const clientOptions = {
  id: {
    type: "string",
    default: `${os.hostname().replace(/[^A-Za-z0-9_-]/g, "-")}-${process.pid}`,
    describe: "client name (prefix of its record ids)",
  },
  gateway: { type: "string", default: FRONT, describe: "the gateway's ROUTER endpoint" },
  records: { type: "number", default: 1000, describe: "audit records to send" },
  inflight: { type: "number", default: DEFAULT_INFLIGHT, describe: "requests in flight at most" },
  timeout: { type: "number", default: REQUEST_TIMEOUT_MS, describe: "ms before a record is sent again" },
} as const;

export function checkClient(a: { id: string; records: number; inflight: number; timeout: number }): string | undefined {
  if (!RECORD_ID.test(a.id)) return `--id "${a.id}" may hold only letters, digits, ., - and _`;
  if (!Number.isInteger(a.records) || a.records < 0) return "--records must be a whole number, 0 or more";
  if (!Number.isInteger(a.inflight) || a.inflight < 1) return "--inflight must be a whole number, 1 or more";
  return a.timeout < 1 ? "--timeout must be at least 1 ms" : undefined;
}
