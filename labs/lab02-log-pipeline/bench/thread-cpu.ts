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
  const cpu: ThreadCpu = { js: 0, zmq: 0, other: 0 };
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      // The thread's name, in parentheses, may hold spaces: fields are counted after its ")".
      const close = stat.lastIndexOf(")");
      const name = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" ");
      const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
      const kind = tid === String(pid) ? "js" : name.startsWith("ZMQbg") ? "zmq" : "other";
      cpu[kind] += ticks / TICKS_PER_SECOND;
    }
  } catch {
    return undefined;
  }
  return cpu;
}

/** What a process spent between two readings (a thread that ended in between is not counted). */
export function cpuSince(before: ThreadCpu | undefined, after: ThreadCpu | undefined): ThreadCpu | undefined {
  if (!before || !after) return undefined;
  return { js: after.js - before.js, zmq: after.zmq - before.zmq, other: after.other - before.other };
}

export const totalCpu = (t: ThreadCpu) => t.js + t.zmq + t.other;
