/**
 * A line of idle workers, least recently used first, keyed (by routing identity), with a way to
 * wait until someone is in line. The heart of a load-balancing broker's bookkeeping, without the
 * broker: which messages mean "idle" is the pattern's business, not the queue's.
 */
export class IdleQueue<T> {
  private readonly items = new Map<string, T>();
  private waiter: (() => void) | undefined;

  get size(): number {
    return this.items.size;
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  entries(): [string, T][] {
    return [...this.items.entries()];
  }

  /** Puts the item at the back of the line (moving it there if it was in line already). */
  push(key: string, item: T): void {
    this.items.delete(key);
    this.items.set(key, item);
    this.wake();
  }

  delete(key: string): boolean {
    return this.items.delete(key);
  }

  /** Takes the item idle longest out of the line. */
  shift(): T | undefined {
    const first = this.items.entries().next();
    if (first.done) return undefined;
    this.items.delete(first.value[0]);
    return first.value[1];
  }

  /** Resolves once an item is in line, or when the signal aborts (or wake() is called). */
  available(signal: AbortSignal): Promise<void> {
    if (this.items.size > 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Releases whoever waits in available(): on a new item, and on stop. */
  wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}
