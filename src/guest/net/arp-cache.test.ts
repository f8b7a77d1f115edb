/** The ARP cache in a byte region: layout, lookup/insert/refresh/evict, expiry, eviction policy, and a model check. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { hasCode } from '../../core/index.js';
import {
  ARP_CACHE_FULL,
  ARP_CACHE_MISS,
  ArpCacheEntry,
  arpCacheByteLength,
  arpCacheCapacity,
  arpCacheCount,
  arpCacheEvict,
  arpCacheEvictExpired,
  arpCacheInsert,
  arpCacheLookup,
  arpCacheRefresh,
  initArpCache,
  readArpCacheEntry,
} from './arp-cache.js';
import { toHex } from './net-test-kit.js';

const IP_A = 0x0a00_0001;
const IP_B = 0x0a00_0003;
const IP_C = 0x0a00_0004;
const MAC_A = 0x0200_0000_000a;
const MAC_B = 0x0200_0000_000b;
const MAC_C = 0x0200_0000_000c;
const SECOND = 1_000_000_000n;

/** A cache at offset 8 of a SharedArrayBuffer, as in guest RAM. */
function ram(capacity: number): { region: Uint8Array; base: number } {
  const region = new Uint8Array(new SharedArrayBuffer(8 + arpCacheByteLength(capacity) + 8));
  initArpCache(region, 8, capacity);
  return { region, base: 8 };
}

