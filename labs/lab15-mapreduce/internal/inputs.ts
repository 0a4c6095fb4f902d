/**
 * Input files, generated with a seeded generator so a run is reproducible: a text corpus for word
 * count and Common Log Format access logs for the log aggregation.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { seededRandom } from "@zlabs/kit";
import type { JobKind } from "./jobs.ts";

const WORDS = (
  "the of and to in a is that for it as was with be by on not he this are or his from at which but have an they " +
  "you were her she there been one all we their has would when who will more if no out so said what up its about " +
  "into than them can only other new some could time these two may then do first any my now such like our over man " +
  "me even most made after also did many before must through back years where much your way well down should " +
  "because each just those people how too little state good very make world still own see men work long get here " +
  "between both life being under never day same another know while last might us great old year off come since " +
  "against go came right used take three queue socket broker worker message frame zeromq router dealer publish"
).split(" ");

const PATHS = ["/", "/index.html", "/api/v1/items", "/api/v1/login", "/static/app.js", "/static/site.css", "/img/logo.png", "/search"];
const METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const STATUSES = [200, 200, 200, 200, 200, 301, 304, 404, 404, 403, 500, 503];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Lines of prose-like text: words picked with a skew (a few common, many rare), 4 to 16 a line. */
export function corpusLines(seed: number, count: number): string[] {
  const rnd = seededRandom(seed);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = 4 + Math.floor(rnd() * 13);
    const words: string[] = [];
    for (let w = 0; w < n; w++) {
      const r = rnd();
      const word = WORDS[Math.floor(r * r * WORDS.length)] as string;
      words.push(w === 0 ? word[0]?.toUpperCase() + word.slice(1) : word);
    }
    lines.push(`${words.join(" ")}${rnd() < 0.3 ? "," : "."}`);
  }
  return lines;
}

/** Common Log Format lines: 200 client IPs, a few of them heavy talkers; a rare malformed line. */
export function accessLogLines(seed: number, count: number): string[] {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)] as T;
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    if (rnd() < 0.002) {
      lines.push("garbage line that is not in common log format");
      continue;
    }
    const r = rnd();
    const host = Math.floor(r * r * r * 200);
    const ip = `10.${(host >> 6) & 3}.${host & 63}.${(host * 7) % 250}`;
    const status = pick(STATUSES);
    const bytes = status === 304 ? "-" : String(Math.floor(rnd() * 50_000));
    const day = 1 + (i % 28);
    const date = `${String(day).padStart(2, "0")}/${pick(MONTHS)}/2026:${String(i % 24).padStart(2, "0")}:${String(i % 60).padStart(2, "0")}:00 +0000`;
    lines.push(`${ip} - - [${date}] "${pick(METHODS)} ${pick(PATHS)} HTTP/1.1" ${status} ${bytes}`);
  }
  return lines;
}

export const inputPrefix = (kind: JobKind) => (kind === "wordcount" ? "corpus-" : "access-");

/** Writes `files` input files of `lines` lines each for a job kind into dir; returns their paths. */
export function writeInputs(dir: string, kind: JobKind, files: number, lines: number, seed: number): string[] {
  mkdirSync(dir, { recursive: true });
  const paths: string[] = [];
  for (let f = 0; f < files; f++) {
    const path = join(dir, `${inputPrefix(kind)}${String(f).padStart(3, "0")}.${kind === "wordcount" ? "txt" : "log"}`);
    const content = kind === "wordcount" ? corpusLines(seed + f, lines) : accessLogLines(seed + f, lines);
    writeFileSync(path, `${content.join("\n")}\n`);
    paths.push(path);
  }
  return paths;
}

/** The input files of a job kind in dir, sorted. */
export function inputFiles(dir: string, kind: JobKind): string[] {
  return readdirSync(dir)
    .filter((n) => n.startsWith(inputPrefix(kind)))
    .sort()
    .map((n) => join(dir, n));
}
