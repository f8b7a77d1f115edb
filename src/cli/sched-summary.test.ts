import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseSchedTrace } from '../host/index.js';
import type { SchedRecord } from '../host/index.js';
import { summarizeSched } from './sched-summary.js';

test('ftrace lines parse into switches and wake-ups, other lines skipped', () => {
  const text = [
    '# tracer: nop',
    '            node-4144    [000] d..3. 53365.984101: sched_wakeup: comm=node pid=4149 prio=120 target_cpu=001',
    '            node-4146    [001] d..2. 53365.984111: sched_switch: prev_comm=node prev_pid=4146 prev_prio=120 prev_state=R ==> next_comm=node next_pid=4149 next_prio=120',
    '     rcu_preempt-15      [000] d..2. 53365.984066: sched_switch: prev_comm=rcu_preempt prev_pid=15 prev_prio=120 prev_state=I ==> next_comm=node next_pid=4144 next_prio=120',
    '          <idle>-0       [001] dNh2. 53365.986413: sched_wakeup: comm=node pid=4146 prio=120 target_cpu=001',
  ].join('\n');
  const r = parseSchedTrace(text);
  assert.equal(r.length, 4);
  assert.deepEqual(r[0], { kind: 'wakeup', cpu: 0, timeMs: 53365984.101, tid: 4149, targetCpu: 1 });
  assert.deepEqual(r[1], { kind: 'switch', cpu: 1, timeMs: 53365984.111, prevTid: 4146, prevState: 'R', nextTid: 4149 });
  assert.equal((r[2] as { prevState: string }).prevState, 'I');
});

const sw = (cpu: number, timeMs: number, prevTid: number, prevState: string, nextTid: number): SchedRecord => ({ kind: 'switch', cpu, timeMs, prevTid, prevState, nextTid });
const wake = (timeMs: number, tid: number): SchedRecord => ({ kind: 'wakeup', cpu: 0, timeMs, tid, targetCpu: 0 });

test('running time per role, clipped to the window; waiting from a wake-up or a preemption to the next switch-in', () => {
  const roles = new Map([
    [10, 'src:event-loop'],
    [20, 'dst:event-loop'],
    [21, 'dst:vcpu'],
    [30, 'src:helper'],
  ]);
  const records = [
    sw(0, 0, 0, 'R', 30), // cpu0: a helper from 0
    wake(1, 10), // the source's loop wakes at 1…
    sw(0, 3, 30, 'R', 10), // …and gets cpu0 at 3: waited 2; the helper, preempted, waits from 3
    sw(1, 2, 0, 'R', 20), // cpu1: idle until 2, then the destination's loop
    sw(1, 6, 20, 'R', 21), // preempted by its vCPU at 6…
    sw(1, 7, 21, 'S', 20), // …back at 7: waited 1
    sw(0, 8, 10, 'S', 30), // the helper back at 8: waited 5 (3..8)
  ];
  const s = summarizeSched(records, 0, 10, roles);
  assert.deepEqual(s.ran, { 'src:helper': 3 + 2, 'src:event-loop': 5, idle: 2, 'dst:event-loop': 4 + 3, 'dst:vcpu': 1 });
  assert.deepEqual(s.waited, { 'src:event-loop': 2, 'dst:event-loop': 1, 'src:helper': 5 });
  // A narrower window clips everything to it.
  const narrow = summarizeSched(records, 2.5, 6.5, roles);
  assert.deepEqual(narrow.ran, { 'src:helper': 0.5, 'src:event-loop': 3.5, 'dst:event-loop': 3.5, 'dst:vcpu': 0.5 });
  assert.deepEqual(narrow.waited, { 'src:event-loop': 0.5, 'src:helper': 3.5, 'dst:event-loop': 0.5 });
});

test('a thread still waiting at the window end counts up to it; unknown threads are "other"', () => {
  const s = summarizeSched([sw(0, 0, 0, 'R', 99), wake(1, 10)], 0, 4, new Map([[10, 'src:event-loop']]));
  assert.deepEqual(s, { ran: { other: 4 }, waited: { 'src:event-loop': 3 } });
});
