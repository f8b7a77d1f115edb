// Bundles what `vmig run` loads into a few files (dist/bundle/), after tsc.
//
// Why: Node 20's ESM loader costs about a millisecond per module (resolve,
// read, compile, link; it has no compile cache), and a VMM loaded ~100 of
// them before its guest could boot: 100-250 ms of a start-up whose target is
// 300 ms (docs/BENCHMARKS.md, bench:vmm). Bundled, the same code loads in
// 35-55 ms. Three bundles, laid out so the URLs the code builds from
// import.meta.url still resolve: run.js (the VMM; the migration engine it
// loads lazily becomes a chunk beside it), vcpu-worker.js (new URL('./vcpu-
// worker.js') from the VMM), and kernel/kernel.js (GUEST_KERNEL_URL). The
// native addon is found by walking up to the package root, from anywhere.
// Everything else (tests, analyze, demo, benches) runs from dist/src.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Chunk names carry a content hash: without this, every build left the
// previous build's chunks behind (run.js only ever loads its own).
rmSync('dist/bundle', { recursive: true, force: true });

const common = { bundle: true, platform: 'node', target: 'node20', format: 'esm', logLevel: 'warning', sourcemap: false, legalComments: 'none' };

await Promise.all([
  build({ ...common, entryPoints: { run: 'dist/src/cli/run.js' }, outdir: 'dist/bundle', splitting: true, chunkNames: '[name]-[hash]' }),
  build({ ...common, entryPoints: { 'vcpu-worker': 'dist/src/guest/vcpu-worker.js' }, outdir: 'dist/bundle' }),
  build({ ...common, entryPoints: { 'kernel/kernel': 'dist/src/guest/kernel/kernel.js' }, outdir: 'dist/bundle' }),
]);
