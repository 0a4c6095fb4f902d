// Flags, environment and key files, checked in-process: the parse the cmd/ files run (the kit's
// tryParseConfig with this lab's options and checks), and the role's start(), which reads keys
// before it binds anything. processes.test.ts proves the wiring (one line, exit code 2) once per command.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, tryParseConfig, UsageError } from "@zlabs/kit";
import { testLogger } from "@zlabs/kit/testing";
import { writeCertificate } from "lab19/certificates";
import { generateKeyPair } from "lab19/keys";
import { afterAll, describe, expect, it } from "vitest";
import { checkDevice, checkScanner, deviceConfig, deviceOptions, LAB, scannerConfig, scannerOptions } from "../internal/config.ts";
import { NetworkScanner } from "../internal/network-scanner.ts";
import { SecureDevice } from "../internal/secure-device.ts";
import { freeUdpPort, tempDir } from "./helpers.ts";

const log = testLogger("lab24");
const tmp = tempDir("config");
afterAll(() => tmp.cleanup());

const device = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  tryParseConfig({ lab: LAB, role: "secure-device", describe: "", options: deviceOptions, check: checkDevice }, argv, env);
const scanner = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  tryParseConfig({ lab: LAB, role: "network-scanner", describe: "", options: scannerOptions, check: checkScanner }, argv, env);

describe("flags and environment", () => {
  it.each([
    [device, ["--name", "a b"], {}, /^--name "a b" may hold only letters, digits, - and _/],
    [device, ["--beacon-address", "300.1.1.1"], {}, /^--beacon-address \(or LAB24_BEACON_ADDRESS\) must be an IPv4 address/],
    [device, ["--multicast-interface", "lo"], {}, /^--multicast-interface \(or LAB24_MULTICAST_INTERFACE\) must be an IPv4 address/],
    [device, ["--beacon-port", "0"], {}, /^--beacon-port \(or LAB24_BEACON_PORT\) must be at least 1/],
    [device, ["--beacon-port", "65536"], {}, /^--beacon-port \(or LAB24_BEACON_PORT\) must be at most 65535/],
    [device, ["--bind", "nowhere"], {}, /^--bind \(or LAB24_BIND\) must be a ZeroMQ endpoint/],
    [device, ["--interval", "5"], {}, /^--interval \(or LAB24_INTERVAL\) must be at least 10/],
    [scanner, ["--verify-key", "short"], {}, /^--verify-key \(or LAB24_VERIFY_KEY\) must be a 40-character Z85 key/],
    [scanner, ["--verify-key", "#".repeat(40)], {}, /^--verify-key \(or LAB24_VERIFY_KEY\) must be a 40-character Z85 key/],
    [scanner, [], { LAB24_INTERVAL: "fast" }, /^--interval \(or LAB24_INTERVAL\) must be a number/],
    [scanner, [], { LAB24_EXPIRY_MS: "5" }, /^LAB24_EXPIRY_MS is not a setting of network-scanner/],
    [scanner, ["--handshake-timeout", "1.5"], {}, /^--handshake-timeout \(or LAB24_HANDSHAKE_TIMEOUT\) must be a whole number/],
    [scanner, ["--poll"], {}, /poll/],
  ] as const)("%#: %s %o is refused", (parse, argv, env, reason) => {
    expect(() => parse([...argv], env)).toThrow(ConfigError);
    expect(() => parse([...argv], env)).toThrow(reason);
  });

  it("maps flags to the roles' configurations (the lab's own folders by default, user paths otherwise)", () => {
    const d = deviceConfig(device(["--name", "cam", "--beacon-address", "239.24.0.1", "--signing-key", "/k/fleet.key"]));
    expect(d).toMatchObject({ name: "cam", bind: "tcp://127.0.0.1:*", intervalMs: 1000, expiryMs: 5000, signingKey: "/k/fleet.key" });
    expect(d.beacon).toEqual({ port: 5240, address: "239.24.0.1", multicastInterface: "127.0.0.1" });
    expect(d.cert).toMatch(/lab24-beacon\/\.store\/devices\/cam$/);
    const s = scannerConfig(scanner(["--pinned", "", "--verify-key", "HelloWorldHelloWorldHelloWorldHelloWorld"]));
    expect(s.pinnedDir).toBeUndefined();
    expect(s.verifyKey?.length).toBe(32);
    expect(scannerConfig(scanner([])).pinnedDir).toMatch(/lab24-beacon\/\.store\/devices$/);
    expect(scannerConfig(scanner([]))).toMatchObject({ handshakeTimeoutMs: 3000, pollMs: 2000, requestTimeoutMs: 1500, maxSkewMs: 30_000 });
  });
});

describe("key files: a usage error before anything is bound or written", () => {
  const loose = join(tmp.dir, "loose.key");
  writeFileSync(loose, "HelloWorldHelloWorldHelloWorldHelloWorld\n");
  chmodSync(loose, 0o644);
  const notKey = join(tmp.dir, "not.key");
  writeFileSync(notKey, "not a key\n", { mode: 0o600 });

  it.each([
    [loose, /loose\.key: a signing key others may read \(mode 0644\); chmod 600/],
    [notKey, /not\.key: not a signing key \(40 Z85 characters\)/],
    ["/nonexistent/key", /^\/nonexistent\/key: ENOENT$/],
  ])("the device refuses the signing key %s", async (signingKey, reason) => {
    const config = { ...deviceConfig(device(["--cert", join(tmp.dir, "never", "x")])), signingKey };
    const start = new SecureDevice(config, log).start();
    await expect(start).rejects.toThrow(UsageError);
    await expect(new SecureDevice(config, log).start()).rejects.toThrow(reason);
  });

  it("the device refuses a secret certificate others may read", async () => {
    const base = join(tmp.dir, "certs", "loosecert");
    mkdirSync(join(tmp.dir, "certs"));
    await writeCertificate(base, generateKeyPair(), { name: "loosecert" });
    chmodSync(`${base}_secret`, 0o644);
    const config = deviceConfig(device(["--cert", base]));
    await expect(new SecureDevice(config, log).start()).rejects.toThrow(/loosecert_secret: secret certificate with mode 0644/);
  });

  it("the scanner refuses an allowlist that is not a folder", async () => {
    const s = new NetworkScanner(scannerConfig(scanner(["--pinned", loose, "--beacon-port", String(await freeUdpPort())])), log);
    await expect(s.start()).rejects.toThrow(/^the allowlist .*loose\.key: ENOTDIR$/);
  });
});
