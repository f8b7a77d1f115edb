/** Every error code raised in src/ and native/ is documented in docs/errors.md, and codes follow ERR_<LAYER>_<CONDITION>. */

import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { repoRoot } from './support/paths.js';

function sources(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if ((name.endsWith('.ts') && !name.endsWith('.test.ts')) || name.endsWith('.cc')) out.push(p);
  }
  return out;
}

const LAYERS = ['CORE', 'HOST', 'MEMORY', 'VMSTATE', 'STREAM', 'VIRTIO', 'NET', 'BACKEND', 'GUEST', 'MIGRATE', 'QMP', 'MACHINE', 'CLI'];

test('every error code used in the sources is listed in docs/errors.md', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'errors.md'), 'utf8');
  const codes = new Set<string>();
  for (const f of [...sources(join(repoRoot, 'src'), []), ...sources(join(repoRoot, 'native'), [])]) {
    for (const m of readFileSync(f, 'utf8').matchAll(/['"](ERR_[A-Z0-9_]*[A-Z0-9])['"]/g)) codes.add(m[1]!);
  }
  assert.ok(codes.size >= 20, `found ${codes.size} codes`);
  const missing = [...codes].filter((c) => !doc.includes(`\`${c}\``));
  assert.deepEqual(missing, []);
  const badShape = [...codes].filter((c) => !LAYERS.some((l) => c.startsWith(`ERR_${l}_`)));
  assert.deepEqual(badShape, []);
});
