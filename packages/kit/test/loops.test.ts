import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { bindAll, receiveLoop, Wakeup } from "../src/loops.ts";

/** A socket stand-in fed by the test: each receive() takes the next scripted result. */
class ScriptedSocket {
  closed = false;
  private readonly script: (Buffer[] | Error)[];
  constructor(script: (Buffer[] | Error)[]) {
    this.script = [...script];
  }
  receive(): Promise<Buffer[]> {
    const next = this.script.shift();
    if (next === undefined) {
      this.closed = true;
      return Promise.reject(Object.assign(new Error("Socket is closed"), { code: "EBADF" }));
    }
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
  }
}

const quietLog = () => createLogger({ lab: "kit", role: "test", destination: new PassThrough(), level: "silent" });
const eagain = () => Object.assign(new Error("Resource temporarily unavailable"), { code: "EAGAIN" });

describe("receiveLoop", () => {
  it("survives a handler that throws and a spurious EAGAIN, and ends when the socket closes", async () => {
    const seen: string[] = [];
    const socket = new ScriptedSocket([[Buffer.from("a")], eagain(), [Buffer.from("boom")], [Buffer.from("b")]]);
    const stats = { received: 0, failed: 0 };
    await receiveLoop(
      socket,
      new AbortController().signal,
      (frames) => {
        const text = String(frames[0]);
        if (text === "boom") throw new TypeError("a peer's value");
        seen.push(text);
      },
      { log: quietLog(), name: "test", stats },
    );
    expect(seen).toEqual(["a", "b"]);
    expect(stats).toEqual({ received: 3, failed: 1 });
  });

  it("ends with the socket's own error while the role is not stopping", async () => {
    const socket = new ScriptedSocket([Object.assign(new Error("bad state"), { code: "EFSM" })]);
    await expect(receiveLoop(socket, new AbortController().signal, () => {}, { log: quietLog(), name: "test" })).rejects.toThrow(
      "bad state",
    );
  });
});

describe("Wakeup", () => {
  it("wakes every waiter, and an abort wakes them too", async () => {
    const wakeup = new Wakeup();
    let ready = false;
    const waiting = wakeup.until(() => ready);
    wakeup.wake();
    ready = true;
    wakeup.wake();
    await waiting;
    const controller = new AbortController();
    const aborted = wakeup.wait(controller.signal);
    controller.abort();
    await aborted;
  });
});

describe("bindAll", () => {
  it("reports an endpoint in use as a usage error naming the socket", async () => {
    const inUse = {
      lastEndpoint: null,
      bind: () => Promise.reject(Object.assign(new Error("Address already in use"), { code: "EADDRINUSE" })),
    };
    const err = await bindAll(quietLog(), { front: [inUse, "tcp://127.0.0.1:5060"] }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("cannot bind front to tcp://127.0.0.1:5060: the address is in use (is another instance running?)");
    expect(err).not.toBeInstanceOf(ConfigError);
  });
});
