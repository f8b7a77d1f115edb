/**
 * Control commands as pure functions of NetState (ctrl-queue.ts), for the
 * QEMU details the device-level tests do not pin down: raw u8 rx-mode values,
 * overflow bookkeeping, RSS key prefix semantics, what a refused command
 * leaves behind.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { bytesPayload, guestOffloadsByFeatures, handleCtrlCommand } from './ctrl-queue.js';
import type { CtrlContext } from './ctrl-queue.js';
import { NetState } from './net-state.js';
import {
  VIRTIO_NET_CTRL_ANNOUNCE,
  VIRTIO_NET_CTRL_ANNOUNCE_ACK,
  VIRTIO_NET_CTRL_MAC,
  VIRTIO_NET_CTRL_MAC_TABLE_SET,
  VIRTIO_NET_CTRL_MQ,
  VIRTIO_NET_CTRL_MQ_RSS_CONFIG,
  VIRTIO_NET_CTRL_RX,
  VIRTIO_NET_CTRL_RX_PROMISC,
  VIRTIO_NET_ERR,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_OK,
  VIRTIO_NET_S_ANNOUNCE,
} from './spec-constants.js';

const bit = (n: number): bigint => 1n << BigInt(n);

function context(features: bigint, pairs = 4): CtrlContext & { calls: string[] } {
  const state = new NetState(Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56), pairs);
  state.multiqueue = true;
  const calls: string[] = [];
  return {
    state,
    features,
    hasVnetHdr: true,
    calls,
    rxFilterChanged: () => calls.push('filter'),
    offloadsChanged: () => calls.push('offloads'),
    queuePairsChanged: () => calls.push('pairs'),
    announceAcked: () => calls.push('ack'),
  };
}

const u16 = (v: number) => [v & 0xff, v >> 8];
const u32 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24];

function rss(hashTypes: number, table: number[], unclassified: number, pairs: number, key: number[]): Uint8Array {
  return Uint8Array.from([...u32(hashTypes), ...u16(table.length - 1), ...u16(unclassified), ...table.flatMap(u16), ...u16(pairs), key.length, ...key]);
}

describe('control command handlers', () => {
  test('rx-mode values are stored raw (QEMU keeps the u8), the filter sees them as booleans', () => {
    const c = context(0n);
    assert.equal(handleCtrlCommand(c, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, bytesPayload(Uint8Array.of(5))), VIRTIO_NET_OK);
    assert.equal(c.state.promisc, 5);
    assert.equal(c.state.filter.promisc, true);
    assert.deepEqual(c.calls, ['filter']);
  });

  test('more than 64 unicast entries: uni_overflow, multicast entries still stored from index 0', () => {
    const c = context(0n);
    const uni = new Array(65 * 6).fill(2);
    const data = Uint8Array.from([...u32(65), ...uni, ...u32(2), 1, 0, 0x5e, 0, 0, 1, 1, 0, 0x5e, 0, 0, 2]);
    assert.equal(handleCtrlCommand(c, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, bytesPayload(data)), VIRTIO_NET_OK);
    assert.deepEqual([c.state.uniOverflow, c.state.multiOverflow, c.state.inUse, c.state.firstMulti], [1, 0, 2, 0]);
  });

  test('an RSS key shorter than 40 bytes overwrites only its prefix (QEMU copies in place)', () => {
    const c = context(bit(VIRTIO_NET_F_RSS) | bit(VIRTIO_NET_F_MQ));
    c.state.rss.key.fill(0xaa);
    assert.equal(handleCtrlCommand(c, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, bytesPayload(rss(1, [0, 1], 0, 2, [1, 2, 3, 4]))), VIRTIO_NET_OK);
    assert.deepEqual([...c.state.rss.key.subarray(0, 6)], [1, 2, 3, 4, 0xaa, 0xaa]);
    assert.deepEqual(c.state.rss.table, [0, 1]);
    assert.equal(c.state.currQueuePairs, 2);
    assert.deepEqual(c.calls, ['pairs']);
  });

  test('RSS_CONFIG without RSS negotiated is refused and leaves RSS off', () => {
    const c = context(bit(VIRTIO_NET_F_MQ));
    c.state.rss.enabled = true;
    assert.equal(handleCtrlCommand(c, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, bytesPayload(rss(1, [0], 0, 1, [1]))), VIRTIO_NET_ERR);
    assert.equal(c.state.rss.enabled, false);
  });

  test('ANNOUNCE_ACK needs ANNOUNCE set; it clears it and steps the announce timer', () => {
    const c = context(0n);
    assert.equal(handleCtrlCommand(c, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, bytesPayload(new Uint8Array(0))), VIRTIO_NET_ERR);
    c.state.status |= VIRTIO_NET_S_ANNOUNCE;
    assert.equal(handleCtrlCommand(c, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, bytesPayload(new Uint8Array(0))), VIRTIO_NET_OK);
    assert.equal(c.state.status & VIRTIO_NET_S_ANNOUNCE, 0);
    assert.deepEqual(c.calls, ['ack']);
  });

  test('guest offloads by features keep only the GUEST_* offload bits', () => {
    assert.equal(guestOffloadsByFeatures(bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_MRG_RXBUF) | bit(32)), bit(VIRTIO_NET_F_GUEST_CSUM));
  });
});
