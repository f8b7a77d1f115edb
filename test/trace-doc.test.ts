/** Every trace event is in docs/BENCHMARKS.md's "Tracing" table, and the table names no event that does not exist. */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { TRACE_EVENTS } from '../src/core/index.js';
import { repoRoot } from './support/paths.js';

test('the Tracing table of docs/BENCHMARKS.md lists exactly the trace events', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'BENCHMARKS.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Tracing'), doc.indexOf('\n## ', doc.indexOf('## Tracing') + 5));
  const rows = section.split('\n').filter((l) => l.startsWith('| `'));
  const documented = new Set(rows.flatMap((r) => [...r.split('|')[1]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!)));
  const events = Object.keys(TRACE_EVENTS);
  assert.deepEqual(events.filter((e) => !documented.has(e)), [], 'events missing from the table');
  assert.deepEqual([...documented].filter((e) => !events.includes(e)), [], 'the table names events that do not exist');
});
