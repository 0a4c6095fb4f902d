// Builds the images compose.yaml runs, with no image registry reachable:
// - base images made by `docker import` of a root filesystem holding a binary of this machine and the shared
//   libraries it links (ldd): node (zl10/node-base), etcd (zl10/etcd), redis-server (zl10/redis);
// - the lab's image (lab10-soc:local) from the Dockerfile, on a build context staged by `pnpm deploy`
//   (the lab, its workspace packages and its production dependencies, no symlink leaving the folder),
//   with the base image given as the BASE_IMAGE build argument.
// Run it: `node --import tsx docker/images.ts [--base node:20-bookworm-slim]` (from the lab folder).
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const LAB_DIR = fileURLToPath(new URL("..", import.meta.url));
export const REPO_DIR = resolve(LAB_DIR, "../..");
export const APP_IMAGE = "lab10-soc:local";
export const NODE_BASE_IMAGE = "zl10/node-base:local";
export const ETCD_IMAGE = "zl10/etcd:local";
export const REDIS_IMAGE = "zl10/redis:local";
/** Label on the imported images: the binary's version, so a changed binary builds a new image. */
const VERSION_LABEL = "zl10.source";

export type Say = (line: string) => void;

function run(cmd: string, args: string[], options: { input?: Buffer; cwd?: string } = {}): string {
  return execFileSync(cmd, args, {
    cwd: options.cwd,
    input: options.input,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ["pipe", "pipe", "pipe"],
  }).toString();
}

/** The shared libraries a binary links, as ldd resolves them here (the loader included). */
export function sharedLibraries(binary: string): string[] {
  const out = spawnSync("ldd", [binary], { encoding: "utf8" });
  if (out.status !== 0) return []; // static (esbuild) or not for this libc (a musl build of an addon)
  const libs = new Set<string>();
  for (const line of out.stdout.split("\n")) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.add(m[1]);
  }
  return [...libs];
}

/** Copies a file into the root filesystem at the same path, following symlinks (the real bytes). */
function place(rootfs: string, path: string): void {
  const target = join(rootfs, path);
  if (existsSync(target)) return;
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(realpathSync(path), target);
  chmodSync(target, statSync(realpathSync(path)).mode & 0o777);
}

/** A minimal root filesystem: the binaries, every library they link, /tmp, an unprivileged user. */
export function buildRootfs(binaries: string[], extraLibrariesOf: string[] = []): string {
  const rootfs = mkdtempSync(join(tmpdir(), "zl10-rootfs-"));
  for (const bin of binaries) place(rootfs, bin);
  for (const file of [...binaries, ...extraLibrariesOf]) for (const lib of sharedLibraries(file)) place(rootfs, lib);
  mkdirSync(join(rootfs, "tmp"), { recursive: true });
  chmodSync(join(rootfs, "tmp"), 0o1777);
  mkdirSync(join(rootfs, "etc"), { recursive: true });
  writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/false\nnode:x:1000:1000:node:/home/node:/bin/false\n");
  writeFileSync(join(rootfs, "etc/group"), "root:x:0:\nnode:x:1000:\n");
  writeFileSync(join(rootfs, "etc/nsswitch.conf"), "passwd: files\ngroup: files\nhosts: files dns\n");
  mkdirSync(join(rootfs, "home/node"), { recursive: true });
  return rootfs;
}

function imageLabel(image: string): string | undefined {
  const out = spawnSync("docker", ["image", "inspect", "--format", `{{ index .Config.Labels "${VERSION_LABEL}" }}`, image], {
    encoding: "utf8",
  });
  return out.status === 0 ? out.stdout.trim() : undefined;
}

/** docker import of a root filesystem, unless an image with the same source label is there already. */
export function importImage(
  image: string,
  source: string,
  binaries: string[],
  changes: string[],
  say: Say,
  extraLibrariesOf: string[] = [],
): void {
  if (imageLabel(image) === source) {
    say(`${image}: up to date (${source})`);
    return;
  }
  const rootfs = buildRootfs(binaries, extraLibrariesOf);
  try {
    const tar = execFileSync("tar", ["-C", rootfs, "-c", "."], { maxBuffer: 1024 * 1024 * 1024 });
    const args = ["import", ...changes.flatMap((c) => ["--change", c]), "--change", `LABEL ${VERSION_LABEL}="${source}"`, "-", image];
    run("docker", args, { input: tar });
    say(`${image}: imported (${source}, ${Math.round(tar.length / 1024 / 1024)} MiB)`);
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

function findFiles(dir: string, match: (name: string) => boolean, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) findFiles(path, match, out);
    else if (entry.isFile() && match(entry.name)) out.push(path);
  }
  return out;
}

