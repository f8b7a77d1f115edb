/**
 * `vmig analyze` end to end: the real bin on the QEMU fixture, and on
 * truncated and corrupt copies of it (one line, the offset, exit 1, no stack).
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';

import { readInputFile } from '../src/host/index.js';
import { qemu72PlainDir, repoRoot } from './support/paths.js';

const fixture = join(qemu72PlainDir, 'stream.bin.gz');
let dir: string;
let raw: Uint8Array;

function vmig(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'vmig.js'), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmig-analyze-'));
  raw = readInputFile(fixture);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('vmig analyze', () => {
  test('--device virtio-net --json prints exactly one JSON object with the documented keys', () => {
    const r = vmig('analyze', fixture, '--device', 'virtio-net', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    const o = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(o).sort(), ['idstr', 'instance_id', 'net', 'version_id', 'virtio']);
    assert.equal(o.idstr, '0000:00:02.0/virtio-net');
    assert.equal(o.version_id, 11);
    for (const k of ['status', 'isr', 'queue_sel', 'guest_features', 'config', 'queues']) assert.ok(k in o.virtio, k);
    for (const q of o.virtio.queues) {
      assert.deepEqual(Object.keys(q).sort(), ['avail', 'desc', 'enabled', 'index', 'last_avail_idx', 'num', 'used', 'vector']);
      assert.ok(q.num > 0);
      assert.match(q.desc, /^0x[0-9a-f]+$/);
    }
    for (const k of ['mac', 'status', 'promisc', 'allmulti', 'alluni', 'nomulti', 'nouni', 'nobcast', 'mac_table', 'vlans', 'curr_queue_pairs', 'max_queue_pairs', 'curr_guest_offloads', 'tx_waiting', 'rss']) assert.ok(k in o.net, k);
    for (const k of ['in_use', 'first_multi', 'multi_overflow', 'uni_overflow', 'macs']) assert.ok(k in o.net.mac_table, k);
    assert.equal(o.net.mac, '52:54:00:12:34:56');
    assert.match(o.virtio.guest_features, /^0x[0-9a-f]+$/);
    assert.match(o.net.curr_guest_offloads, /^0x[0-9a-f]+$/);
    assert.deepEqual(o.net.vlans, [0]);
    assert.equal(o.net.rss, null);
  });

  test('without --device it lists every section, RAM per block and devices by field name', () => {
    const r = vmig('analyze', fixture, '--json');
    assert.equal(r.status, 0, r.stderr);
    const o = JSON.parse(r.stdout);
    assert.equal(o.machine, 'pc-q35-7.2');
    const ram = o.sections.filter((s: { idstr: string }) => s.idstr === 'ram');
    assert.deepEqual(ram.map((s: { type: string }) => s.type), ['start', 'part', 'part', 'part', 'part', 'end']);
    for (const s of o.sections) for (const k of ['type', 'section_id', 'idstr', 'instance_id', 'version', 'offset', 'size']) assert.ok(k in s);
    // RAM totals: the first pass sends every page of every block (raw or zero);
    // later passes resend dirtied ones, so the count is at least the block's pages.
    for (const [name, b] of Object.entries(o.ram.blocks) as [string, { used_length: number; pages: number; zero_pages: number }][]) {
      assert.ok((b.pages + b.zero_pages) * 4096 >= b.used_length, name);
    }
    assert.equal(o.ram.blocks['pc.ram'].used_length, 96 << 20, '-m 96');
    assert.equal(o.ram.blocks['pc.ram'].pages + o.ram.blocks['pc.ram'].zero_pages, 24603);
    assert.equal(o.devices['timer (0)'].cpu_ticks_offset.length, 18, 'int64 printed as 0x + 16 digits');
    assert.ok(o.devices['0000:00:02.0/virtio-net (41)'].net);
    assert.equal(o.devices['globalstate (43)'].size, '0x00000008');
  });

  test('the text report names every section and block', () => {
    const r = vmig('analyze', fixture);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /machine pc-q35-7\.2/);
    assert.match(r.stdout, /full\s+41\s.*0000:00:02\.0\/virtio-net/);
    assert.match(r.stdout, /pc\.ram/);
  });

  test('a truncated file gives one line with the byte offset and what was expected, exit 1, no stack', () => {
    const cut = join(dir, 'cut.bin');
    writeFileSync(cut, raw.subarray(0, raw.length - 50_000));
    const r = vmig('analyze', cut);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /at byte \d+/);
    assert.match(lines[0]!, /expected /);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  test('a corrupt byte in a device section gives one line naming its offset, exit 1', () => {
    const bad = new Uint8Array(raw);
    // The globalstate section's footer marker 0x7E becomes 0x55.
    const s = JSON.parse(vmig('analyze', fixture, '--json').stdout).sections.find((x: { idstr: string }) => x.idstr === 'globalstate');
    const footerAt = s.offset + s.size - 5;
    assert.equal(bad[footerAt], 0x7e);
    bad[footerAt] = 0x55;
    const file = join(dir, 'corrupt.bin.gz');
    writeFileSync(file, gzipSync(bad));
    const r = vmig('analyze', file);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`at byte ${footerAt}\\b`));
  });

  test('a file that is not a migration stream is refused with the magic it found', () => {
    const file = join(dir, 'not-a-stream.bin');
    writeFileSync(file, 'hello world, not QEVM');
    const r = vmig('analyze', file);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /at byte 0.*magic/);
  });

  test('usage errors exit 2 and name the option', () => {
    const r = vmig('analyze', fixture, '--bogus');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown option --bogus/);
    assert.equal(vmig('analyze').status, 2);
    assert.match(vmig('frobnicate').stderr, /unknown command frobnicate/);
  });

  test('a missing file is a one-line error, exit 1', () => {
    const r = vmig('analyze', join(dir, 'nope.bin'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Cannot read .*nope\.bin: ENOENT/);
  });
});
