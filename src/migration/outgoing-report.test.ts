import assert from 'node:assert/strict';
import { test } from 'node:test';

import { attributeDestinationPhases, outgoingInfo } from './outgoing-report.js';
import type { OutgoingFigures } from './outgoing-report.js';
import { emptyRamStats } from './migration-types.js';
import type { DowntimePhases } from './migration-types.js';

const report = { ok: true, phases: { deviceLoadMs: 0.5, backendAttachMs: 0.1, announceMs: 0.2, resumeMs: 0.3 }, times: { eofAt: 103, runningAt: 104, shutAt: 104 } };

test('one host: the destination\'s instants split the wait for SHUT into final-transfer and return-path', () => {
  const phases: DowntimePhases = { finalTransfer: 99 };
  attributeDestinationPhases(phases, report, { t1: 101, sentAt: 101.5, shutAt: 104.6 });
  assert.equal(phases.deviceLoad, 0.5);
  assert.equal(phases.resume, 0.3);
  assert.equal(phases.finalTransfer, 2);
  assert.ok(Math.abs(phases.returnPath! - 0.6) < 1e-9);
});

test('instants that cannot be on the source\'s clock (two hosts): final-transfer kept, return-path is the wait less the destination\'s work', () => {
  const phases: DowntimePhases = { finalTransfer: 1.5 };
  attributeDestinationPhases(phases, { ...report, times: { eofAt: 5, runningAt: 6, shutAt: 6 } }, { t1: 101, sentAt: 101.5, shutAt: 104.6 });
  assert.equal(phases.finalTransfer, 1.5);
  assert.ok(Math.abs(phases.returnPath! - (3.1 - 0.9)) < 1e-9, 'less device load, backend attach and resume; the announce is armed after SHUT');
  const none: DowntimePhases = {};
  attributeDestinationPhases(none, undefined, { t1: 0, sentAt: 1, shutAt: 3 });
  assert.deepEqual(none, { returnPath: 2 });
});

test('query-migrate: QEMU\'s members by status, stop-to-running only when the instants are consistent', () => {
  const base: OutgoingFigures = {
    status: 'setup', now: 50, startedAt: 10, setupMs: undefined, totalMs: undefined, ram: emptyRamStats(1 << 20), expectedDowntimeMs: 300,
    downtimeMs: undefined, downtimeStart: 0, error: undefined, uri: { kind: 'tcp', host: '127.0.0.1', port: 4444 }, returnPath: true, phases: {}, early: undefined, destReport: undefined,
  };
  const setup = outgoingInfo(base);
  assert.equal(setup['total-time'], undefined);
  assert.equal((setup['x-vmig'] as Record<string, unknown>).uri, 'tcp:127.0.0.1:4444');
  const active = outgoingInfo({ ...base, status: 'active', setupMs: 4.4 });
  assert.deepEqual([active['total-time'], active['setup-time'], active['expected-downtime']], [40, 4, 300]);
  const done = outgoingInfo({ ...base, status: 'completed', totalMs: 700, downtimeMs: 5, downtimeStart: 100, destReport: report });
  assert.equal(done.downtime, 5);
  assert.equal(done['expected-downtime'], undefined);
  assert.equal((done['x-vmig'] as Record<string, unknown>)['stop-to-running-ms'], 4);
  const skewed = outgoingInfo({ ...base, status: 'completed', totalMs: 700, downtimeMs: 5, downtimeStart: 200, destReport: report });
  assert.equal((skewed['x-vmig'] as Record<string, unknown>)['stop-to-running-ms'], undefined);
});
