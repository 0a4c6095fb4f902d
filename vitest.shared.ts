import type { ViteUserConfig } from "vitest/config";

/**
 * Test settings every package shares; each package's vitest.config.ts passes them to defineProject.
 * forks, not threads: a zeromq socket leaked by a failing test aborts a worker thread (SIGABRT).
 * The generous timeouts are deadlines for tests that spawn real processes on a busy 2-core machine;
 * every wait inside a test has its own, tighter deadline. (Raised from 60 s and 30 s after a CI run on a
 * slower day took 1.5x as long throughout: a fuzz test went from 16 s to 31 s.)
 */
export const sharedTestConfig = {
  pool: "forks",
  testTimeout: 180_000,
  hookTimeout: 60_000,
  include: ["test/**/*.test.ts"],
} satisfies NonNullable<ViteUserConfig["test"]>;
