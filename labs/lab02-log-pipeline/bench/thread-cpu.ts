import { readdirSync, readFileSync } from "node:fs";

/**
 * CPU seconds of one process, split by thread: its JavaScript thread, libzmq's background threads
 * (ZMQbg/...), and the rest (V8's GC and compiler helpers, libuv's pool).
 */
export interface ThreadCpu {
  js: number;
  zmq: number;
  other: number;
}

/** The unit of utime and stime in /proc/<pid>/task/<tid>/stat (USER_HZ; 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** Reads /proc (Linux only); undefined where there is none or the process has gone. */
export function threadCpu(pid: number | undefined): ThreadCpu | undefined {
  if (pid === undefined) return undefined;
  try {
    // The whole process, threads that have ended included; then its live threads by name.
    const total = ticksOf(readFileSync(`/proc/${pid}/stat`, "utf8")).ticks;
    let js = 0;
    let zmq = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const { name, ticks } = ticksOf(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8"));
      if (tid === String(pid)) js += ticks;
      else if (name.startsWith("ZMQbg")) zmq += ticks;
    }
    return { js: js / TICKS_PER_SECOND, zmq: zmq / TICKS_PER_SECOND, other: (total - js - zmq) / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

/** utime + stime of a stat line. The name, in parentheses, may hold spaces: fields are counted after its ")". */
function ticksOf(stat: string): { name: string; ticks: number } {
  const close = stat.lastIndexOf(")");
  const fields = stat.slice(close + 2).split(" ");
  return { name: stat.slice(stat.indexOf("(") + 1, close), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** What a process spent between two readings. */
export function cpuSince(before: ThreadCpu | undefined, after: ThreadCpu | undefined): ThreadCpu | undefined {
  if (!before || !after) return undefined;
  return { js: after.js - before.js, zmq: after.zmq - before.zmq, other: after.other - before.other };
}

export const totalCpu = (t: ThreadCpu) => t.js + t.zmq + t.other;
