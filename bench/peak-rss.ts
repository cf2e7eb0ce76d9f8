import { readFileSync } from "fs";

/**
 * This process's peak resident set size in MB, since it started running its program. Not
 * `process.resourceUsage().maxRSS`: Linux keeps ru_maxrss across fork and execve (getrusage(2)), so a
 * child started by a large benchmark process reports the parent's peak. /proc's VmHWM belongs to the
 * address space that execve created, so it counts this program alone.
 */
export function peakRssMb(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // Not Linux: fall back below.
  }
  return process.resourceUsage().maxRSS / 1024;
}
