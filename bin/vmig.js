#!/usr/bin/env node
// The `vmig` command: the compiled CLI lives in dist/ (built by `npm install`).
// A closed pipe (`vmig analyze … | head`) ends the output quietly.
process.stdout.on('error', (err) => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); throw err; });
import('../dist/src/cli/main.js').then((m) => m.main(process.argv.slice(2))).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`vmig: ${err && err.message ? err.message : String(err)}\n`); process.exitCode = 1; },
);
