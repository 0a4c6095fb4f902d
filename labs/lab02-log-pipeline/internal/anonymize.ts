/**
 * PII pseudonymisation: IP addresses, e-mail addresses and user names become keyed pseudonyms
 * (HMAC-SHA256 with a secret key), so the same person maps to the same token across the batch and
 * across parsers, and nothing of the original reaches the writer. Without the key a pseudonym
 * cannot be reversed or recomputed from a guess.
 */
import { createHmac } from "node:crypto";
import { isIPv6 } from "node:net";

export type PiiKind = "ip" | "mail" | "usr";

/** Pseudonyms are memoised: the same handful of users and addresses recur on every line. */
const CACHE_LIMIT = 100_000;

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const IPV4 = /(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])/g;
// Candidates only: full eight-group form, or any run with "::"; net.isIPv6 decides. A time such
// as 12:30:45 is neither, so it is left alone.
const IPV6 = /(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])|(?<![\w:])[0-9A-Fa-f:]*::[0-9A-Fa-f:.]*(?![\w:])/g;
const NAME = "([A-Za-z_][A-Za-z0-9._-]{0,31})";
/**
 * Where free text names a user, the name being the pattern's first group: "user=bob", "user bob", "login=bob",
 * "invalid user bob", "for bob from" (sshd), "bob : TTY=" (sudo), "/home/bob".
 */
const USER_IN_TEXT = [
  new RegExp(`\\b(?:user[= ]|login=|account=|uid=)"?${NAME}`, "gi"),
  new RegExp(`\\bfor ${NAME} from\\b`, "g"),
  new RegExp(`^${NAME} : (?=TTY=|PWD=|USER=|COMMAND=)`, "g"),
  new RegExp(`/home/${NAME}`, "g"),
];
/** Something every USER_IN_TEXT pattern needs, tested before running them all. */
const USER_HINT = /user|login=|account=|uid=|for |\/home\/| : /i;
const DIGIT_DOT_DIGIT = /\d\.\d/;
const NOT_A_USER = new Set(["user", "invalid", "unknown"]);
const PSEUDONYM = /^(ip|mail|usr)_[0-9a-f]{12}$/;
/** JSON keys whose whole value is a user name. */
export const USER_KEYS = /^(user|username|user_name|userid|user_id|login|account|principal|actor)$/i;

function colons(text: string): number {
  let n = 0;
  for (let i = text.indexOf(":"); i !== -1 && n < 7; i = text.indexOf(":", i + 1)) n += 1;
  return n;
}

export class Pseudonymizer {
  private readonly cache = new Map<string, string>();

  constructor(private readonly key: Buffer | string) {
    if (key.length < 16) throw new Error("the pseudonymisation key must be at least 16 bytes");
  }

  pseudonym(kind: PiiKind, value: string): string {
    const canonical = `${kind}:${kind === "mail" ? value.toLowerCase() : value}`;
    let token = this.cache.get(canonical);
    if (token === undefined) {
      token = `${kind}_${createHmac("sha256", this.key).update(canonical).digest("hex").slice(0, 12)}`;
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(canonical, token);
    }
    return token;
  }

  /** Replaces every e-mail address, IP address and recognisable user name in free text. */
  scrub(text: string): string {
    // Cheap tests first: most fields ("web-01", "GET", "200") hold no PII, and regex replacement
    // is where a parser spends its time.
    let out = text;
    if (out.includes("@")) out = out.replace(EMAIL, (m) => this.pseudonym("mail", m));
    if (DIGIT_DOT_DIGIT.test(out)) out = out.replace(IPV4, (m) => this.pseudonym("ip", m));
    if (out.includes("::") || colons(out) >= 7) {
      out = out.replace(IPV6, (m) => (/[0-9A-Fa-f]/.test(m) && isIPv6(m) ? this.pseudonym("ip", m) : m));
    }
    if (!USER_HINT.test(out)) return out;
    for (const pattern of USER_IN_TEXT) {
      out = out.replace(pattern, (match, user: string) =>
        NOT_A_USER.has(user.toLowerCase()) || PSEUDONYM.test(user) ? match : match.replace(user, this.pseudonym("usr", user)),
      );
    }
    return out;
  }

  /** A field that is a user name as a whole ("-" means none, in CLF). */
  user(value: string): string {
    return value === "-" || value === "" ? value : this.pseudonym("usr", value);
  }

  /** Every string in a JSON value, scrubbed; values under user-name keys pseudonymised whole. */
  scrubJson(value: unknown, key = ""): unknown {
    if (typeof value === "string") return USER_KEYS.test(key) ? this.user(value) : this.scrub(value);
    if (Array.isArray(value)) return value.map((v) => this.scrubJson(v));
    if (value && typeof value === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.scrubJson(v, k);
      return out;
    }
    return value;
  }
}
