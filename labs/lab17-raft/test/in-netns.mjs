// Runs node in a network namespace: `node in-netns.mjs NS node-args...`. ip execs node in place, so
// the child is node itself; SIGTERM and SIGINT are passed on, and its exit is ours.
import { spawn } from "node:child_process";

const [ns, ...args] = process.argv.slice(2);
const child = spawn("ip", ["netns", "exec", ns, process.execPath, ...args], { stdio: "inherit" });
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