function pnpm(): string {
  const local = join(REPO_DIR, ".tools/pnpm/node_modules/.bin/pnpm");
  return existsSync(local) ? local : "pnpm";
}

/**
 * The build context: `pnpm deploy` of the lab (offline, from the store this checkout was installed from),
 * plus `node_modules/tsx` at the top, so `node --import tsx` resolves from /app as it does in the repo.
 */
export function stageContext(say: Say): string {
  const context = mkdtempSync(join(tmpdir(), "zl10-context-"));
  rmSync(context, { recursive: true });
  run(pnpm(), ["--config.inject-workspace-packages=true", "--filter", "lab10", "deploy", "--prod", "--offline", context], {
    cwd: REPO_DIR,
  });
  for (const dir of [".store", "test", "bench", "docker"]) rmSync(join(context, dir), { recursive: true, force: true });
  const tsx = readdirSync(join(context, "node_modules/.pnpm")).find((d) => /^tsx@/.test(d));
  if (!tsx) throw new Error("staged context has no tsx (a dependency of @zlabs/kit)");
  execFileSync("ln", ["-sfn", `.pnpm/${tsx}/node_modules/tsx`, join(context, "node_modules/tsx")]);
  say(`build context staged in ${context}`);
  return context;
}

/** The node base image: this machine's node and the libraries it and the native addons of the context link. */
export function buildNodeBase(context: string, say: Say): string {
  const node = realpathSync(process.execPath);
  const addons = findFiles(join(context, "node_modules/.pnpm"), (n) => n.endsWith(".node")).filter(
    (f) => f.includes("linux") || !f.includes("darwin"),
  );
  importImage(NODE_BASE_IMAGE, `node ${process.version}`, [node], ["ENV PATH=/usr/local/bin:/usr/bin:/bin", "WORKDIR /app"], say, addons);
  return NODE_BASE_IMAGE;
}

export function buildServerImages(say: Say): { etcd: string; redis: string } {
  const etcdVersion = run("/usr/bin/etcd", ["--version"]).split("\n")[0] ?? "etcd";
  importImage(ETCD_IMAGE, etcdVersion, ["/usr/bin/etcd"], ["ENV PATH=/usr/bin:/bin", 'ENTRYPOINT ["/usr/bin/etcd"]'], say);
  const redisVersion = run("/usr/bin/redis-server", ["--version"]).trim();
  importImage(
    REDIS_IMAGE,
    redisVersion,
    ["/usr/bin/redis-server"],
    ["ENV PATH=/usr/bin:/bin", 'ENTRYPOINT ["/usr/bin/redis-server"]'],
    say,
  );
  return { etcd: ETCD_IMAGE, redis: REDIS_IMAGE };
}

/** docker build of the lab's Dockerfile on a staged context, FROM the given base image. */
export function buildAppImage(context: string, baseImage: string, say: Say): string {
  copyFileSync(join(LAB_DIR, "Dockerfile"), join(context, "Dockerfile"));
  copyFileSync(join(LAB_DIR, ".dockerignore"), join(context, ".dockerignore"));
  run("docker", ["build", "--quiet", "--build-arg", `BASE_IMAGE=${baseImage}`, "-t", APP_IMAGE, context]);
  say(`${APP_IMAGE}: built FROM ${baseImage}`);
  return APP_IMAGE;
}

export interface BuiltImages {
  app: string;
  base: string;
  etcd: string;
  redis: string;
}

/**
 * Every image compose.yaml needs. `base` names a base image to build FROM (node:20-bookworm-slim where a
 * registry is reachable); without it, zl10/node-base is imported from this machine's node.
 */
export function buildImages(say: Say, base?: string): BuiltImages {
  const context = stageContext(say);
  try {
    const baseImage = base ?? buildNodeBase(context, say);
    const servers = buildServerImages(say);
    const app = buildAppImage(context, baseImage, say);
    return { app, base: baseImage, ...servers };
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

/** The environment compose.yaml reads the image names from. */
export function composeEnv(images: BuiltImages): Record<string, string> {
  return { LAB10_IMAGE: images.app, LAB10_ETCD_IMAGE: images.etcd, LAB10_REDIS_IMAGE: images.redis };
}

if (process.argv[1] && basename(process.argv[1]) === "images.ts") {
  const i = process.argv.indexOf("--base");
  const images = buildImages((line) => console.log(line), i > 0 ? process.argv[i + 1] : undefined);
  console.log("\nfor docker-compose:");
  for (const [k, v] of Object.entries(composeEnv(images))) console.log(`export ${k}=${v}`);
}
