import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { MalformedError, TruncatedError, VmigError, describeError, hasCode } from './errors.js';

describe('VmigError', () => {
  test('VmigError carries code, message, details and cause, and is an Error named after its class', () => {
    const cause = new Error('socket closed');
    const err = new VmigError('ERR_TEST_THING', 'Cannot do the thing', { cause, details: { offset: 3 } });
    assert.ok(err instanceof Error);
    assert.equal(err.code, 'ERR_TEST_THING');
    assert.equal(err.message, 'Cannot do the thing');
    assert.deepEqual(err.details, { offset: 3 });
    assert.equal(err.cause, cause);
    assert.equal(err.name, 'VmigError');
    assert.ok(typeof err.stack === 'string');
  });

  test('VmigError without options has empty details and no cause property', () => {
    const err = new VmigError('ERR_TEST_BARE', 'bare');
    assert.deepEqual(err.details, {});
    assert.equal(err.cause, undefined);
    assert.equal('cause' in err, false);
  });

  test('TruncatedError and MalformedError are distinct VmigError subclasses with their own names', () => {
    const t = new TruncatedError('ERR_CORE_TRUNCATED', 'short', { offset: 10, expected: 'be32', needed: 2 });
    const m = new MalformedError('ERR_STREAM_BAD_MAGIC', 'bad', { offset: 0, expected: 'QEVM' });
    assert.ok(t instanceof VmigError && t instanceof TruncatedError && !(t instanceof MalformedError));
    assert.ok(m instanceof VmigError && m instanceof MalformedError && !(m instanceof TruncatedError));
    assert.equal(t.name, 'TruncatedError');
    assert.equal(m.name, 'MalformedError');
  });

  test('TruncatedError and MalformedError expose details and the offset getter', () => {
    const cause = new RangeError('inner');
    const t = new TruncatedError('ERR_CORE_TRUNCATED', 'short', { offset: 10, expected: 'be32', needed: 2 }, cause);
    assert.equal(t.offset, 10);
    assert.equal(t.details.needed, 2);
    assert.equal(t.details.expected, 'be32');
    assert.equal(t.cause, cause);
    const m = new MalformedError('ERR_X', 'bad', { offset: 77, expected: 'y' });
    assert.equal(m.offset, 77);
    assert.equal(m.details.expected, 'y');
  });

  test('hasCode is true only for a VmigError carrying exactly that code', () => {
    const err = new MalformedError('ERR_A', 'a', { offset: 0, expected: '' });
    assert.equal(hasCode(err, 'ERR_A'), true);
    assert.equal(hasCode(err, 'ERR_B'), false);
    assert.equal(hasCode(new Error('ERR_A'), 'ERR_A'), false);
    assert.equal(hasCode({ code: 'ERR_A' }, 'ERR_A'), false);
    assert.equal(hasCode(undefined, 'ERR_A'), false);
  });
});

describe('describeError', () => {
  test('describeError joins the message chain of causes with ": "', () => {
    const root = new Error('connection reset');
    const mid = new VmigError('ERR_STREAM_IO', 'Cannot read the stream', { cause: root });
    const top = new VmigError('ERR_MIGRATE_FAILED', 'Migration failed', { cause: mid });
    assert.equal(describeError(top), 'Migration failed: Cannot read the stream: connection reset');
  });

  test('describeError prints a non-Error cause with String and stops there', () => {
    const err = new Error('outer', { cause: 42 });
    assert.equal(describeError(err), 'outer: 42');
    assert.equal(describeError('plain text'), 'plain text');
  });

  test('describeError skips a cause whose message is already contained in an earlier one', () => {
    const inner = new Error('EPIPE');
    const outer = new Error('write failed: EPIPE', { cause: inner });
    assert.equal(describeError(outer), 'write failed: EPIPE');
  });

  test('describeError terminates on a cause cycle', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    assert.equal(describeError(b), 'b: a');
  });
});
