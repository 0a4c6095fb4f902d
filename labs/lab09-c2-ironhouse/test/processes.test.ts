// End to end: the real c2-server, secure-agent and cert-tool processes; secrets looked for in
// every line they wrote.
import { chmodSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoint, ProcessPool, type RoleProcess } from "@zlabs/kit/testing";
import { readKeyPair } from "lab19/certificates";
import { generateKeyPair, keyLabel } from "lab19/keys";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { certFile } from "../internal/cert-tool.ts";
import { type DemoKeys, freshKeys, secretsOf } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT = 30_000;
const procs = new ProcessPool();
let keys: DemoKeys;
beforeEach(async () => {
  keys = await freshKeys();
});
afterEach(async () => {
  await procs.stopAll();
  keys.cleanup();
});

async function server(): Promise<{ server: RoleProcess; endpoint: string }> {
  const endpoint = await freeTcpEndpoint();
  const server = procs.start({
    labDir,
    cmd: "cmd/c2-server.ts",
    name: "c2-server",
    args: ["--keys", keys.layout.root, "--bind", endpoint, "--command-ms", "150", "--hello", "200", "--reload", "200"],
  });
  await server.waitForLog("ironhouse ready", WAIT);
  return { server, endpoint };
}

const agent = (name: string, endpoint: string, ...args: string[]) =>
  procs.start({
    labDir,
    cmd: "cmd/secure-agent.ts",
    name,
    args: ["--keys", keys.layout.root, "--name", name, "--server", endpoint, "--hello", "200", ...args],
  });

const answers = (p: RoleProcess, name: string) => p.find({ msg: "answered", agent: name }).length;

describe("the real processes", () => {
  it("authorised agents run commands; the stranger is refused and gives up; revocation ends a live session; no secret in any log", async () => {
    const { server: c2, endpoint } = await server();
    const a1 = agent("agent-1", endpoint);
    const a2 = agent("agent-2", endpoint);
    await c2.waitForLog((e) => answers(c2, "agent-1") >= 2 && answers(c2, "agent-2") >= 2 && e !== undefined, WAIT);
    await a1.waitForLog({ msg: "command run", command: "status", operator: "ops" }, WAIT);

    // Unknown key: refused by ZAP (server side), the agent gives up (its side), exit 3.
    const stranger = agent("stranger", endpoint);
    expect(await stranger.exited).toEqual({ code: 3, signal: null });
    expect(stranger.find({ level: 50 })[0]?.msg).toMatch(/^giving up: the server refused this agent's key \(ZAP 400\)/);
    const strangerKey = keyLabel((await readKeyPair(certFile(keys.layout.agents, "stranger"))).publicKey);
    await c2.waitForLog({ msg: "ZAP denied a handshake", key: strangerKey, why: "No access: unknown key" }, WAIT);

    // Revocation through cert-tool: the server closes agent-2's live session; agent-2 is refused and gives up.
    const tool = procs.start({
      labDir,
      cmd: "cmd/cert-tool.ts",
      name: "cert-tool",
      args: ["revoke", "agent-2", "--keys", keys.layout.root],
    });
    expect(await tool.exited).toEqual({ code: 0, signal: null });
    expect(tool.lines[0]).toMatch(/^revoked agent-2: moved to .*revoked\/agent-2\.key/);
    await c2.waitForLog(/revoked key had a live session/, WAIT);
    expect(await a2.exited).toEqual({ code: 3, signal: null });
    expect(a2.find({ level: 50 })[0]?.msg).toMatch(/ZAP 400/);
    const before = answers(c2, "agent-1");
    await c2.waitForLog(() => answers(c2, "agent-1") >= before + 2, WAIT);
    // The stranger asked once and never again (it does not reconnect), however many handshakes followed.
    expect(c2.find({ msg: "ZAP denied a handshake", key: strangerKey })).toHaveLength(1);

    await procs.stopAll();
    const everything = [c2, a1, a2, stranger, tool].flatMap((p) => p.lines).join("\n");
    for (const secret of await secretsOf(keys.layout)) expect(everything).not.toContain(secret);
  });

  it("a wrong server key: the agent gives up with a clear error, exit 3", async () => {
    const { endpoint } = await server();
    const a = agent("agent-1", endpoint, "--server-key", generateKeyPair().publicKey, "--handshake-timeout", "1500");
    expect(await a.exited).toEqual({ code: 3, signal: null });
    expect(a.find({ level: 50 })[0]?.msg).toMatch(/^giving up: no CURVE handshake .* within 1.5 s: the server took the connection/);
  });

  it("a secret key file with loose permissions is refused with one clear line, exit 2", async () => {
    chmodSync(`${certFile(keys.layout.agents, "agent-1")}_secret`, 0o644);
    const a = agent("agent-1", "tcp://127.0.0.1:1");
    expect(await a.exited).toEqual({ code: 2, signal: null });
    expect(a.lines).toEqual([
      expect.stringMatching(
        /^secure-agent: .*agent-1\.key_secret: secret certificate with mode 0644: group or others may read it; chmod 600/,
      ),
    ]);
    copyFileSync(join(keys.layout.operators, "ops_secret"), join(keys.layout.operators, "loose_secret"));
    chmodSync(join(keys.layout.operators, "loose_secret"), 0o644);
    const s = procs.start({
      labDir,
      cmd: "cmd/c2-server.ts",
      name: "c2-server",
      args: ["--keys", keys.layout.root, "--operator", "loose"],
    });
    expect(await s.exited).toEqual({ code: 2, signal: null });
    expect(s.lines).toEqual([expect.stringMatching(/^c2-server: .*loose_secret: secret key file with mode 0644: .*chmod 600/)]);
  });

  it.each([
    ["c2-server", ["--allow", "localhost"], /^c2-server: --allow\/--deny: "localhost" is not an IP address or a CIDR subnet/],
    ["c2-server", ["--command-ttl", "120000"], /^c2-server: --command-ttl \(or LAB09_COMMAND_TTL\) must be at most 60000/],
    ["secure-agent", ["--server-key", "not a key"], /^secure-agent: --server-key must be a 40-character Z85 public key \(see --help\)$/],
    ["cert-tool", ["revoke"], /^cert-tool: revoke needs a NAME$/],
  ])("%s %s: one line, exit 2", async (role, args, line) => {
    const p = procs.start({ labDir, cmd: `cmd/${role}.ts`, name: role, args: [...args, "--keys", keys.layout.root] });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines.filter((l) => !l.startsWith("{"))).toEqual([expect.stringMatching(line)]);
  });
});
