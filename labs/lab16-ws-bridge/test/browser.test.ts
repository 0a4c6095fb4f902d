// The page in a real browser (Debian's chromium driven by playwright-core): agents appear, one is
// SIGKILLed and turns dead, a subscription changes and the chart follows. With SCREENSHOT_LAB16=1
// the run writes docs/page.png, the screenshot the README shows.
import { join } from "node:path";
import { CHROMIUM_LAUNCH, chromiumMissing, ProcessPool } from "@zlabs/kit/testing";
import { type Browser, chromium } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { labDir, startAgent, startBridge, startTelemetry } from "./fixtures.ts";

const procs = new ProcessPool();
/** Runs in the page (playwright calls the function there; the page's CSP forbids string eval): the chart holds >= min points. */
type PageGlobals = { document: { getElementById(id: string): { dataset: Record<string, string | undefined> } | null } };
const chartHolds = (min: number) =>
  Number((globalThis as unknown as PageGlobals).document.getElementById("chart")?.dataset.points ?? 0) >= min;
let browser: Browser | undefined;
afterEach(() => procs.stopAll());

const missing = chromiumMissing();

describe.skipIf(missing !== undefined)(`the page in chromium${missing ? `: SKIPPED, ${missing}` : ""}`, () => {
  beforeAll(async () => {
    browser = await chromium.launch({ ...CHROMIUM_LAUNCH, args: [...CHROMIUM_LAUNCH.args] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("shows agents, sees a SIGKILLed agent turn dead, and the chart follows a changed subscription", async () => {
    const { url, upstream, bridge } = await startBridge(procs);
    const agents = ["web-1", "db-1", "cache-1"].map((a) => startAgent(procs, upstream, a, 500));
    // Samples every 5 ms: some are always on their way when the page unsubscribes (they must not
    // put the series back on the chart; at 100 ms that happened in one CI run of several).
    startTelemetry(procs, upstream, 5);
    const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 720 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    try {
      await page.goto(`${url}?sub=hb.&sub=plant3.pump1.flow`);
      for (const a of ["web-1", "db-1", "cache-1"])
        await page.waitForSelector(`tr[data-agent="${a}"][data-state="alive"]`, { timeout: 30_000 });
      await page.waitForSelector('#chart[data-series="plant3.pump1.flow"]', { timeout: 30_000 });
      await page.waitForFunction(chartHolds, 5, { timeout: 30_000 });

      // SIGKILL: no goodbye; the page judges the silence by the agent's own interval.
      await (agents[1] as (typeof agents)[number]).kill("SIGKILL");
      await page.waitForSelector('tr[data-agent="db-1"][data-state="dead"]', { timeout: 30_000 });
      // Only the killed one is dead (a live agent can show "suspect" for a moment on a loaded machine:
      // 750 ms of silence at 500 ms beats).
      expect(await page.getAttribute('tr[data-agent="web-1"]', "data-state")).not.toBe("dead");

      // Change this browser's subscriptions on the page: the chart drops pump1.flow and draws boiler.temp.
      await page.click('#subs li[data-prefix="plant3.pump1.flow"] button');
      await page.fill("#prefix", "plant3.boiler.temp");
      await page.click("#subscribe");
      await page.waitForSelector('#chart[data-series="plant3.boiler.temp"]', { timeout: 30_000 });
      await page.waitForFunction(chartHolds, 5, { timeout: 30_000 });
      await bridge.waitForLog({ msg: "browser unsubscribed", prefix: "plant3.pump1.flow" }, 10_000);
      // Add a second series with a preset button: two lines on the chart.
      await page.click('#presets button:text-is("plant3.pump1.")');
      await page.waitForSelector('#chart[data-series="plant3.boiler.temp,plant3.pump1.flow,plant3.pump1.pressure"]', { timeout: 30_000 });
      await page.waitForFunction(chartHolds, 30, { timeout: 30_000 });
      if (process.env.SCREENSHOT_LAB16) await page.screenshot({ path: join(labDir, "docs/page.png") });
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
