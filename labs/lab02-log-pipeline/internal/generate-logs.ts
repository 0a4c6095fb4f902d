import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { type Logger, seededRandom } from "@zlabs/kit";
/**
 * Realistic sample logs with PII, for the demo, the tests and the benchmark: sshd and sudo syslog
 * (both RFC formats), web access logs (Common and Combined), JSON application events, and now and
 * then a line no parser knows. Deterministic for a seed, so a test can know every PII value used.
 */

export const SAMPLE_PII = {
  users: ["alice", "bob", "carol.smith", "dmitri_k", "eve-admin", "frank99"],
  emails: ["alice@example.com", "bob.jones@corp.example.org", "carol.smith@mail.example.net", "ops+alerts@example.io"],
  ipv4: ["203.0.113.7", "198.51.100.23", "192.0.2.201", "10.1.2.3", "172.16.254.1"],
  ipv6: ["2001:db8::1", "2001:db8:85a3::8a2e:370:7334", "fe80::1ff:fe23:4567:890a"],
} as const;

const HOSTS = ["web-01", "web-02", "auth-01", "db-01"];
const PATHS = ["/", "/login", "/api/orders", "/static/app.js", "/admin/users", "/search"];
const AGENTS = ["Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "Go-http-client/1.1"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export class SampleLogs {
  private readonly rand: () => number;
  private clock = Date.UTC(2026, 10, 24, 8, 0, 0);

  constructor(seed = 1) {
    this.rand = seededRandom(seed);
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rand() * items.length)] as T;
  }

  private ip(): string {
    return this.rand() < 0.8 ? this.pick(SAMPLE_PII.ipv4) : this.pick(SAMPLE_PII.ipv6);
  }

  line(): string {
    this.clock += Math.floor(this.rand() * 900);
    const d = new Date(this.clock);
    const r = this.rand();
    if (r < 0.25) return this.rfc3164(d);
    if (r < 0.45) return this.rfc5424(d);
    if (r < 0.7) return this.access(d);
    if (r < 0.98) return this.json(d);
    return this.pick(["-- MARK --", "kernel: [ 12.345] eth0: link up from 203.0.113.7", "\u00bfgarbage\u00bf", "{broken json"]);
  }

  private rfc3164(d: Date): string {
    const ts = `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, " ")} ${d.toISOString().slice(11, 19)}`;
    const user = this.pick(SAMPLE_PII.users);
    const msg = this.pick([
      `Accepted password for ${user} from ${this.ip()} port ${1024 + Math.floor(this.rand() * 60000)} ssh2`,
      `Failed password for invalid user ${user} from ${this.ip()} port 22 ssh2`,
      `pam_unix(sshd:session): session opened for user ${user} by (uid=0)`,
    ]);
    return `<38>${ts} ${this.pick(HOSTS)} sshd[${1000 + Math.floor(this.rand() * 9000)}]: ${msg}`;
  }

  private rfc5424(d: Date): string {
    const user = this.pick(SAMPLE_PII.users);
    const sd = this.rand() < 0.5 ? `[origin ip="${this.ip()}"][meta sequenceId="${Math.floor(this.rand() * 1000)}"]` : "-";
    const msg = this.pick([
      `${user} : TTY=pts/0 ; PWD=/home/${user} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx`,
      `password changed for user=${user} by ${this.pick(SAMPLE_PII.emails)}`,
      `login failure user=${user} src=${this.ip()}`,
    ]);
    return `<86>1 ${d.toISOString()} ${this.pick(HOSTS)} sudo ${Math.floor(this.rand() * 9000)} - ${sd} ${msg}`;
  }

  private access(d: Date): string {
    const ts = `${String(d.getUTCDate()).padStart(2, "0")}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${d.toISOString().slice(11, 19)} +0000`;
    const user = this.rand() < 0.5 ? "-" : this.pick(SAMPLE_PII.users);
    const path = this.rand() < 0.2 ? `/reset?email=${this.pick(SAMPLE_PII.emails)}` : this.pick(PATHS);
    const base = `${this.ip()} - ${user} [${ts}] "GET ${path} HTTP/1.1" ${this.pick([200, 200, 301, 404, 500])} ${Math.floor(this.rand() * 50000)}`;
    return this.rand() < 0.5 ? base : `${base} "https://shop.example.com/" "${this.pick(AGENTS)}"`;
  }

  private json(d: Date): string {
    return JSON.stringify({
      ts: d.toISOString(),
      level: this.pick(["info", "warn", "error"]),
      service: this.pick(["checkout", "auth", "search"]),
      user: this.pick(SAMPLE_PII.users),
      email: this.pick(SAMPLE_PII.emails),
      client_ip: this.ip(),
      msg: `order placed by ${this.pick(SAMPLE_PII.emails)} from ${this.ip()}`,
    });
  }

  /** `count` lines joined, each ending in "\n". */
  lines(count: number): string {
    let out = "";
    for (let i = 0; i < count; i++) out += `${this.line()}\n`;
    return out;
  }
}

/** Writes `count` sample lines to a stream, respecting its backpressure. */
export async function writeSampleLogs(out: NodeJS.WritableStream, count: number, seed: number, signal?: AbortSignal): Promise<void> {
  const sample = new SampleLogs(seed);
  const BLOCK = 10_000;
  for (let done = 0; done < count && !signal?.aborted; done += BLOCK) {
    if (!out.write(sample.lines(Math.min(BLOCK, count - done)))) await once(out, "drain");
  }
}

export interface GenerateConfig {
  lines: number;
  seed: number;
  /** A file, or "-" for stdout. */
  out: string;
}

/** The generate-logs command: sample lines to a file or stdout. */
export async function generateLogs(config: GenerateConfig, log: Logger, signal: AbortSignal): Promise<void> {
  const out = config.out === "-" ? process.stdout : createWriteStream(config.out);
  await writeSampleLogs(out, config.lines, config.seed, signal);
  if (out !== process.stdout) await new Promise<void>((done) => out.end(() => done()));
  log.info({ lines: config.lines, out: config.out }, "sample logs written");
}