describe('ARP cache layout', () => {
  it('writes the header and entries as documented', () => {
    const { region, base } = ram(2);
    assert.equal(toHex(region.subarray(base, base + 16)), '41525043' + '0100' + '0200' + '0000000000000000');
    arpCacheInsert(region, base, 100, 0xc0a8_6401, 0x5254_0012_3456, 0x0102_0304_0506_0708n);
    const entry = region.subarray(base + 16, base + 40);
    assert.equal(
      toHex(entry),
      'c0a86401' + // IPv4, network order
        '525400123456' + // MAC
        '01' + '00' + // flags VALID, reserved
        '6400' + '0000' + // VLAN 100 le16, reserved
        '0807060504030201', // expiry u64 le
    );
  });

  it('refuses a region that holds no cache (ERR_GUEST_ARP_CACHE_LAYOUT)', () => {
    const zeroed = new Uint8Array(200);
    assert.throws(() => arpCacheLookup(zeroed, 0, 0, IP_A, 0n), (e) => hasCode(e, 'ERR_GUEST_ARP_CACHE_LAYOUT'));
    const { region, base } = ram(4);
    assert.throws(() => arpCacheCapacity(region.subarray(0, base + arpCacheByteLength(4) - 1), base), (e) => hasCode(e, 'ERR_GUEST_ARP_CACHE_LAYOUT'), 'entries past the region');
    region[base + 4] = 2;
    assert.throws(() => arpCacheCount(region, base), (e) => hasCode(e, 'ERR_GUEST_ARP_CACHE_LAYOUT'), 'unknown layout version');
    assert.throws(() => arpCacheCapacity(region, -3), (e) => hasCode(e, 'ERR_GUEST_ARP_CACHE_LAYOUT'));
    assert.throws(() => initArpCache(new Uint8Array(100), 0, 5), (e) => hasCode(e, 'ERR_GUEST_SPAN_OUT_OF_RANGE'));
    assert.throws(() => initArpCache(new Uint8Array(100), 0, 0), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
  });

  it('refuses bad keys and times (ERR_GUEST_BAD_ARGUMENT)', () => {
    const { region, base } = ram(2);
    assert.throws(() => arpCacheLookup(region, base, 4095, IP_A, 0n), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
    assert.throws(() => arpCacheLookup(region, base, 0, 2 ** 32, 0n), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
    assert.throws(() => arpCacheLookup(region, base, 0, IP_A, -1n), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
    assert.throws(() => arpCacheInsert(region, base, 0, IP_A, MAC_A, 1n << 64n), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
    assert.throws(() => arpCacheInsert(region, base, 0, IP_A, 2 ** 48, 0n), (e) => hasCode(e, 'ERR_GUEST_BAD_ARGUMENT'));
  });
});

describe('ARP cache operations', () => {
  it('finds what was inserted until it expires; entries are per VLAN', () => {
    const { region, base } = ram(4);
    assert.equal(arpCacheLookup(region, base, 0, IP_A, 0n), ARP_CACHE_MISS);
    arpCacheInsert(region, base, 0, IP_A, MAC_A, 60n * SECOND);
    assert.equal(arpCacheLookup(region, base, 0, IP_A, 59n * SECOND), MAC_A);
    assert.equal(arpCacheLookup(region, base, 0, IP_A, 60n * SECOND), ARP_CACHE_MISS, 'stale from the expiry instant');
    assert.equal(arpCacheLookup(region, base, 100, IP_A, 0n), ARP_CACHE_MISS, 'another L2 domain');
    arpCacheInsert(region, base, 100, IP_A, MAC_B, 60n * SECOND);
    assert.equal(arpCacheLookup(region, base, 100, IP_A, 0n), MAC_B);
    assert.equal(arpCacheLookup(region, base, 0, IP_A, 0n), MAC_A);
  });

  it('updates an existing entry in place instead of adding one', () => {
    const { region, base } = ram(4);
    const slot = arpCacheInsert(region, base, 0, IP_A, MAC_A, SECOND);
    assert.equal(arpCacheInsert(region, base, 0, IP_A, MAC_B, 2n * SECOND), slot);
    assert.equal(arpCacheCount(region, base), 1);
    assert.equal(arpCacheLookup(region, base, 0, IP_A, SECOND), MAC_B);
  });

  it('compares expiries above 2^32 ns correctly (both u32 halves)', () => {
    const { region, base } = ram(2);
    const expiry = (5n << 32n) + 10n;
    arpCacheInsert(region, base, 0, IP_A, MAC_A, expiry);
    assert.equal(arpCacheLookup(region, base, 0, IP_A, (4n << 32n) + 0xffff_ffffn), MAC_A);
    assert.equal(arpCacheLookup(region, base, 0, IP_A, (5n << 32n) + 9n), MAC_A);
    assert.equal(arpCacheLookup(region, base, 0, IP_A, (5n << 32n) + 10n), ARP_CACHE_MISS);
    const entry = new ArpCacheEntry();
    assert.ok(readArpCacheEntry(region, base, 0, entry));
    assert.equal(entry.expiresAtNs, expiry);
  });

  it('when full, evicts the entry that expires soonest (expired ones first)', () => {
    const { region, base } = ram(2);
    arpCacheInsert(region, base, 0, IP_A, MAC_A, 30n * SECOND);
    arpCacheInsert(region, base, 0, IP_B, MAC_B, 10n * SECOND);
    const slot = arpCacheInsert(region, base, 0, IP_C, MAC_C, 40n * SECOND);
    assert.equal(slot, 1, "B's slot");
    assert.equal(arpCacheLookup(region, base, 0, IP_B, 0n), ARP_CACHE_MISS);
    assert.equal(arpCacheLookup(region, base, 0, IP_A, 0n), MAC_A);
    assert.equal(arpCacheLookup(region, base, 0, IP_C, 0n), MAC_C);
  });

  it('keeps permanent entries: no expiry, no eviction, no overwrite by learned ARP', () => {
    const { region, base } = ram(2);
    arpCacheInsert(region, base, 0, IP_A, MAC_A, 0n, true);
    assert.equal(arpCacheLookup(region, base, 0, IP_A, 1000n * SECOND), MAC_A);
    assert.equal(arpCacheInsert(region, base, 0, IP_A, MAC_B, SECOND), 0, 'learned insert leaves it');
    assert.equal(arpCacheLookup(region, base, 0, IP_A, 0n), MAC_A);
    assert.equal(arpCacheRefresh(region, base, 0, IP_A, MAC_B, SECOND), -1);
    arpCacheInsert(region, base, 0, IP_B, MAC_B, 0n, true);
    assert.equal(arpCacheInsert(region, base, 0, IP_C, MAC_C, SECOND), ARP_CACHE_FULL);
    assert.equal(arpCacheEvictExpired(region, base, 1000n * SECOND), 0);
    assert.equal(arpCacheInsert(region, base, 0, IP_A, MAC_C, 0n, true), 0, 'an administrative (permanent) insert replaces it');
    assert.equal(arpCacheLookup(region, base, 0, IP_A, 0n), MAC_C);
  });

  it('refresh updates only what is already there (RFC 826 merge)', () => {
    const { region, base } = ram(4);
    assert.equal(arpCacheRefresh(region, base, 0, IP_A, MAC_A, SECOND), -1);
    assert.equal(arpCacheCount(region, base), 0);
    arpCacheInsert(region, base, 0, IP_A, MAC_A, SECOND);
    assert.equal(arpCacheRefresh(region, base, 0, IP_A, MAC_B, 5n * SECOND), 0);
    assert.equal(arpCacheLookup(region, base, 0, IP_A, 4n * SECOND), MAC_B);
  });

  it('evicts one entry, or every expired one', () => {
    const { region, base } = ram(4);
    arpCacheInsert(region, base, 0, IP_A, MAC_A, SECOND);
    arpCacheInsert(region, base, 0, IP_B, MAC_B, 3n * SECOND);
    arpCacheInsert(region, base, 0, IP_C, MAC_C, 5n * SECOND);
    assert.equal(arpCacheEvict(region, base, 0, IP_B), 1);
    assert.equal(arpCacheEvict(region, base, 0, IP_B), -1);
    assert.equal(arpCacheEvictExpired(region, base, 2n * SECOND), 1);
    assert.equal(arpCacheCount(region, base), 1);
    assert.ok(!readArpCacheEntry(region, base, 0, new ArpCacheEntry()));
    assert.ok(region.subarray(base + 16, base + 64).every((b) => b === 0), 'freed slots are zeroed');
  });

  it('touches only its own region', () => {
    const { region, base } = ram(3);
    region.fill(0x77, 0, base);
    region.fill(0x77, base + arpCacheByteLength(3));
    for (let i = 0; i < 10; i++) arpCacheInsert(region, base, i % 2, IP_A + i, MAC_A + i, BigInt(i) * SECOND);
    arpCacheEvictExpired(region, base, 5n * SECOND);
    assert.ok(region.subarray(0, base).every((b) => b === 0x77));
    assert.ok(region.subarray(base + arpCacheByteLength(3)).every((b) => b === 0x77));
  });
});

describe('ARP cache against a model', () => {
  type Op =
    | { kind: 'insert'; vlan: number; ip: number; mac: number; expiry: number; permanent: boolean }
    | { kind: 'lookup'; vlan: number; ip: number; now: number }
    | { kind: 'refresh'; vlan: number; ip: number; mac: number; expiry: number }
    | { kind: 'evict'; vlan: number; ip: number }
    | { kind: 'sweep'; now: number };
  interface Slot {
    vlan: number;
    ip: number;
    mac: number;
    expiry: number;
    permanent: boolean;
  }

  const vlan = fc.constantFrom(0, 7);
  const ip = fc.integer({ min: 1, max: 6 });
  const mac = fc.integer({ min: 0, max: 2 ** 48 - 1 });
  const time = fc.integer({ min: 0, max: 50 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('insert' as const), vlan, ip, mac, expiry: time, permanent: fc.boolean() }),
    fc.record({ kind: fc.constant('lookup' as const), vlan, ip, now: time }),
    fc.record({ kind: fc.constant('refresh' as const), vlan, ip, mac, expiry: time }),
    fc.record({ kind: fc.constant('evict' as const), vlan, ip }),
    fc.record({ kind: fc.constant('sweep' as const), now: time }),
  );

  it('every operation agrees with a plain-array model of the same policy', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 60 }), (capacity, ops) => {
        const { region, base } = ram(capacity);
        const model: (Slot | undefined)[] = new Array<Slot | undefined>(capacity).fill(undefined);
        const find = (v: number, i: number): number => model.findIndex((s) => s !== undefined && s.vlan === v && s.ip === i);
        for (const o of ops) {
          if (o.kind === 'insert') {
            let expected = find(o.vlan, o.ip);
            if (expected >= 0) {
              if (!model[expected]!.permanent || o.permanent) model[expected] = { vlan: o.vlan, ip: o.ip, mac: o.mac, expiry: o.expiry, permanent: o.permanent };
            } else {
              expected = model.findIndex((s) => s === undefined);
              if (expected < 0) {
                for (let i = 0; i < capacity; i++) {
                  const s = model[i]!;
                  if (!s.permanent && (expected < 0 || s.expiry < model[expected]!.expiry)) expected = i;
                }
              }
              if (expected >= 0) model[expected] = { vlan: o.vlan, ip: o.ip, mac: o.mac, expiry: o.expiry, permanent: o.permanent };
            }
            assert.equal(arpCacheInsert(region, base, o.vlan, o.ip, o.mac, BigInt(o.expiry), o.permanent), expected);
          } else if (o.kind === 'lookup') {
            const at = find(o.vlan, o.ip);
            const s = at >= 0 ? model[at]! : undefined;
            const expected = s !== undefined && (s.permanent || o.now < s.expiry) ? s.mac : ARP_CACHE_MISS;
            assert.equal(arpCacheLookup(region, base, o.vlan, o.ip, BigInt(o.now)), expected);
          } else if (o.kind === 'refresh') {
            const at = find(o.vlan, o.ip);
            const expected = at >= 0 && !model[at]!.permanent ? at : -1;
            if (expected >= 0) model[at] = { vlan: o.vlan, ip: o.ip, mac: o.mac, expiry: o.expiry, permanent: false };
            assert.equal(arpCacheRefresh(region, base, o.vlan, o.ip, o.mac, BigInt(o.expiry)), expected);
          } else if (o.kind === 'evict') {
            const at = find(o.vlan, o.ip);
            if (at >= 0) model[at] = undefined;
            assert.equal(arpCacheEvict(region, base, o.vlan, o.ip), at);
          } else {
            let removed = 0;
            for (let i = 0; i < capacity; i++) {
              const s = model[i];
              if (s !== undefined && !s.permanent && s.expiry <= o.now) {
                model[i] = undefined;
                removed++;
              }
            }
            assert.equal(arpCacheEvictExpired(region, base, BigInt(o.now)), removed);
          }
          assert.equal(arpCacheCount(region, base), model.filter((s) => s !== undefined).length);
        }
      }),
      { numRuns: 300 },
    );
  });
});
