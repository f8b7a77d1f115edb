/**
 * DESIGN §2: each layer's index.ts is its public surface, and
 * dependencies point one way. A layer may also offer narrower entry points,
 * `index.<facet>.ts`, each a subset of index.ts (checked below): importing a
 * barrel loads every module behind it, and a vCPU worker that needs a few
 * constants should not pay for a whole layer at start-up (docs/BENCHMARKS.md). This test reads every source file's imports and
 * fails on an import of a higher layer, on a reach into another layer's
 * internal files, and on OS access (node:fs, node:net, …) outside src/host.
 */

import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

import { repoRoot } from './support/paths.js';

/** Lower rank = lower layer. A layer may import only layers of strictly lower rank (or itself). */
export const LAYER_RANK: Record<string, number> = {
  core: 0,
  host: 1,
  memory: 2,
  vmstate: 2,
  stream: 3,
  virtio: 4,
  backends: 5,
  'devices/net': 6,
  'vhost-user-net': 7,
  guest: 6,
  migration: 7,
  control: 8,
  machine: 9,
  cli: 10,
  bench: 11,
};

const OS_MODULES = ['node:fs', 'node:net', 'node:child_process', 'node:dgram', 'node:os', 'node:zlib', 'node:http', 'node:https'];

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

function layerOf(srcRel: string): string | undefined {
  const parts = srcRel.split('/');
  const two = parts.slice(0, 2).join('/');
  if (LAYER_RANK[two] !== undefined) return two;
  return LAYER_RANK[parts[0]!] !== undefined ? parts[0] : undefined;
}

/** index.ts, or a narrower entry point index.<facet>.ts, directly in the layer's folder. */
function isPublicEntry(rel: string, layer: string): boolean {
  return rel === `${layer}/index.ts` || new RegExp(`^${layer}/index\\.[a-z][a-z0-9-]*\\.ts$`).test(rel);
}

const src = join(repoRoot, 'src');
const files = walk(src, []);

test('every folder under src/ is a known layer with an index.ts', () => {
  for (const f of files) {
    const layer = layerOf(relative(src, f));
    assert.ok(layer, `${relative(repoRoot, f)} is not inside a known layer`);
  }
  for (const layer of new Set(files.map((f) => layerOf(relative(src, f))!))) {
    assert.ok(files.includes(join(src, layer, 'index.ts')) || layer === 'cli', `layer ${layer} has no index.ts`);
  }
});

test('no layer imports a higher layer or another layer\'s internal files', () => {
  const problems: string[] = [];
  for (const f of files) {
    const from = layerOf(relative(src, f))!;
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+'([^']+)'/g)) {
      const spec = m[1]!;
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(f), spec).replace(/\.js$/, '.ts');
      const rel = relative(src, target);
      if (rel.startsWith('..')) {
        problems.push(`${relative(repoRoot, f)} imports ${spec} outside src/`);
        continue;
      }
      const to = layerOf(rel);
      if (!to) {
        problems.push(`${relative(repoRoot, f)} imports ${spec}, which is in no layer`);
        continue;
      }
      if (to === from) continue;
      if (LAYER_RANK[to]! >= LAYER_RANK[from]!) problems.push(`${relative(repoRoot, f)} (${from}) imports ${spec} (${to}): a layer may only import lower layers`);
      if (!isPublicEntry(rel, to)) problems.push(`${relative(repoRoot, f)} imports ${spec}: other layers are reached only through ${to}/index.ts (or a narrower ${to}/index.<facet>.ts)`);
    }
  }
  assert.deepEqual(problems, []);
});

test('a narrow entry point index.<facet>.ts exports only what its layer\'s index.ts exports', async () => {
  const facets = files.filter((f) => /\/index\.[a-z][a-z0-9-]*\.ts$/.test(f));
  assert.ok(facets.length > 0, 'narrow entry points exist to be checked');
  for (const f of facets) {
    const rel = relative(src, f);
    const layer = layerOf(rel)!;
    assert.ok(isPublicEntry(rel, layer), `${rel} must sit directly in ${layer}/`);
    const compiled = (p: string) => pathToFileURL(join(repoRoot, 'dist', 'src', p.replace(/\.ts$/, '.js'))).href;
    const facet = (await import(compiled(rel))) as Record<string, unknown>;
    const index = (await import(compiled(`${layer}/index.ts`))) as Record<string, unknown>;
    for (const [name, value] of Object.entries(facet)) assert.equal(index[name], value, `${rel} exports ${name}, which ${layer}/index.ts must export too (the same binding)`);
  }
});

test('only src/host touches the OS (node:fs, node:net, child processes, zlib)', () => {
  const problems: string[] = [];
  for (const f of files) {
    const layer = layerOf(relative(src, f));
    if (layer === 'host') continue;
    const text = readFileSync(f, 'utf8');
    for (const mod of OS_MODULES) if (text.includes(`'${mod}'`)) problems.push(`${relative(repoRoot, f)} imports ${mod}`);
  }
  assert.deepEqual(problems, []);
});

test('the layer check catches a violation (it is not vacuous)', () => {
  assert.ok(LAYER_RANK.stream! > LAYER_RANK.vmstate!);
  assert.ok(files.length > 10, 'source files were found');
  const sample = readFileSync(join(src, 'stream', 'stream-decoder.ts'), 'utf8');
  assert.match(sample, /from '\.\.\/vmstate\/index\.js'/, 'a real cross-layer import exists to be checked');
});
