#!/usr/bin/env node
// The `vmig` command: the compiled CLI lives in dist/ (built by `npm install`).
// `vmig run` loads the VMM from dist/bundle/ (scripts/bundle.mjs: a few files
// instead of ~100 modules, for start-up time) unless that is missing or older
// than dist/src (a tsc run without the bundle step); everything else from dist/src.
// A closed pipe (`vmig analyze … | head`) ends the output quietly.
import { readdirSync, statSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';

// The threads that exist before vmig starts any: V8's and Node's helpers (its
// compiler, its GC). A VMM parks them in SCHED_IDLE during a switchover
// (src/host/helper-threads.ts); listed now, before the vCPU thread below.
const helperThreads = (() => {
  try {
    return readdirSync('/proc/self/task').map(Number).filter((t) => t !== process.pid);
  } catch {
    return [];
  }
})();

process.stdout.on('error', (err) => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); throw err; });
const args = process.argv.slice(2);
// A migration destination (`vmig run … -incoming …`) compiles every function
// when its script loads (V8's --no-lazy), not at its first call: its
// switchover runs, inside the downtime, code this process has never run (the
// stream's end, the vCPU and virtio-net sections, the load, the resume), and
// a kernel trace showed V8's parser and bytecode generator in 1–2 ms of it.
// Set before anything loads, the vCPU thread and the bundle included; the
// price is a slower start-up of the destination, before the migration
// (docs/BENCHMARKS.md, bench:early).
if (args[0] === 'run' && args.includes('-incoming')) setFlagsFromString('--no-lazy');
const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const bundled = args[0] === 'run' && mtime('../dist/bundle/run.js') >= mtime('../dist/src/cli/run.js');
// vCPU 0's thread starts before the VMM is even loaded: its isolate start-up
// and kernel import (~50-120 ms) overlap the VMM's (VcpuThread.adopt; the
// URLs are the ones the bundle builds itself). Unreferenced until adopted.
const vcpuWorker = bundled
  ? new Worker(new URL('../dist/bundle/vcpu-worker.js', import.meta.url), { workerData: { kernelUrl: new URL('../dist/bundle/kernel/kernel.js', import.meta.url).href } })
  : undefined;
vcpuWorker?.unref();
(bundled
  ? import('../dist/bundle/run.js').then((m) => m.runVm(args.slice(1), m.stdio, { vcpuWorker, helperThreads }))
  : import('../dist/src/cli/main.js').then((m) => m.main(args))
).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`vmig: ${err && err.message ? err.message : String(err)}\n`); process.exitCode = 1; },
);
