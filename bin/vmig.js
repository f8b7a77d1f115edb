#!/usr/bin/env node
// The `vmig` command: the compiled CLI lives in dist/ (built by `npm install`).
// `vmig run` loads the VMM from dist/bundle/ (scripts/bundle.mjs: a few files
// instead of ~100 modules, for start-up time) unless that is missing or older
// than dist/src (a tsc run without the bundle step); everything else from dist/src.
// A closed pipe (`vmig analyze … | head`) ends the output quietly.
import { statSync } from 'node:fs';

process.stdout.on('error', (err) => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); throw err; });
const args = process.argv.slice(2);
const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const bundled = args[0] === 'run' && mtime('../dist/bundle/run.js') >= mtime('../dist/src/cli/run.js');
(bundled
  ? import('../dist/bundle/run.js').then((m) => m.runVm(args.slice(1), m.stdio))
  : import('../dist/src/cli/main.js').then((m) => m.main(args))
).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`vmig: ${err && err.message ? err.message : String(err)}\n`); process.exitCode = 1; },
);
