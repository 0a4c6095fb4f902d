// A small Wing-Gong linearizability checker for the key-value store (with Lowe's memo of
// (operations done, state) pairs). Linearizability is local (Herlihy and Wing), so each key's
// history is checked on its own against a register with put, get, delete and compare-and-set.

export type KvOp = { op: "put"; value: string } | { op: "get" } | { op: "delete" } | { op: "cas"; expect: string | null; value: string };

export interface HistoryEntry {
  client: string;
  key: string;
  call: KvOp;
  /** When the client invoked it and when the answer came (Infinity: never answered, may or may not have happened). */
  invokedAt: number;
  completedAt: number;
  /** The answer: ok (put, delete: existed, cas: swapped) and, for get, the value. */
  ok?: boolean;
  value?: string | null;
}

type State = string | null;

/** The register's next state and what the operation would have answered. */
function step(state: State, call: KvOp): { next: State; ok: boolean; value?: State } {
  switch (call.op) {
    case "put":
      return { next: call.value, ok: true };
    case "get":
      return { next: state, ok: true, value: state };
    case "delete":
      return { next: null, ok: state !== null };
    case "cas":
      return state === call.expect ? { next: call.value, ok: true } : { next: state, ok: false };
  }
}

function matches(entry: HistoryEntry, result: { ok: boolean; value?: State }): boolean {
  if (entry.completedAt === Number.POSITIVE_INFINITY) return true;
  if (entry.call.op === "get") return entry.value === result.value;
  return entry.ok === result.ok;
}

/** Whether one key's history has a linearization; `budget` bounds the search (undefined when exhausted). */
export function linearizableKey(history: readonly HistoryEntry[], budget = 2_000_000): boolean | undefined {
  const ops = [...history].sort((a, b) => a.invokedAt - b.invokedAt);
  const n = ops.length;
  const done = new Uint8Array(n);
  const completed = ops.filter((o) => o.completedAt !== Number.POSITIVE_INFINITY).length;
  const seen = new Set<string>();
  let steps = 0;
  const search = (state: State, linearizedCompleted: number): boolean | undefined => {
    if (linearizedCompleted === completed) return true;
    if (++steps > budget) return undefined;
    const key = `${String.fromCharCode(...done)}|${state === null ? "\u0000" : state}`;
    if (seen.has(key)) return false;
    seen.add(key);
    // An operation may go next if no other open one finished before it was invoked.
    let minResponse = Number.POSITIVE_INFINITY;
    for (let i = 0; i < n; i++) if (!done[i]) minResponse = Math.min(minResponse, (ops[i] as HistoryEntry).completedAt);
    for (let i = 0; i < n; i++) {
      const op = ops[i] as HistoryEntry;
      if (done[i]) continue;
      if (op.invokedAt > minResponse) break;
      const result = step(state, op.call);
      if (!matches(op, result)) continue;
      done[i] = 1;
      const found = search(result.next, linearizedCompleted + (op.completedAt === Number.POSITIVE_INFINITY ? 0 : 1));
      done[i] = 0;
      if (found !== false) return found;
    }
    return false;
  };
  return search(null, 0);
}

/** Every key's history checked; the first key that has no linearization, or undefined when all do. */
export function firstNonLinearizableKey(history: readonly HistoryEntry[]): string | undefined {
  const byKey = new Map<string, HistoryEntry[]>();
  for (const e of history) byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);
  for (const [key, entries] of byKey) if (linearizableKey(entries) === false) return key;
  return undefined;
}
