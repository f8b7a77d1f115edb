/** Shared helpers for the vmstate tests (not exported from index.ts). */

import assert from 'node:assert/strict';

import { VmigError } from '../core/index.js';

/**
 * Run `fn`, require it to throw an instance of `cls` (with `code` when given),
 * and return the error for more checks.
 */
export function rejects(fn: () => unknown, cls: new (...a: never[]) => Error, code?: string): VmigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    if (code !== undefined) {
      assert.ok(err instanceof VmigError);
      assert.equal(err.code, code);
    }
    return err as unknown as VmigError;
  }
  assert.fail(`expected ${cls.name}${code ? ` ${code}` : ''}, nothing was thrown`);
}
