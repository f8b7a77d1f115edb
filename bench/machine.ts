/** A one-line description of the machine a benchmark ran on, for BENCHMARKS.md. */

import { cpus, totalmem } from 'node:os';

export function machineLine(): string {
  const c = cpus();
  return `${c[0]?.model ?? 'unknown CPU'} × ${c.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${process.platform}-${process.arch}`;
}
