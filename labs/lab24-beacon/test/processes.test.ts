// End to end: the real cmd/ processes on a free UDP port. The scanner shows devices joining, one
// leaving (SIGTERM: its last beacon says port 0), one vanishing (SIGKILL: silence until the expiry),
// and an unpinned one as untrusted. A bad flag: one line, exit code 2 (the whole table: config.test.ts).
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ProcessPool } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { freeUdpPort, tempDir } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const procs = new ProcessPool();
const tmp = tempDir("processes");
afterEach(() => procs.stopAll());
afterAll(() => tmp.cleanup());

const FAST = ["--interval", "200", "--expiry", "1500"];

function device(port: number, name: string, certDir: string, extra: string[] = []) {
  return procs.start({
    labDir,
    cmd: "cmd/secure-device.ts",
    name,
    args: ["--name", name, "--cert", join(certDir, name), "--beacon-port", String(port), ...FAST, ...extra],
  });
}

describe("the real processes", () => {
  it("the scanner shows devices joining, one leaving on SIGTERM (port 0), one vanishing on SIGKILL, an unpinned one untrusted", async () => {
    const port = await freeUdpPort();
    const pinned = join(tmp.dir, "pinned");
    const scanner = procs.start({
      labDir,
      cmd: "cmd/network-scanner.ts",
      name: "scanner",
      args: ["--pinned", pinned, "--beacon-port", String(port), "--poll", "200", "--handshake-timeout", "1000", ...FAST],
    });
    await scanner.waitForLog("listening for beacons", WAIT_MS);
    const calm = device(port, "calm", pinned);
    const doomed = device(port, "doomed", pinned);
    const stranger = device(port, "stranger", join(tmp.dir, "unpinned"));
    for (const name of ["calm", "doomed"]) await scanner.waitForLog({ msg: "device named itself over CURVE", name }, WAIT_MS);
    await scanner.waitForLog("device untrusted: key not pinned", WAIT_MS);
    // SIGTERM: the device says port 0 and the scanner removes it at once.
    await calm.stop();
    expect(calm.find("left (beacon with port 0 sent)")).toHaveLength(1);
    const left = await scanner.waitForLog({ msg: "device left", device: "calm" }, WAIT_MS);
    expect(left.silentMs as number).toBeLessThan(1500);
    // SIGKILL: no goodbye; the scanner removes it after the expiry.
    await procs.crash(doomed);
    const vanished = await scanner.waitForLog({ msg: "device vanished", device: "doomed" }, WAIT_MS);
    expect(vanished.silentMs as number).toBeGreaterThanOrEqual(1500);
    expect(scanner.find({ msg: "device vanished", device: "calm" })).toEqual([]);
    expect(scanner.find({ msg: "device left", device: "doomed" })).toEqual([]);
    expect(stranger.find("bad request answered with an error")).toEqual([]);
    expect(stranger.running).toBe(true);
  });

  it("secure-device --new-signing-key writes a key once and prints its verify key", async () => {
    const file = join(tmp.dir, "fleet.key");
    const first = procs.start({ labDir, cmd: "cmd/secure-device.ts", name: "keygen", args: ["--new-signing-key", file] });
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(first.lines[0]).toMatch(/^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/);
    const again = procs.start({ labDir, cmd: "cmd/secure-device.ts", name: "keygen", args: ["--new-signing-key", file] });
    expect(await again.exited).toEqual({ code: 2, signal: null });
    expect(again.lines).toEqual([`secure-device: ${file} exists: not overwriting a signing key`]);
  });
});

describe("bad flags and key files: one line, exit code 2 (the rest of the table is config.test.ts, in-process)", () => {
  it.each([
    [
      "cmd/secure-device.ts",
      ["--beacon-address", "300.1.1.1"],
      /^secure-device: --beacon-address \(or LAB24_BEACON_ADDRESS\) must be an IPv4 address/,
    ],
    [
      "cmd/network-scanner.ts",
      ["--verify-key", "short"],
      /^network-scanner: --verify-key \(or LAB24_VERIFY_KEY\) must be a 40-character Z85 key/,
    ],
  ])("%s %s", async (cmd, args, line) => {
    const p = procs.start({ labDir, cmd, name: cmd, args });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toHaveLength(1);
    expect(p.lines[0]).toMatch(line);
  });

  it("--help shows the flags in kebab-case", async () => {
    const p = procs.start({ labDir, cmd: "cmd/network-scanner.ts", name: "scanner", args: ["--help"] });
    expect(await p.exited).toEqual({ code: 0, signal: null });
    const help = p.lines.join("\n");
    expect(help).toContain("--handshake-timeout");
    expect(help).not.toContain("--handshakeTimeout");
  });
});
