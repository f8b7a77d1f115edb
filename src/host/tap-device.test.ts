/**
 * TAP tests. Traffic only ever flows inside a network namespace this file
 * creates (vmig-t-<random>), between an address it assigns there (10.x.y.1 on
 * the TAP) and a fake guest (10.x.y.2, a static neighbour) that these tests
 * play by reading and writing the TAP's queue fds. The TAP is opened here, in
 * the root namespace, then moved into the namespace; its fds keep working.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';

import { VmigError } from '../core/index.js';
import { runChild, tapUnavailableReason, throwsCode } from '../../test/support/host-testing.js';
import {
  FdPoller,
  IFF_MULTI_QUEUE,
  IFF_NO_PI,
  IFF_TAP,
  IFF_VNET_HDR,
  IoVec,
  MemfdRegion,
  POLL_READABLE,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_TSO_ECN,
  TUN_F_UFO,
  TUN_F_USO4,
  TUN_F_USO6,
  TapDevice,
  hostPageSize,
} from './index.js';
import type { TapQueue } from './index.js';
import { native } from './native.js';

// ---------------------------------------------------------------------------
// Ethernet + IPv4 + UDP, by hand

const HOST_MAC = '02:76:6d:00:00:01'; // the TAP's side, in the namespace
const GUEST_MAC = '02:76:6d:00:00:02'; // the fake guest behind the TAP
const VNET_HDR_SIZE = 12;
const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
const VIRTIO_NET_HDR_F_DATA_VALID = 2;

interface Udp {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

const macBytes = (mac: string) => mac.split(':').map((h) => parseInt(h, 16));
const ipBytes = (ip: string) => ip.split('.').map(Number);
const macText = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
const text = (s: string) => new TextEncoder().encode(s);

/** One's-complement sum of big-endian 16-bit words, folded. */
function sum16(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function buildUdpFrame(p: Udp): Uint8Array {
  const udpLength = 8 + p.payload.length;
  const frame = new Uint8Array(14 + 20 + udpLength);
  const view = new DataView(frame.buffer);
  frame.set(macBytes(p.dstMac), 0);
  frame.set(macBytes(p.srcMac), 6);
  view.setUint16(12, 0x0800); // IPv4
  const ip = frame.subarray(14, 34);
  ip[0] = 0x45; // version 4, 5-word header
  view.setUint16(16, 20 + udpLength);
  view.setUint16(18, randomInt(0x10000)); // identification
  view.setUint16(20, 0x4000); // don't fragment
  ip[8] = 64; // TTL
  ip[9] = 17; // UDP
  ip.set(ipBytes(p.srcIp), 12);
  ip.set(ipBytes(p.dstIp), 16);
  view.setUint16(24, ~sum16(ip) & 0xffff);
  view.setUint16(34, p.srcPort);
  view.setUint16(36, p.dstPort);
  view.setUint16(38, udpLength);
  frame.set(p.payload, 42);
  const pseudo = new Uint8Array([...ipBytes(p.srcIp), ...ipBytes(p.dstIp), 0, 17, udpLength >> 8, udpLength & 0xff]);
  const checksum = ~sum16(frame.subarray(34), sum16(pseudo)) & 0xffff;
  view.setUint16(40, checksum === 0 ? 0xffff : checksum);
  return frame;
}

/** The UDP datagram in an Ethernet frame, or undefined for anything else (ARP, IPv6 noise, ...). */
function parseUdpFrame(frame: Uint8Array): Udp | undefined {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (frame.length < 42 || view.getUint16(12) !== 0x0800 || frame[14]! >> 4 !== 4 || frame[23] !== 17) return undefined;
  const ihl = (frame[14]! & 0x0f) * 4;
  const udp = 14 + ihl;
  const udpLength = view.getUint16(udp + 4);
  return {
    dstMac: macText(frame.subarray(0, 6)),
    srcMac: macText(frame.subarray(6, 12)),
    srcIp: [...frame.subarray(26, 30)].join('.'),
    dstIp: [...frame.subarray(30, 34)].join('.'),
    srcPort: view.getUint16(udp),
    dstPort: view.getUint16(udp + 2),
    payload: frame.slice(udp + 8, udp + udpLength),
  };
}

// ---------------------------------------------------------------------------
// Reading the fake guest's side

interface Received {
  queue: number;
  frame: Uint8Array;
  udp: Udp;
}

/**
 * Polls `queues` and reads every frame with `readFrame` (null: queue empty)
 * until `count` UDP frames satisfying `match` arrived; rejects after `ms`.
 */
function waitForUdp(
  queues: readonly TapQueue[],
  readFrame: (queue: TapQueue) => Uint8Array | null,
  match: (udp: Udp, frame: Uint8Array) => boolean,
  count = 1,
  ms = 4000,
): Promise<Received[]> {
  return new Promise((resolve, reject) => {
    const got: Received[] = [];
    const pollers: FdPoller[] = [];
    const finish = (error?: Error) => {
      clearTimeout(timer);
      for (const poller of pollers) poller.stop();
      if (error) reject(error);
      else resolve(got);
    };
    const timer = setTimeout(() => finish(new Error(`only ${got.length} of ${count} frames within ${ms} ms`)), ms);
    for (const queue of queues) {
      pollers.push(
        FdPoller.start(queue.fd, POLL_READABLE, (_events, error) => {
          if (error) return finish(error);
          for (let frame = readFrame(queue); frame !== null; frame = readFrame(queue)) {
            const udp = parseUdpFrame(frame);
            if (udp !== undefined && match(udp, frame)) got.push({ queue: queue.index, frame, udp });
            if (got.length === count) return finish();
          }
        }),
      );
    }
  });
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a CommonJS snippet with node inside the namespace. */
function inNamespace(ns: string, script: string, onStdout?: (text: string) => void) {
  return runChild('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { timeoutMs: 8000, ...(onStdout ? { onStdout } : {}) });
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

// ---------------------------------------------------------------------------

describe('TapDevice', () => {
  it('defines the TUN_F_* and IFF_* constants as the kernel headers do', () => {
    const c = native().hostConstants();
    const ours = { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_UFO, TUN_F_USO4, TUN_F_USO6, IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE };
    for (const [name, value] of Object.entries(ours)) assert.equal(value, c[name], name);
  });

  it('validates its options before asking the kernel', () => {
    throwsCode(() => TapDevice.open({ queues: 0 }), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(() => TapDevice.open({ queues: 257 }), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(() => TapDevice.open({ queues: 1.5 }), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(() => TapDevice.open({ ifname: 'x'.repeat(16) }), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(() => TapDevice.open({ ifname: 'a\0b' }), 'ERR_HOST_INVALID_ARG_TYPE');
    throwsCode(() => TapDevice.open({ vnetHdr: 1 as unknown as boolean }), 'ERR_HOST_INVALID_ARG_TYPE');
    const err = throwsCode(() => TapDevice.open({ queues: 0, ifname: 'vm0' }), 'ERR_HOST_OUT_OF_RANGE');
    assert.match(err.message, /^cannot open TAP "vm0" with 0 queue\(s\): queues must be/);
  });
});

describe('TapDevice in a network namespace', () => {
  const unavailable = tapUnavailableReason();
  const skipped = (t: TestContext): boolean => {
    if (unavailable !== undefined) t.skip(unavailable);
    return unavailable !== undefined;
  };

  const ns = `vmig-t-${hex(4)}`;
  const subnet = `10.${100 + randomInt(100)}.${1 + randomInt(250)}`;
  const hostIp = `${subnet}.1`;
  const guestIp = `${subnet}.2`;
  const requestedName = `vmigt${hex(3)}`;
  let nsCreated = false;
  let tap: TapDevice | undefined;
  let ram: MemfdRegion | undefined;
  const page = hostPageSize();

  before(() => {
    if (unavailable !== undefined) return;
    tap = TapDevice.open({ ifname: requestedName, queues: 2, vnetHdr: true });
    ram = MemfdRegion.create(`vmig-test-${process.pid}-tap-ram`, 8 * page);
    ip('netns', 'add', ns);
    nsCreated = true;
    ip('link', 'set', tap.ifname, 'netns', ns);
    ip('-n', ns, 'link', 'set', tap.ifname, 'address', HOST_MAC);
    ip('-n', ns, 'addr', 'add', `${hostIp}/24`, 'dev', tap.ifname);
    ip('-n', ns, 'link', 'set', tap.ifname, 'up');
    ip('-n', ns, 'neigh', 'add', guestIp, 'lladdr', GUEST_MAC, 'dev', tap.ifname, 'nud', 'permanent');
  });

  after(() => {
    try {
      tap?.close();
      ram?.close();
    } finally {
      if (nsCreated) ip('netns', 'del', ns);
    }
  });

  it('opens one non-blocking, close-on-exec fd per queue, which keep working in the namespace', (t) => {
    if (skipped(t)) return;
    assert.ok(tap);
    assert.equal(tap.ifname, requestedName);
    assert.equal(tap.queues.length, 2);
    const want = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR;
    assert.equal(tap.flags & want, want);
    for (const queue of tap.queues) {
      const flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${queue.fd}`, 'utf8'))![1]!, 8);
      assert.ok(flags & 0o4000 && flags & 0o2000000, `queue ${queue.index} flags ${flags.toString(8)}`);
      assert.equal(native().tapGetIff(queue.fd).ifname, requestedName);
    }
    assert.match(ip('-n', ns, 'link', 'show', tap.ifname), /state UP|LOWER_UP/);
  });

  it('sets the vnet header size and offloads, and refuses bad values', (t) => {
    if (skipped(t)) return;
    assert.ok(tap);
    assert.equal(tap.vnetHdrSize, 10, "the kernel's default");
    tap.setVnetHdrSize(VNET_HDR_SIZE);
    assert.equal(tap.vnetHdrSize, 12);
    throwsCode(() => tap!.setVnetHdrSize(11), 'ERR_HOST_OUT_OF_RANGE');
    const einval = throwsCode(() => native().tapSetVnetHdrSize(tap!.queues[0]!.fd, 8), 'ERR_HOST_SYSCALL_FAILED');
    assert.deepEqual([einval.details['syscall'], einval.details['errnoName']], ['ioctl(TUNSETVNETHDRSZ)', 'EINVAL']);
    assert.equal(tap.vnetHdrSize, 12, 'unchanged by the refused size');

    tap.setOffload(0);
    tap.setOffload(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO);
    const noCsum = throwsCode(() => tap!.setOffload(TUN_F_TSO4), 'ERR_HOST_SYSCALL_FAILED');
    assert.equal(noCsum.details['errnoName'], 'EINVAL', 'TSO without CSUM');
    assert.match(noCsum.message, new RegExp(`^cannot set offloads on TAP ${requestedName}: ioctl\\(TUNSETOFFLOAD\\) failed: EINVAL`));
    throwsCode(() => tap!.setOffload(0x80), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(() => tap!.setOffload(-1), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(() => native().tapSetOffload(tap!.queues[0]!.fd, 0x1000), 'ERR_HOST_SYSCALL_FAILED');

    // Offloads without vnet headers would hand over frames nothing describes.
    const plain = TapDevice.open({ ifname: `vmigu${hex(3)}`, vnetHdr: false });
    try {
      assert.equal(plain.flags & IFF_VNET_HDR, 0);
      throwsCode(() => plain.setOffload(TUN_F_CSUM), 'ERR_HOST_TAP_NO_VNET_HDR');
      plain.setOffload(0);
    } finally {
      plain.close();
    }
  });

  it('delivers a frame written to a queue to a socket in the namespace', { timeout: 10_000 }, async (t) => {
    if (skipped(t)) return;
    assert.ok(tap);
    const port = 20000 + randomInt(20000);
    const payload = `hello from the guest ${hex(4)}`;
    const frame = buildUdpFrame({ srcMac: GUEST_MAC, dstMac: HOST_MAC, srcIp: guestIp, dstIp: hostIp, srcPort: 40001, dstPort: port, payload: text(payload) });
    const packet = new Uint8Array(VNET_HDR_SIZE + frame.length); // zero header: no offloads, num_buffers unused on TX
    packet.set(frame, VNET_HDR_SIZE);

    let writer: NodeJS.Timeout | undefined;
    const receiver = `
      const socket = require('node:dgram').createSocket('udp4');
      socket.on('message', (msg, from) => {
        console.log(JSON.stringify({ payload: msg.toString(), address: from.address, port: from.port }));
        socket.close();
      });
      socket.bind(${port}, '${hostIp}', () => console.log('ready'));
      setTimeout(() => process.exit(3), 6000).unref();`;
    const result = await inNamespace(ns, receiver, (out) => {
      // Once the socket is bound, write the frame (again every 200 ms, in case the first is lost).
      if (writer === undefined && out.startsWith('ready\n')) {
        const send = () => assert.equal(tap!.queues[0]!.write(packet), packet.length);
        send();
        writer = setInterval(send, 200);
      }
    }).finally(() => clearInterval(writer));
    assert.equal(result.status, 0, result.stderr);
    const line = result.stdout.split('\n')[1]!;
    assert.deepEqual(JSON.parse(line), { payload, address: guestIp, port: 40001 });
  });

  it('receives a datagram sent to the guest on a queue, read with readv straight into guest RAM', { timeout: 10_000 }, async (t) => {
    if (skipped(t)) return;
    assert.ok(tap && ram);
    const port = 20000 + randomInt(20000);
    const payload = `hello from the namespace ${hex(4)}`;
    // A descriptor chain: header, then the frame over two pieces of guest RAM.
    const view = new Uint8Array(ram.buffer);
    const chain = new IoVec(3).add(view, 0x1000, VNET_HDR_SIZE).add(view, 0x2000, 30).add(view, 0x5000, 2048);
    const pieces: Array<[number, number]> = [[0x1000, VNET_HDR_SIZE], [0x2000, 30], [0x5000, 2048]];
    const gather = (n: number): Uint8Array => {
      const out = new Uint8Array(n);
      let at = 0;
      for (const [offset, length] of pieces) {
        const take = Math.min(length, n - at);
        out.set(view.subarray(offset, offset + take), at);
        at += take;
      }
      return out;
    };
    const readIntoRam = (queue: TapQueue): Uint8Array | null => {
      const n = queue.readv(chain);
      return n < 0 ? null : gather(n);
    };

    const arrival = waitForUdp(tap.queues, (q) => {
      const packet = readIntoRam(q);
      return packet === null ? null : packet.subarray(VNET_HDR_SIZE);
    }, (udp) => udp.dstPort === port);
    const sender = await inNamespace(
      ns,
      `const socket = require('node:dgram').createSocket('udp4');
       socket.send(Buffer.from(${JSON.stringify(payload)}), ${port}, '${guestIp}', (err) => { if (err) throw err; socket.close(); });`,
    );
    assert.equal(sender.status, 0, sender.stderr);
    const [got] = await arrival;
    assert.ok(got);
    assert.deepEqual(
      { ...got.udp, payload: new TextDecoder().decode(got.udp.payload) },
      { srcMac: HOST_MAC, dstMac: GUEST_MAC, srcIp: hostIp, dstIp: guestIp, srcPort: got.udp.srcPort, dstPort: port, payload },
    );
    // The vnet header landed in its own piece of RAM: no GSO for a small datagram,
    // and with TUN_F_CSUM the kernel may leave the UDP checksum to the "guest".
    const header = new DataView(ram.buffer, 0x1000, VNET_HDR_SIZE);
    const flags = header.getUint8(0);
    assert.ok([0, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_F_DATA_VALID].includes(flags), `flags ${flags}`);
    assert.equal(header.getUint8(1), 0, 'gso_type NONE');
    if (flags === VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      assert.deepEqual([header.getUint16(6, true), header.getUint16(8, true)], [34, 6], 'csum_start/csum_offset: the UDP checksum');
    }
  });

  it('detaches and re-attaches a queue (TUNSETQUEUE): a detached queue gets no traffic', { timeout: 10_000 }, async (t) => {
    if (skipped(t)) return;
    assert.ok(tap);
    const [q0, q1] = tap.queues as [TapQueue, TapQueue];
    q1.disable();
    q1.disable(); // idempotent
    assert.equal(q1.enabled, false);
    const kernelRefuses = throwsCode(() => native().tapSetQueueEnabled(q1.fd, false), 'ERR_HOST_SYSCALL_FAILED');
    assert.equal(kernelRefuses.details['errnoName'], 'EINVAL', 'detaching a detached queue');

    // With queue 1 detached, every flow lands on queue 0 (with both attached,
    // eight flows would almost surely use both).
    const port = 20000 + randomInt(20000);
    const buffer = new Uint8Array(2048);
    const read = (q: TapQueue) => {
      const n = q.read(buffer);
      return n < 0 ? null : buffer.slice(VNET_HDR_SIZE, n);
    };
    const arrival = waitForUdp([q0, q1], read, (udp) => udp.dstPort === port, 8);
    const sender = await inNamespace(
      ns,
      `const dgram = require('node:dgram');
       let left = 8;
       for (let i = 0; i < 8; i++) {
         const socket = dgram.createSocket('udp4');
         socket.send(Buffer.from('flow ' + i), ${port}, '${guestIp}', () => { socket.close(); if (--left === 0) process.exit(0); });
       }`,
    );
    assert.equal(sender.status, 0, sender.stderr);
    const got = await arrival;
    assert.equal(new Set(got.map((g) => g.udp.srcPort)).size, 8, 'eight flows');
    assert.deepEqual(got.map((g) => g.queue), new Array(8).fill(0));

    q1.enable();
    q1.enable();
    assert.equal(q1.enabled, true);
    // Device-wide settings work through whichever queue is attached.
    q0.disable();
    tap.setOffload(TUN_F_CSUM);
    assert.equal(tap.vnetHdrSize, 12);
    q0.enable();
  });

  it('removes the device when closed, and refuses use afterwards', (t) => {
    if (skipped(t)) return;
    assert.ok(tap);
    const queue = tap.queues[0]!;
    tap.close();
    tap.close();
    assert.equal(tap.closed, true);
    assert.throws(() => ip('-n', ns, 'link', 'show', requestedName), 'the device is gone with its last fd');
    for (const use of [() => queue.fd, () => queue.read(new Uint8Array(64)), () => tap!.vnetHdrSize, () => tap!.setOffload(0)]) {
      const err = throwsCode(use, 'ERR_HOST_FD_CLOSED');
      assert.ok(err instanceof VmigError);
    }
  });
});
