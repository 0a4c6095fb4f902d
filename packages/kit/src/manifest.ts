import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";

/** How one role of a lab's demo is started (the "lab.roles" entries of its package.json). */
export interface RoleSpec {
  /** The cmd/ file, relative to the lab folder. */
  cmd: string;
  /** How many instances the demo starts (default 1). */
  count?: number;
  /** Flags; "{n}" becomes the instance number (1, 2, ...), "{n+4}" that plus 4, "{name}" the instance name. */
  args?: string[];
  env?: Record<string, string>;
  /** When the main role exits, the demo stops and exits with its code. */
  main?: boolean;
  /**
   * More instances may run at once (the demo's `a` key offers it): nothing about the role is fixed
   * to one process, or `args` give each instance its own port or id through {n} / {name}.
   */
  scalable?: boolean;
  /** The most instances that may run at once (the ports its args reserve); no limit when unset. */
  max?: number;
  describe?: string;
}

/** One process of the demo as planned from the manifest: "av-engine-2", the 2nd of its role. */
export interface PlannedInstance {
  name: string;
  role: string;
  n: number;
  spec: RoleSpec;
}

export interface LabManifest {
  /** Package name, e.g. "lab01". */
  name: string;
  /** Folder name, e.g. "lab01-heartbeat". */
  folder: string;
  /** Absolute path of the lab folder. */
  dir: string;
  title: string;
  pattern: string;
  roles: Record<string, RoleSpec>;
  /** Folders and files (relative to the lab) where the demo keeps its data; `./run.sh clean` removes them. */
  data: string[];
}

export class ManifestError extends Error {
  override name = "ManifestError";
}

export function findRepoRoot(from: string = process.cwd()): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, "pnpm-workspace.yaml"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new ManifestError(`no pnpm-workspace.yaml above ${from}: run this inside the zmq-labs repository`);
    dir = parent;
  }
}

function validateRole(where: string, role: string, spec: unknown): RoleSpec {
  const r = spec as Partial<RoleSpec> | null;
  if (!r || typeof r !== "object") throw new ManifestError(`${where}: role ${role} must be an object`);
  if (typeof r.cmd !== "string" || !r.cmd.endsWith(".ts")) throw new ManifestError(`${where}: role ${role} needs "cmd": "cmd/<file>.ts"`);
  if (r.count !== undefined && (!Number.isInteger(r.count) || r.count < 0))
    throw new ManifestError(`${where}: role ${role} has a bad count`);
  if (r.args !== undefined && (!Array.isArray(r.args) || r.args.some((a) => typeof a !== "string")))
    throw new ManifestError(`${where}: role ${role} "args" must be a list of strings`);
  if (r.scalable !== undefined && typeof r.scalable !== "boolean")
    throw new ManifestError(`${where}: role ${role} "scalable" must be true or false`);
  if (r.max !== undefined && (!Number.isInteger(r.max) || r.max < Math.max(1, r.count ?? 1)))
    throw new ManifestError(`${where}: role ${role} "max" must be a whole number no smaller than its count`);
  return r as RoleSpec;
}

/** "data" lists paths inside the lab folder only: `./run.sh clean` deletes them. */
function validateData(where: string, data: unknown): string[] {
  if (data === undefined) return [];
  if (!Array.isArray(data)) throw new ManifestError(`${where}: "data" must be a list of paths inside the lab folder`);
  for (const p of data) {
    const parts = typeof p === "string" ? p.split(/[\\/]/) : [];
    if (typeof p !== "string" || !p || isAbsolute(p) || parts.includes("..") || parts.every((x) => x === "." || x === ""))
      throw new ManifestError(`${where}: "data" entry ${JSON.stringify(p)} must be a path inside the lab folder (like ".store")`);
  }
  return data as string[];
}

/** The name of the n-th instance of a role: the role's own name when the demo runs one, else role-n. */
export function instanceName(role: string, n: number, count: number): string {
  return count > 1 || n > 1 ? `${role}-${n}` : role;
}

/**
 * Every process the demo starts, in start order: the roles as listed, main roles last (so the
 * servers they talk to are up first), `count` instances of each. VS Code's compounds follow it too.
 */
export function planInstances(lab: LabManifest): PlannedInstance[] {
  const roleNames = Object.keys(lab.roles);
  roleNames.sort((a, b) => Number(Boolean(lab.roles[a]?.main)) - Number(Boolean(lab.roles[b]?.main)));
  const planned: PlannedInstance[] = [];
  for (const role of roleNames) {
    const spec = lab.roles[role] as RoleSpec;
    const count = spec.count ?? 1;
    for (let n = 1; n <= count; n++) planned.push({ name: instanceName(role, n, count), role, n, spec });
  }
  return planned;
}

export function readManifest(labDir: string): LabManifest {
  const dir = resolve(labDir);
  const file = join(dir, "package.json");
  let pkg: { name?: string; lab?: { title?: string; pattern?: string; roles?: Record<string, unknown>; data?: unknown } };
  try {
    pkg = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ManifestError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const lab = pkg.lab;
  if (!pkg.name || !lab || typeof lab.roles !== "object" || lab.roles === null)
    throw new ManifestError(`${file} has no "lab" manifest with roles`);
  const roles: Record<string, RoleSpec> = {};
  for (const [role, spec] of Object.entries(lab.roles)) {
    roles[role] = validateRole(file, role, spec);
    if (!existsSync(join(dir, roles[role].cmd))) throw new ManifestError(`${file}: role ${role} points at missing ${roles[role].cmd}`);
  }
  return {
    data: validateData(file, lab.data),
    name: pkg.name,
    folder: dir.split(/[\\/]/).pop() ?? pkg.name,
    dir,
    title: lab.title ?? pkg.name,
    pattern: lab.pattern ?? "",
    roles,
  };
}

/** Every lab folder with a manifest, sorted by number. */
export function listLabs(root: string = findRepoRoot()): LabManifest[] {
  const labsDir = join(root, "labs");
  if (!existsSync(labsDir)) return [];
  return readdirSync(labsDir)
    .filter((d) => /^lab\d\d-/.test(d) && existsSync(join(labsDir, d, "package.json")))
    .sort()
    .map((d) => readManifest(join(labsDir, d)));
}

/** Finds a lab by "lab06", "06", "6" or its folder name. */
export function findLab(query: string, root: string = findRepoRoot()): LabManifest | undefined {
  const m = /^(?:lab)?0*(\d{1,2})(?:-.*)?$/.exec(query);
  const name = m ? `lab${m[1]?.padStart(2, "0")}` : query;
  return listLabs(root).find((l) => l.name === name || l.folder === query);
}
