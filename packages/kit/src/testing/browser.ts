// The real browser of the browser tests: Debian's chromium, driven by playwright-core (a dependency of
// the labs that have a page, not of the kit), with the flags that keep it headless and off the network.
import { existsSync } from "node:fs";

export const CHROMIUM_PATH = "/usr/bin/chromium";

/** playwright-core's `chromium.launch()` options for this machine's chromium. */
export const CHROMIUM_LAUNCH = {
  executablePath: CHROMIUM_PATH,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
} as const;

/** Why a browser test cannot run here, or undefined when it can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM_PATH) ? undefined : `chromium is not installed (apt-get install chromium): no ${CHROMIUM_PATH}`;
}
