import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRACE_CAPACITY, TRACE_EVENTS, matchTraceEvents, setTraceState, takeTrace, trace, traceEnabled } from './trace.js';

test('a glob matches event names as QEMU matches them: * any run, ? one character, nothing else special', () => {
  assert.deepEqual(matchTraceEvents('migrate_s*'), ['migrate_setup', 'migrate_stop', 'migrate_shut_received']);
  assert.deepEqual(matchTraceEvents('net_first_??'), ['net_first_rx', 'net_first_tx']);
  assert.deepEqual(matchTraceEvents('*'), Object.keys(TRACE_EVENTS));
  assert.deepEqual(matchTraceEvents('migrate_stop.'), [], 'a dot is literal');
  assert.deepEqual(matchTraceEvents('nothing_*'), []);
});

test('only enabled events are recorded, in order, with their argument and time; a take empties the trace', () => {
  takeTrace();
  setTraceState('*', false);
  trace('migrate_stop');
  setTraceState('migrate_*', true);
  assert.equal(traceEnabled('migrate_stop'), true);
  assert.equal(traceEnabled('incoming_eof'), false);
  const before = Number(process.hrtime.bigint()) / 1e6;
  trace('migrate_stop');
  trace('incoming_eof');
  trace('migrate_pass_end', 42);
  trace('migrate_drained', undefined, 12.5);
  const after = Number(process.hrtime.bigint()) / 1e6;
  const { events, dropped } = takeTrace();
  assert.equal(dropped, 0);
  assert.deepEqual(events.map((e) => [e.name, e.arg]), [['migrate_stop', undefined], ['migrate_pass_end', 42], ['migrate_drained', undefined]]);
  assert.ok(events[0]!.t >= before && events[1]!.t <= after, 'times are CLOCK_MONOTONIC ms, now');
  assert.equal(events[2]!.t, 12.5, 'an instant taken earlier keeps its time');
  assert.deepEqual(takeTrace().events, []);
  setTraceState('*', false);
});

test('past its capacity the trace keeps the newest records and counts the dropped ones', () => {
  takeTrace();
  setTraceState('migrate_pass_end', true);
  for (let i = 0; i < TRACE_CAPACITY + 10; i++) trace('migrate_pass_end', i);
  const { events, dropped } = takeTrace();
  assert.equal(dropped, 10);
  assert.equal(events.length, TRACE_CAPACITY);
  assert.equal(events[0]!.arg, 10);
  assert.equal(events.at(-1)!.arg, TRACE_CAPACITY + 9);
  setTraceState('*', false);
});
