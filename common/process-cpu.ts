// CPU time a process has used, for benchmarks and traces that report CPU per request.
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of a process in microseconds: the scheduler's nanosecond run time summed over its
 * threads (/proc/<pid>/task/<tid>/schedstat), else utime + stime from /proc/<pid>/stat, which
 * counts in 10 ms ticks and is too coarse for a few hundred requests.
 */
export function cpuMicros(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread exited between the listing and the read
      }
    }
    if (ns > 0) return ns / 1000;
  } catch {
    // no schedstat: fall back to ticks
  }
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / 100) * 1e6;
}
