import { defineConfig } from "vitest/config";

// One project per package; each has its own vitest.config.ts (see vitest.shared.ts).
export default defineConfig({
  test: {
    projects: ["packages/*", "labs/*"],
  },
});
