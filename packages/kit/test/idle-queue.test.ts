import { describe, expect, it } from "vitest";
import { IdleQueue } from "../src/idle-queue.ts";

describe("the idle queue", () => {
  it("hands out the item idle longest, and moves a returning item to the back", () => {
    const q = new IdleQueue<string>();
    q.push("a", "A");
    q.push("b", "B");
    q.push("a", "A2");
    expect(q.keys()).toEqual(["b", "a"]);
    expect(q.shift()).toBe("B");
    expect(q.delete("a")).toBe(true);
    expect(q.shift()).toBeUndefined();
  });

  it("wakes a waiter when an item arrives, or when told to stop", async () => {
    const q = new IdleQueue<number>();
    const controller = new AbortController();
    const waiting = q.available(controller.signal);
    q.push("x", 1);
    await waiting;
    expect(q.shift()).toBe(1);
    const stopped = q.available(controller.signal);
    controller.abort();
    q.wake();
    await stopped;
    await q.available(controller.signal); // resolves at once once aborted
  });
});
