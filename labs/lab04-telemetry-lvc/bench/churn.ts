/**
 * lab04 benchmark: the broker's memory while a source publishes to 100,000 distinct topics as fast
 * as it can, with the cache bounded at 10,000 topics. Samples the broker's resident memory every
 * second; flat memory after the cache fills is the result to look for.
 *
 *   pnpm --filter lab04 bench [-- --topics 100000 --max-topics 10000 --seconds 20]
 */
import { fileURLToPath } from "node:url";
import { intOption, parseConfig } from "@zlabs/kit";
import { freeTcpEndpoints, ProcessPool, rssMiB } from "@zlabs/kit/testing";

const config = parseConfig({
  lab: "lab04",
  role: "bench",
  describe: "broker memory under topic churn",
  options: {
    topics: intOption(100_000, "distinct topics the source cycles through", { min: 1 }),
    maxTopics: intOption(10_000, "the broker's cache bound", { min: 1 }),
    seconds: intOption(20, "how long to churn", { min: 1 }),
  },
});
const labDir = fileURLToPath(new URL("..", import.meta.url));

const procs = new ProcessPool();
try {
  const [front, back] = (await freeTcpEndpoints(2)) as [string, string];
  const env = { LOG_LEVEL: "info" };
  const broker = procs.start({
    labDir,
    cmd: "cmd/lvc-broker.ts",
    name: "broker",
    env,
    args: ["--front", front, "--back", back, "--max-topics", String(config.maxTopics)],
  });
  await broker.waitForLog("listening", 30_000);
  const source = procs.start({
    labDir,
    cmd: "cmd/telemetry-source.ts",
    name: "source",
    env,
    args: ["--site", "bench", "--broker", front, "--churn", String(config.topics)],
  });
  await source.waitForLog("publishing", 30_000);
  console.log(
    `churning ${config.topics.toLocaleString("en")} topics into a cache of ${config.maxTopics.toLocaleString("en")}; broker RSS each second:`,
  );
  const series: number[] = [];
  for (let s = 1; s <= config.seconds; s++) {
    await new Promise((r) => setTimeout(r, 1000));
    series.push(rssMiB(broker.pid as number));
  }
  console.log(series.map((v, i) => `${i + 1}s ${v}`).join("  "));
  const half = series.slice(Math.floor(series.length / 2));
  console.log(`second half: min ${Math.min(...half)} MiB, max ${Math.max(...half)} MiB`);
  await procs.stopAll();
  const exit = broker.find("exiting")[0];
  const stats = broker.find("broker stopped")[0];
  const forwarded = Number(stats?.forwarded);
  console.log(
    `broker: ${forwarded.toLocaleString("en")} samples forwarded (about ${Math.round(forwarded / config.seconds).toLocaleString("en")}/s), ` +
      `${Number(stats?.evicted).toLocaleString("en")} evicted, ${stats?.cached} cached at the end; peak RSS ${exit?.maxRssMiB} MiB`,
  );
} finally {
  await procs.stopAll();
}
