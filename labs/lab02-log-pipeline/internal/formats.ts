/**
 * Line formats a SIEM meets, parsed into structured events: syslog (RFC 5424 and the older BSD
 * format of RFC 3164), web server access logs (Common and Combined Log Format) and JSON lines.
 * Every string that may carry PII goes through the Pseudonymizer on its way out.
 */
import type { Pseudonymizer } from "./anonymize.ts";

export type LogEvent = { seq: number; format: string; [field: string]: unknown };

const RFC5424 = /^<(\d{1,3})>([1-9]\d?) (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (.*))?$/s;
const RFC3164 = /^<(\d{1,3})>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (\S+) ([^\s:[]+)(?:\[(\d+)\])?: ?(.*)$/s;
const CLF = /^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?$/;
const MAX_PRI = 191;

const nil = (v: string | undefined) => (v === undefined || v === "-" ? null : v);

function priority(pri: string): { facility: number; severity: number } | undefined {
  const n = Number(pri);
  return n <= MAX_PRI ? { facility: n >> 3, severity: n & 7 } : undefined;
}

export function parseLine(line: string, seq: number, p: Pseudonymizer): LogEvent {
  const first = line.charCodeAt(0);
  if (first === 0x7b /* { */) return parseJson(line, seq, p);
  if (first === 0x3c /* < */) return parseSyslog(line, seq, p);
  const clf = CLF.exec(line);
  if (clf) return clfEvent(clf, seq, p);
  return unparsed(line, seq, p, line.trim() === "" ? "empty line" : "no known format");
}

function unparsed(line: string, seq: number, p: Pseudonymizer, reason: string): LogEvent {
  return { seq, format: "unparsed", reason, text: p.scrub(line) };
}

function parseJson(line: string, seq: number, p: Pseudonymizer): LogEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return unparsed(line, seq, p, "invalid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return unparsed(line, seq, p, "JSON line is not an object");
  return { seq, format: "json", fields: p.scrubJson(value) };
}

function parseSyslog(line: string, seq: number, p: Pseudonymizer): LogEvent {
  const m5 = RFC5424.exec(line);
  if (m5) {
    const pri = priority(m5[1] as string);
    if (!pri) return unparsed(line, seq, p, "syslog priority over 191");
    return {
      seq,
      format: "rfc5424",
      ...pri,
      ts: nil(m5[3]),
      host: p.scrub(m5[4] as string),
      app: nil(m5[5]),
      procid: nil(m5[6]),
      msgid: nil(m5[7]),
      sd: m5[8] === "-" ? null : p.scrub(m5[8] as string),
      msg: p.scrub(m5[9] ?? ""),
    };
  }
  const m3 = RFC3164.exec(line);
  if (m3) {
    const pri = priority(m3[1] as string);
    if (!pri) return unparsed(line, seq, p, "syslog priority over 191");
    return {
      seq,
      format: "rfc3164",
      ...pri,
      ts: m3[2],
      host: p.scrub(m3[3] as string),
      app: m3[4],
      pid: m3[5] ? Number(m3[5]) : null,
      msg: p.scrub(m3[6] as string),
    };
  }
  return unparsed(line, seq, p, "syslog header does not parse");
}

function clfEvent(m: RegExpExecArray, seq: number, p: Pseudonymizer): LogEvent {
  const [method = null, path = null, protocol = null] = (m[5] as string).split(" ");
  return {
    seq,
    format: m[8] === undefined ? "clf" : "combined",
    client: p.scrub(m[1] as string),
    ident: p.user(m[2] as string),
    user: p.user(m[3] as string),
    ts: m[4],
    method,
    path: path === null ? null : p.scrub(path),
    protocol,
    status: Number(m[6]),
    bytes: m[7] === "-" ? null : Number(m[7]),
    ...(m[8] === undefined ? {} : { referer: p.scrub(m[8]), agent: m[9] ?? null }),
  };
}
