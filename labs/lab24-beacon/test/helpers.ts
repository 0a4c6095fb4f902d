// What the tests share: free UDP ports, a datagram sender on the loopback broadcast address, the
// roles' configurations with test-speed intervals, and a folder of certificates per test.
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ScannerConfig } from "../internal/network-scanner.ts";
import type { DeviceConfig } from "../internal/secure-device.ts";

export const BROADCAST = "127.255.255.255";

/** A UDP port that was free a moment ago: bound without reuse, read back, released. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    socket.on("error", reject);
    socket.bind(0, "127.0.0.1", () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** Sends datagrams to the beacon port from a socket of its own, as anyone on the segment could. */
export class Sender {
  private readonly socket = createSocket({ type: "udp4" });
  private ready: Promise<void>;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly port: number,
    private readonly address = BROADCAST,
  ) {
    this.ready = new Promise((resolve) =>
      this.socket.bind(0, () => {
        this.socket.setBroadcast(true);
        resolve();
      }),
    );
  }

  async send(datagram: Buffer): Promise<void> {
    await this.ready;
    await new Promise<void>((resolve, reject) =>
      this.socket.send(datagram, this.port, this.address, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** Sends `datagram()` every `ms` until stop() (a node beaconing). */
  every(ms: number, datagram: () => Buffer): void {
    this.stop();
    void this.send(datagram());
    this.timer = setInterval(() => void this.send(datagram()).catch(() => {}), ms);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.stop();
    this.socket.close();
  }
}

/** Listens on the beacon port (with reuse, as a node does) and keeps what it hears. */
export class Recorder {
  readonly datagrams: Buffer[] = [];
  private readonly socket = createSocket({ type: "udp4", reuseAddr: true });

  static async open(port: number): Promise<Recorder> {
    const r = new Recorder();
    r.socket.on("message", (m) => r.datagrams.push(Buffer.from(m)));
    await new Promise<void>((resolve) => r.socket.bind(port, () => resolve()));
    return r;
  }

  close(): void {
    this.socket.close();
  }
}

/** A temporary folder, removed by cleanup(). */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `lab24-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const FAST = { intervalMs: 100, expiryMs: 1500 };

export function deviceConfig(port: number, name: string, certDir: string, over: Partial<DeviceConfig> = {}): DeviceConfig {
  return {
    name,
    cert: join(certDir, name),
    bind: "tcp://127.0.0.1:*",
    beacon: { port, address: BROADCAST },
    ...FAST,
    ...over,
  };
}

export function scannerConfig(port: number, pinnedDir: string | undefined, over: Partial<ScannerConfig> = {}): ScannerConfig {
  return {
    beacon: { port, address: BROADCAST },
    ...(pinnedDir !== undefined ? { pinnedDir } : {}),
    maxSkewMs: 30_000,
    ...FAST,
    handshakeTimeoutMs: 1000,
    pollMs: 100,
    requestTimeoutMs: 500,
    goneShownMs: 60_000,
    ...over,
  };
}
