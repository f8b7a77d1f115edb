import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { CPU_LATENCY_DEVICE, CPU_LATENCY_MAX_US, CpuLatencyRequest } from './cpu-latency.js';
import { makeTempDir, removeTree } from './files.js';
import { cpuLatencyGrantable } from '../../test/support/cpu-latency.js';

test('a request writes its value as one little-endian s32 and holds the file open until closed, once', () => {
  const dir = makeTempDir('vmig-qos-');
  try {
    // A regular file stands in for the device: what the kernel would read is what lands in it.
    const file = join(dir, 'qos');
    writeFileSync(file, '');
    const req = CpuLatencyRequest.hold(0x01020304, file);
    assert.ok(req);
    assert.deepEqual([...readFileSync(file)], [0x04, 0x03, 0x02, 0x01]);
    assert.equal(req.held, true);
    req.close();
    assert.equal(req.held, false);
    req.close();
  } finally {
    removeTree(dir);
  }
});

test('values PM QoS does not take are refused before anything is opened', () => {
  for (const v of [-1, 1.5, CPU_LATENCY_MAX_US + 1, Number.NaN]) assert.throws(() => CpuLatencyRequest.hold(v, '/nonexistent/qos'), RangeError, String(v));
});

test('where no request can be made (no device, no permission) nothing is held', () => {
  assert.equal(CpuLatencyRequest.hold(0, '/nonexistent/cpu_dma_latency'), undefined);
});

test('on the real device the system-wide target is at most what a held request asks', (t) => {
  if (!cpuLatencyGrantable()) {
    t.skip(`${CPU_LATENCY_DEVICE} is not writable here (root only): vmig makes no request and CPUs halt as before`);
    return;
  }
  const req = CpuLatencyRequest.hold(3);
  assert.ok(req);
  try {
    // Reading the device gives the current target: the smallest request held by anyone.
    const target = readFileSync(CPU_LATENCY_DEVICE).readInt32LE(0);
    assert.ok(target <= 3, `target ${target} µs with a 3 µs request held`);
  } finally {
    req.close();
  }
});
