// The real processes, as the demo runs them: keygen, then the server and clients, over loopback.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { freeTcpEndpoint, ProcessPool } from "@zlabs/kit/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateKeyPair } from "../internal/keys.ts";
import { EXIT_GAVE_UP } from "../internal/secure-client.ts";
import { labDir } from "./helpers.ts";

const WAIT_MS = 30_000;
const procs = new ProcessPool();
afterEach(() => procs.stopAll());

let dir: string;
beforeAll(async () => {
  const { mkdtemp } = await import("node:fs/promises");
  dir = await mkdtemp(join((await import("node:os")).tmpdir(), "lab19-proc-"));
});
afterAll(async () => {
  const { rm } = await import("node:fs/promises");
  await rm(dir, { recursive: true, force: true });
});

function runKeygen(args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "cmd/keygen.ts", ...args], { cwd: labDir, stdio: "ignore" });
    child.on("close", resolve);
  });
}

describe("the lab's processes", () => {
  it("a server waiting for keygen's certificate serves CURVE clients, and they come back after it is SIGKILLed", async () => {
    const endpoint = await freeTcpEndpoint();
    const cert = join(dir, "secure-server.key");
    const server = procs.start({ labDir, cmd: "cmd/secure-server.ts", name: "server", args: ["--bind", endpoint, "--cert", cert] });
    await server.waitForLog("waiting for the server certificate (keygen writes it)", WAIT_MS);
    expect(await runKeygen(["--dir", dir, "secure-server", "proc-client"])).toBe(0);
    await server.waitForLog("listening", WAIT_MS);
    const client = procs.start({
      labDir,
      cmd: "cmd/secure-client.ts",
      name: "client",
      args: [
        "--server",
        endpoint,
        "--server-cert",
        cert,
        "--cert",
        join(dir, "proc-client.key"),
        "--id",
        "proc-client",
        "--interval",
        "100",
        "--request-timeout",
        "500",
      ],
    });
    await client.waitForLog("CURVE handshake ok: the server proved it holds the key", WAIT_MS);
    // The client's own key pair came from its certificate (--cert), not a fresh one.
    const clientPublic = (await readFile(join(dir, "proc-client.key"), "utf8")).match(/public-key = "(.{40})"/)?.[1];
    expect(client.find("connecting over CURVE")[0]?.publicKey).toBe(clientPublic);
    await client.waitForLog(/known-bad \(Demo\.Dropper\.A\)/, WAIT_MS);
    await server.waitForLog({ msg: "known-bad file reported", client: "proc-client" }, WAIT_MS);

    // A crash of the server: the client times out, waits (the server is down, not refusing), and resumes.
    await procs.crash(server);
    const from = client.logs.length;
    await client.waitForLog(
      (e) => e.msg === "no verdict in time" || e.msg === "lookup not sent: no secure connection to the server yet",
      WAIT_MS,
      from,
    );
    const again = procs.start({ labDir, cmd: "cmd/secure-server.ts", name: "server-again", args: ["--bind", endpoint, "--cert", cert] });
    await again.waitForLog("listening", WAIT_MS);
    await client.waitForLog("CURVE handshake ok: the server proved it holds the key", WAIT_MS, from);
    await client.waitForLog(/: clean$/, WAIT_MS, client.logs.length);
    expect(client.running).toBe(true);
    expect(client.find(/^giving up/)).toEqual([]);

    // Secrets never reach a log: the server's secret key is in no line either process wrote.
    for (const file of [`${cert}_secret`, join(dir, "proc-client.key_secret")]) {
      const secret = (await readFile(file, "utf8")).match(/secret-key = "(.{40})"/)?.[1] as string;
      expect(secret).toHaveLength(40);
      for (const p of [server, again, client]) expect(p.lines.join("\n")).not.toContain(secret);
    }
  });

  it("a client with the wrong server key exits 3 with a clear error after its deadline; a plaintext client at once", async () => {
    const endpoint = await freeTcpEndpoint();
    expect(await runKeygen(["--dir", dir, "--if-missing", "secure-server"])).toBe(0);
    const server = procs.start({
      labDir,
      cmd: "cmd/secure-server.ts",
      name: "server",
      args: ["--bind", endpoint, "--cert", join(dir, "secure-server.key")],
    });
    await server.waitForLog("listening", WAIT_MS);
    const wrong = procs.start({
      labDir,
      cmd: "cmd/secure-client.ts",
      name: "wrong-key",
      // 5 s: long enough for the first refused handshake to be reported even on a loaded machine.
      args: ["--server", endpoint, "--server-key", generateKeyPair().publicKey, "--handshake-deadline", "5000"],
    });
    const plain = procs.start({ labDir, cmd: "cmd/secure-client.ts", name: "plaintext", args: ["--server", endpoint, "--plaintext"] });
    const [wrongExit, plainExit] = await Promise.all([wrong.exited, plain.exited]);
    expect(wrongExit.code).toBe(EXIT_GAVE_UP);
    expect(wrong.find(/^giving up: no CURVE handshake within 5000 ms: \d+ handshakes failed .*wrong --server-key/)).toHaveLength(1);
    expect(plainExit.code).toBe(EXIT_GAVE_UP);
    // libzmq reports the mismatch, or only EPIPE when the server's side closes before our side read its
    // greeting (a race: 2 runs of 4 on a quiet machine); then the client gives up after its deadline.
    expect(
      plain.find(
        /^giving up: (handshake failed with ERR_ZMTP_MECHANISM_MISMATCH|no NULL handshake within \d+ ms: .*last: EPIPE\).*CURVE server does to a plaintext client)/,
      ),
    ).toHaveLength(1);
    await server.waitForLog(/^handshake failed: the client's HELLO did not open with our key/, WAIT_MS);
    expect(server.running).toBe(true);
  });
});
