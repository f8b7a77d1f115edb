/**
 * Where tests find the repository and the shared fixtures. The shared folder
 * sits beside the checkout (`../shared`), or wherever VMIG_SHARED points.
 */

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'vmig') return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the vmig repository root above the test files');
}

export const repoRoot = findRepoRoot();
export const sharedDir = process.env.VMIG_SHARED ? resolve(process.env.VMIG_SHARED) : resolve(repoRoot, '..', 'shared');
export const qemu72PlainDir = join(sharedDir, 'fixtures', 'qemu-7.2', 'plain-1q');
