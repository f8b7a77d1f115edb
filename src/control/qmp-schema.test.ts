import assert from 'node:assert/strict';
import { test } from 'node:test';

import { QmpError } from './qmp-error.js';
import { validateArguments } from './qmp-schema.js';
import type { QmpArgMembers } from './qmp-schema.js';

function message(members: QmpArgMembers, args: Record<string, unknown>): string | undefined {
  try {
    validateArguments(members, args);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof QmpError);
    assert.equal(err.errorClass, 'GenericError');
    assert.equal(err.code, 'ERR_QMP_BAD_ARGUMENT');
    return err.message;
  }
}

const migrate: QmpArgMembers = { uri: 'str', '*detach': 'bool', '*resume': 'bool' };

test('valid arguments pass, optional members may be absent', () => {
  assert.equal(message(migrate, { uri: 'tcp:127.0.0.1:4444' }), undefined);
  assert.equal(message(migrate, { uri: 'x', detach: true }), undefined);
  assert.equal(message({}, {}), undefined);
});

test("QEMU's wording: missing, wrong type, unexpected", () => {
  assert.equal(message(migrate, {}), "Parameter 'uri' is missing");
  assert.equal(message(migrate, { uri: 5 }), "Invalid parameter type for 'uri', expected: string");
  assert.equal(message(migrate, { uri: 'x', detach: 'yes' }), "Invalid parameter type for 'detach', expected: boolean");
  assert.equal(message(migrate, { uri: 'x', detach: null }), "Invalid parameter type for 'detach', expected: boolean");
  assert.equal(message(migrate, { uri: 'x', blk: true }), "Parameter 'blk' is unexpected");
  assert.equal(message({}, { x: 1 }), "Parameter 'x' is unexpected");
});

test('declared members are checked before leftovers, in declaration order', () => {
  assert.equal(message(migrate, { blk: true }), "Parameter 'uri' is missing");
  assert.equal(message({ a: 'str', b: 'str' }, { b: 1, a: 2 }), "Invalid parameter type for 'a', expected: string");
});

test('integers: type errors, sized ranges (bare name), 64-bit unsigned (full name)', () => {
  assert.equal(message({ n: 'int' }, { n: 1.5 }), "Invalid parameter type for 'n', expected: integer");
  assert.equal(message({ n: 'int' }, { n: '1' }), "Invalid parameter type for 'n', expected: integer");
  assert.equal(message({ n: 'int' }, { n: -5 }), undefined);
  assert.equal(message({ n: 'int' }, { n: 2 ** 70 }), "Invalid parameter type for 'n', expected: integer");
  assert.equal(message({ n: 'uint8' }, { n: 256 }), "Parameter 'n' expects uint8_t");
  assert.equal(message({ n: 'int32' }, { n: -(2 ** 31) - 1 }), "Parameter 'n' expects int32_t");
  assert.equal(message({ n: 'uint64' }, { n: -1 }), "Parameter 'n' expects uint64");
  assert.equal(message({ n: 'size' }, { n: 'big' }), "Parameter 'n' expects size");
  assert.equal(message({ n: 'uint64' }, { n: 2 ** 53 }), undefined);
  assert.equal(message({ n: 'number' }, { n: 'x' }), "Invalid parameter type for 'n', expected: number");
  assert.equal(message({ n: 'number' }, { n: 0.25 }), undefined);
});

test('enums, lists and nested structs', () => {
  const caps: QmpArgMembers = { capabilities: { list: { struct: { capability: { enum: ['events', 'return-path'] }, state: 'bool' } } } };
  assert.equal(message(caps, { capabilities: [{ capability: 'events', state: true }] }), undefined);
  assert.equal(message(caps, { capabilities: {} }), "Invalid parameter type for 'capabilities', expected: array");
  assert.equal(message(caps, { capabilities: [5] }), "Invalid parameter type for 'capabilities[0]', expected: object");
  assert.equal(message(caps, { capabilities: [{ capability: 'events', state: true }, { capability: 'nope', state: true }] }), "Parameter 'capability' does not accept value 'nope'");
  assert.equal(message(caps, { capabilities: [{ capability: 'events' }] }), "Parameter 'capabilities[0].state' is missing");
  assert.equal(message(caps, { capabilities: [{ capability: 'events', state: 1 }] }), "Invalid parameter type for 'capabilities[0].state', expected: boolean");
  assert.equal(message(caps, { capabilities: [{ capability: 'events', state: true, extra: 1 }] }), "Parameter 'capabilities[0].extra' is unexpected");
  assert.equal(message({ enable: { list: { enum: ['oob'] } } }, { enable: ['nope'] }), "Parameter 'null' does not accept value 'nope'");
  assert.equal(message({ enable: { list: { enum: ['oob'] } } }, { enable: [1] }), "Invalid parameter type for 'enable[0]', expected: string");
});

test("'any' accepts every JSON value and 'null' only null", () => {
  for (const v of [1, 'x', null, [], {}, true]) assert.equal(message({ value: 'any' }, { value: v }), undefined);
  assert.equal(message({ value: 'null' }, { value: 0 }), "Invalid parameter type for 'value', expected: null");
});
