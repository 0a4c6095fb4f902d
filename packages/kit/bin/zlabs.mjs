#!/usr/bin/env node
// The kit's CLI, runnable without a build step: tsx loads the TypeScript source.
import { register } from "tsx/esm/api";

register();
await import("../src/cli.ts");
