/**
 * The bench's subscribers, in a process of their own: N CHP clients of one master. Prints "ready"
 * when every one has its snapshot, then "done <sum of sequence numbers>" when every one has applied
 * the key /bench/end. Run by bench.ts:  node --import tsx bench/clients.ts <snapshot endpoint> <N>
 */
import { createLogger } from "@zlabs/kit";
import { CloneClient, chpServer } from "../internal/clone-client.ts";

const [endpoint, countText] = process.argv.slice(2) as [string, string];
const log = createLogger({ lab: "lab07", role: "bench-clients", level: "warn" });
const stop = new AbortController();
let ended = 0;
const clients = Array.from({ length: Number(countText) }, (_, i) => {
  const c: CloneClient = new CloneClient(
    { servers: [chpServer(endpoint)], subtree: "", serverTtlMs: 60_000, maxKeys: 1_000_000, name: `bench-${i}` },
    log,
    {
      onUpdate: (m) => {
        if (m.key === "/bench/end" && ++ended === clients.length) {
          process.stdout.write(
            `done ${clients.reduce((sum, x) => sum + Number(x.seq), 0)} ${clients.reduce((s, x) => s + x.counts.gaps, 0)}\n`,
          );
          stop.abort();
        }
      },
    },
  );
  return c;
});
const runs = clients.map((c) => c.run(stop.signal));
const ready = setInterval(() => {
  if (clients.every((c) => c.synced)) {
    clearInterval(ready);
    process.stdout.write("ready\n");
  }
}, 20);
process.on("SIGTERM", () => stop.abort());
await Promise.all(runs);
clearInterval(ready);
process.exit(0);
