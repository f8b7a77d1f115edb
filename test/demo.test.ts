/**
 * `vmig demo` (issue #4): it migrates, prints the table, and leaves nothing
 * behind — neither after a normal run nor after Ctrl-C.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { netnsUnavailableReason } from './support/netns.js';
import { repoRoot } from './support/paths.js';

const skip = netnsUnavailableReason();
if (skip) console.log(`# demo skipped: ${skip}`);

const leftovers = () => ({
  namespaces: execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('vmig-demo-')),
  dirs: readdirSync(tmpdir()).filter((d) => d.startsWith('vmig-demo-')),
  vmms: execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('bin/vmig.js run') && l.includes('vmig-tap')),
});

function demo(args: string[], interruptAfterMs?: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'vmig.js'), 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    if (interruptAfterMs !== undefined) {
      child.stdout.on('data', () => {
        if (/migrating/.test(out)) setTimeout(() => child.kill('SIGINT'), interruptAfterMs);
      });
    }
    child.once('exit', (code) => resolve({ code, out }));
  });
}

describe('vmig demo', { skip, concurrency: false }, () => {
  test('migrates, prints the table and removes what it created', async () => {
    const before = leftovers();
    const r = await demo(['--migrations', '2']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^ {2}# {2}mode {7}downtime \(ms\) {2}total \(ms\) {2}max probe gap \(ms\) {2}lost probes$/m);
    assert.match(r.out, /^ {2}1 {2}classic +\d+\.\d +\d+ +\d+\.\d +\d+$/m);
    assert.match(r.out, /^ {2}2 {2}early +\d+\.\d +\d+ +\d+\.\d +\d+$/m);
    assert.match(r.out, /^median classic/m);
    assert.match(r.out, /^median early/m);
    assert.match(r.out, /with 0 errors\.$/m);
    assert.deepEqual(leftovers(), before);
  });

  test('Ctrl-C in the middle of a migration still removes everything', async () => {
    const before = leftovers();
    const r = await demo(['--migrations', '5'], 50);
    assert.equal(r.code, 130, r.out);
    assert.match(r.out, /interrupted; removing the namespace, TAPs and VMs/);
    await new Promise((res) => setTimeout(res, 500));
    assert.deepEqual(leftovers(), before);
  });
});
