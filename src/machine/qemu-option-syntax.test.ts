import assert from 'node:assert/strict';
import { test } from 'node:test';

import { OptionSyntaxError, escapeOptionValue, formatSize, isWellFormedId, parseOnOff, parseSize, parseUint, splitJsonOption, splitOptionString } from './qemu-option-syntax.js';

const pairs = (text: string, implied?: string) => splitOptionString(text, implied).map((p) => [p.key, p.value]);

test('key=value elements, implied first key, bare flags, values keeping later "="', () => {
  assert.deepEqual(pairs('virtio-net-pci,netdev=n0,mq=on', 'driver'), [['driver', 'virtio-net-pci'], ['netdev', 'n0'], ['mq', 'on']]);
  assert.deepEqual(pairs('driver=virtio-net-pci,mq', 'driver'), [['driver', 'virtio-net-pci'], ['mq', undefined]]);
  assert.deepEqual(pairs('a=b=c'), [['a', 'b=c']]);
  assert.deepEqual(pairs('a='), [['a', '']]);
  assert.deepEqual(pairs('flag'), [['flag', undefined]], 'without an implied key a first bare word is a flag');
});

test(',, escapes a comma in values, including the implied one', () => {
  assert.deepEqual(pairs('/tmp/a,,b,,,server=on', 'path'), [['path', '/tmp/a,b,'], ['server', 'on']]);
  assert.deepEqual(pairs('id=x,path=/p,,q'), [['id', 'x'], ['path', '/p,q']]);
  assert.deepEqual(pairs(`path=${escapeOptionValue('a,b,,c')}`), [['path', 'a,b,,c']]);
});

test('syntax errors: empty string, empty name, trailing comma, repeated key', () => {
  for (const [text, message] of [
    ['', /empty option string/],
    [',a=1', /empty parameter name at offset 0/],
    ['a=1,', /trailing ','/],
    ['a=1,a=2', /parameter 'a' is given twice/],
  ] as const) {
    assert.throws(() => splitOptionString(text, 'x'), (err: unknown) => err instanceof OptionSyntaxError && message.test(err.message), text);
  }
});

test('the JSON form turns booleans into on/off and numbers into text', () => {
  assert.deepEqual(splitJsonOption('{"driver":"virtio-net-pci","mq":true,"vectors":10,"id":"net0"}').map((p) => [p.key, p.value]), [
    ['driver', 'virtio-net-pci'],
    ['mq', 'on'],
    ['vectors', '10'],
    ['id', 'net0'],
  ]);
  assert.throws(() => splitJsonOption('{"a":[1]}'), /must be a string, number or boolean/);
  assert.throws(() => splitJsonOption('[1]'), /must be an object/);
  assert.throws(() => splitJsonOption('{'), /invalid JSON/);
});

test("bools take QEMU's spellings; a bare flag is on", () => {
  for (const v of ['on', 'yes', 'true', undefined]) assert.equal(parseOnOff(v), true);
  for (const v of ['off', 'no', 'false']) assert.equal(parseOnOff(v), false);
  for (const v of ['', 'On', '1', 'maybe']) assert.equal(parseOnOff(v), undefined);
});

test('sizes: suffixes, default unit, fractions, refusals', () => {
  assert.equal(parseSize('256', 'M'), 256 * 2 ** 20);
  assert.equal(parseSize('256M'), 256 * 2 ** 20);
  assert.equal(parseSize('1g'), 2 ** 30);
  assert.equal(parseSize('1.5G'), 1.5 * 2 ** 30);
  assert.equal(parseSize('4096'), 4096);
  assert.equal(parseSize('2k'), 2048);
  assert.equal(parseSize('512B', 'M'), 512);
  for (const bad of ['12X', '', 'M', '-1M', '1.5', '1.1M', '0x10', '99999999999T']) assert.equal(parseSize(bad), undefined, bad);
  assert.equal(formatSize(2 ** 30), '1G');
  assert.equal(formatSize(1536), '1536');
  assert.equal(formatSize(3 * 2 ** 20 + 8192), '3080K');
  for (const n of [0, 1, 1024, 8192, 2 ** 40, 5 * 2 ** 30 + 2 ** 20]) assert.equal(parseSize(formatSize(n)), n);
});

test('uints accept decimal and 0x hex; ids follow id_wellformed', () => {
  assert.equal(parseUint('10'), 10);
  assert.equal(parseUint('0x1f'), 31);
  for (const bad of ['', '-1', '1.0', '1e3', ' 1']) assert.equal(parseUint(bad), undefined, bad);
  for (const ok of ['n0', 'net.0', 'a-b_c']) assert.equal(isWellFormedId(ok), true);
  for (const bad of ['0n', '', '-a', 'a b', 'a,b']) assert.equal(isWellFormedId(bad), false);
});
