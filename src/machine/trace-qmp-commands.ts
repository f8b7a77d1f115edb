/**
 * QMP for the trace points (core/trace.ts): QEMU's trace-event-get-state and
 * trace-event-set-state, and x-vmig-query-trace, which reads vmig's
 * in-memory trace (QEMU writes its traces to a log or file backend instead).
 */

import { TRACE_EVENTS, matchTraceEvents, setTraceState, takeTrace, traceEnabled } from '../core/index.js';
import { QmpError } from '../control/index.js';
import type { QmpCommandRegistry } from '../control/index.js';

function noSuchEvent(pattern: string): QmpError {
  return new QmpError('GenericError', `No event with name '${pattern}' (vmig's trace events: ${Object.keys(TRACE_EVENTS).join(', ')})`);
}

export function registerTraceQmpCommands(registry: QmpCommandRegistry): void {
  registry.register<{ name: string }>({
    name: 'trace-event-get-state',
    args: { name: 'str' },
    handler: (a) => {
      const hit = matchTraceEvents(a.name);
      if (hit.length === 0) throw noSuchEvent(a.name);
      return hit.map((n) => ({ name: n, state: traceEnabled(n) ? 'enabled' : 'disabled' }));
    },
  });
  registry.register<{ name: string; enable: boolean; 'ignore-unavailable'?: boolean }>({
    name: 'trace-event-set-state',
    args: { name: 'str', enable: 'bool', '*ignore-unavailable': 'bool' },
    handler: (a) => {
      if (setTraceState(a.name, a.enable).length === 0) throw noSuchEvent(a.name);
      return {};
    },
  });
  registry.register({
    name: 'x-vmig-query-trace',
    // Records since the last read, oldest first: host CLOCK_MONOTONIC ms, comparable across the VMMs of one host.
    handler: () => {
      const { events, dropped } = takeTrace();
      return { dropped, events: events.map((e) => ({ name: e.name, 'time-ms': Math.round(e.t * 1000) / 1000, ...(e.arg === undefined ? {} : { arg: e.arg }) })) };
    },
  });
}
