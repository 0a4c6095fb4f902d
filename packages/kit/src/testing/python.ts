import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { withDeadline } from "./deadline.ts";

/**
 * A second ZeroMQ implementation for interoperability tests: pyzmq on libzmq, from Debian's
 * python3-zmq. Debian's interpreter is used by its full path, because another python3 earlier on
 * PATH may not see Debian's packages.
 */
export const PYTHON = "/usr/bin/python3";

let pyzmq: boolean | undefined;
let msgpack: boolean | undefined;

/** Whether Python's msgpack is importable too (Debian's python3-msgpack): a peer that packs as Python does. */
export function hasPythonMsgpack(): boolean {
  msgpack ??= hasPyzmq() && spawnSync(PYTHON, ["-c", "import msgpack"], { stdio: "ignore" }).status === 0;
  return msgpack;
}

/** Whether pyzmq is importable; interop tests skip (and say so) without it. */
export function hasPyzmq(): boolean {
  pyzmq ??= spawnSync(PYTHON, ["-c", "import zmq"], { stdio: "ignore" }).status === 0;
  return pyzmq;
}

/** A Python peer started from an inline script, read line by line from its stdout. */
export class PythonPeer {
  readonly child: ChildProcess;
  private readonly lines: AsyncIterator<string>;

  constructor(script: string, args: string[] = []) {
    this.child = spawn(PYTHON, ["-c", script, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    this.lines = createInterface({ input: this.child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  }

  /** The next line the script prints, within the deadline. */
  async nextLine(what: string, timeoutMs = 15_000): Promise<string> {
    const next = await withDeadline(this.lines.next(), timeoutMs, `python: ${what}`);
    if (next.done) throw new Error(`python ended before ${what}`);
    return next.value;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}

/** Every Python peer a test starts, so afterEach can kill them all. */
export class PythonPeers {
  private readonly peers: PythonPeer[] = [];

  start(script: string, args: string[] = []): PythonPeer {
    const peer = new PythonPeer(script, args);
    this.peers.push(peer);
    return peer;
  }

  killAll(): void {
    for (const p of this.peers.splice(0)) p.kill();
  }
}
