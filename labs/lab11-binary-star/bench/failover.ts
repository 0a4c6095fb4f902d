// How long a fail-over takes, end to end over real processes: a pair and a client, the primary
// killed with SIGKILL, then the time the client reports (first send of the unanswered request to
// its reply from the backup) and the gap between the client's last ticket before the kill and its
// first after. At the Guide's values (1 s heartbeats, 1 s timeout, 2 s settle) and at the tests'
// (100 ms, 300 ms, 400 ms), and with a settle delay too short for the heartbeats (the bound's
// condition broken). Run: pnpm --filter lab11 bench [-- --rounds 3]
import { fileURLToPath } from "node:url";
import { intOption, parseConfig } from "@zlabs/kit";
import { freeTcpEndpoints, type LogEntry, loggedAt, ProcessPool } from "@zlabs/kit/testing";

const labDir = fileURLToPath(new URL("..", import.meta.url));
// pnpm passes a "--" before the script's own flags: not a positional here.
const argv = process.argv.slice(2).filter((a) => a !== "--");
const config = parseConfig(
  {
    lab: "lab11",
    role: "bench",
    describe: "fail-over times of the Binary Star pair over real processes",
    options: { rounds: intOption(3, "kills per setting", { min: 1, max: 20 }) },
  },
  argv,
);

interface Setting {
  name: string;
  heartbeat: number;
  timeout: number;
  settle: number;
}

const SETTINGS: Setting[] = [
  { name: "Guide's values", heartbeat: 1000, timeout: 1000, settle: 2000 },
  { name: "tests' values", heartbeat: 100, timeout: 300, settle: 400 },
  { name: "settle too short", heartbeat: 1000, timeout: 500, settle: 500 },
];

const WAIT_MS = 60_000;

async function round(s: Setting): Promise<{ reported: number; gap: number; timeouts: number }> {
  const procs = new ProcessPool();
  try {
    const [pf, bf, ps, bs] = (await freeTcpEndpoints(4)) as [string, string, string, string];
    const broker = (role: string, front: string, bind: string, peer: string) =>
      procs.start({
        labDir,
        cmd: "cmd/ha-broker.ts",
        name: role,
        args: ["--role", role, "--front", front, "--state-bind", bind, "--peer-state", peer, "--heartbeat", String(s.heartbeat)],
        env: { LOG_LEVEL: "info" },
      });
    const primary = broker("primary", pf, ps, bs);
    const backup = broker("backup", bf, bs, ps);
    await primary.waitForLog({ msg: "state changed", to: "active" }, WAIT_MS);
    await backup.waitForLog({ msg: "state changed", to: "passive" }, WAIT_MS);
    const client = procs.start({
      labDir,
      cmd: "cmd/client-app.ts",
      name: "client",
      args: ["--servers", pf, bf, "--timeout", String(s.timeout), "--settle", String(s.settle), "--interval", "100"],
      env: { LOG_LEVEL: "info" },
    });
    await client.waitForLog({ msg: "ticket", ticket: 5 }, WAIT_MS);
    await procs.crash(primary);
    const mark = client.logs.length;
    const failover = await client.waitForLog((x) => typeof x.msg === "string" && x.msg.startsWith("failed over to backup"), WAIT_MS);
    const tickets = client.find("ticket");
    const before = tickets.filter((t) => client.logs.indexOf(t) < mark).at(-1) as LogEntry;
    const after = client.find({ msg: "ticket", server: "backup" })[0] as LogEntry;
    return { reported: failover.ms as number, gap: loggedAt(after) - loggedAt(before), timeouts: failover.timeouts as number };
  } finally {
    await procs.stopAll();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

console.log(`fail-over of a Binary Star pair, ${config.rounds} SIGKILLs of the primary per setting`);
console.log("| setting | heartbeat | timeout + settle | reported (median, min–max) | ticket gap (median) | timeouts |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const s of SETTINGS) {
  const runs = [];
  for (let i = 0; i < config.rounds; i++) runs.push(await round(s));
  const reported = runs.map((r) => r.reported);
  console.log(
    `| ${s.name} | ${s.heartbeat} ms | ${s.timeout} + ${s.settle} ms | ${median(reported)} ms (${Math.min(...reported)}–${Math.max(...reported)}) | ${Math.round(median(runs.map((r) => r.gap)))} ms | ${runs.map((r) => r.timeouts).join(", ")} |`,
  );
}
