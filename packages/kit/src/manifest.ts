import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

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
  describe?: string;
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
  return r as RoleSpec;
}

export function readManifest(labDir: string): LabManifest {
  const dir = resolve(labDir);
  const file = join(dir, "package.json");
  let pkg: { name?: string; lab?: { title?: string; pattern?: string; roles?: Record<string, unknown> } };
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
