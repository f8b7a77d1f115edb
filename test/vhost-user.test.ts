/**
 * vhost-user end to end inside one process: the virtio-net device with the
 * vhost-user NetBackend (the frontend) talks over a real unix socket, with
 * real memfds and eventfds, to `vmig vhost-user-net`'s server, whose port is
 * a loopback (a test double of the TAP). The guest side is the harness's
 * driver. What crosses the socket is the protocol as QEMU and DPDK speak it.
 */

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { VhostUserBackend, VhostUserConnection, VhostUserFrontend, VhostUserProtocol as P } from '../src/backends/index.js';
import type { VhostUserError } from '../src/backends/index.js';
import { LoopbackBackend } from '../src/backends/testing/loopback-backend.js';
import { UnixListener, makeTempDir, removeTree } from '../src/host/index.js';
import { GuestMemory, GUEST_PAGE_SIZE } from '../src/memory/index.js';
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1 } from '../src/virtio/index.js';
import { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_RSS } from '../src/devices/net/index.js';
import { VhostUserNetServer, rehearseVhostUser } from '../src/vhost-user-net/index.js';
import { NetHarness, tick, udpFrame, withHeader } from './support/virtio-net-harness.js';

const dir = makeTempDir('vmig-vu-');
after(() => removeTree(dir));
let n = 0;

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A server over a loopback port, a guest's RAM, the device connected to the server. */
async function setup(pairs = 2, properties: Record<string, boolean> = {}) {
  const path = join(dir, `vu${n++}.sock`);
  const port = new LoopbackBackend({ queuePairs: pairs });
  const logs: string[] = [];
  const server = new VhostUserNetServer(port, path, (l) => logs.push(l));
  const memory = GuestMemory.create(16 << 20, 'vu-test');
  const backend = await VhostUserBackend.connect(path, memory, pairs);
  const h = new NetHarness<VhostUserBackend>({ memory, backend, properties });
  const close = (): void => {
    h.device.close();
    backend.close();
    server.close();
    memory.close();
  };
  return { path, port, server, memory, backend, h, logs, close };
}

const frame = (tag: number): Uint8Array => udpFrame({ dst: '52:54:00:12:34:56', srcIp: [10, 0, 0, 1], dstIp: [10, 0, 0, 2], sport: 1000 + tag, dport: 7777, payload: Uint8Array.of(tag, tag, tag) });

describe('vhost-user: vmig vhost-user-net as the datapath', () => {
  it('the device offers only the ring and offload features the backend implements', async () => {
    const t = await setup();
    try {
      const offered = t.h.offeredFeatures();
      const has = (b: number): boolean => (offered & (1n << BigInt(b))) !== 0n;
      assert.ok(has(VIRTIO_F_VERSION_1) && has(VIRTIO_NET_F_MRG_RXBUF));
      // vmig vhost-user-net has no event idx, indirect descriptors or RSS: QEMU's user_feature_bits masking.
      assert.ok(!has(VIRTIO_F_EVENT_IDX) && !has(VIRTIO_F_INDIRECT_DESC) && !has(VIRTIO_NET_F_RSS));
      assert.equal(t.backend.queuePairs, 2);
    } finally {
      t.close();
    }
  });

  it('frames move both ways through the backend process side; RX raises the queue interrupt and dirties the pages written', async () => {
    const t = await setup();
    try {
      t.h.start();
      await until('the rings to start at DRIVER_OK', () => t.backend.running);
      t.h.postRx(0, 4);
      t.memory.dirty.fetchAndClear();
      t.port.inject(0, withHeader(frame(1)));
      let got: ReturnType<typeof t.h.received> = [];
      await until('the frame in the RX ring', () => (got = got.length ? got : t.h.received(0)).length > 0);
      assert.deepEqual(got[0]!.frame, frame(1));
      await until('the call eventfd to become an interrupt', () => t.h.raised.length > 0);
      const rxRing = t.h.device.queue(0)!.getState();
      const dirty = t.memory.dirty.fetchAndClear();
      assert.ok(dirty.has(Math.floor(Number(rxRing.usedAddr) / GUEST_PAGE_SIZE)), 'the used ring page is in the dirty log');
      assert.ok(dirty.count() >= 2, 'the buffer page too');

      t.h.addTx(0, withHeader(frame(2)));
      await until('the TX frame on the port', () => t.port.sent.length > 0);
      assert.deepEqual(t.port.sent[0], { queue: 0, bytes: withHeader(frame(2)) });
    } finally {
      t.close();
    }
  });

  it('queue pairs the guest turns on while the start is still on its way are enabled when it lands', async () => {
    const t = await setup(2, { mq: true });
    try {
      t.h.start();
      // DRIVER_OK sent the start; the guest's VQ_PAIRS_SET comes before the backend's acks.
      assert.equal(t.backend.running, false);
      assert.equal(t.h.ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, Uint8Array.of(2, 0)), 0);
      await until('running', () => t.backend.running);
      t.h.addTx(1, withHeader(frame(9)));
      await until('the frame sent on pair 1', () => t.port.sent.length > 0);
      assert.equal(t.port.sent[0]!.queue, 1);
    } finally {
      t.close();
    }
  });

  it('a guest reset while the start is on its way stops what that start set up', async () => {
    const t = await setup(1);
    try {
      t.h.start();
      assert.equal(t.backend.running, false, 'the start is on its way');
      t.h.setCommon(0x14, 1, 0); // reset
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(t.backend.running, false);
      assert.equal(t.backend.prepared, undefined, 'nothing left prepared in the backend');
    } finally {
      t.close();
    }
  });

  it('stopDatapath hands each ring’s next avail index back to the device; nothing moves until startDatapath', async () => {
    const t = await setup();
    try {
      t.h.start();
      await until('running', () => t.backend.running);
      t.h.postRx(0, 4);
      t.h.addTx(0, withHeader(frame(3)));
      t.h.addTx(0, withHeader(frame(4)));
      await until('two TX frames', () => t.port.sent.length === 2);
      await t.h.device.stopDatapath();
      assert.equal(t.backend.running, false);
      assert.equal(t.h.device.queue(1)!.lastAvailIdx, 2, 'TX ring: two chains consumed');
      assert.equal(t.h.device.queue(1)!.usedIdx, 2);
      assert.equal(t.h.device.queue(0)!.lastAvailIdx, 0, 'RX ring: no buffer used yet');

      t.port.inject(0, withHeader(frame(5)));
      t.h.addTx(0, withHeader(frame(6)));
      for (let i = 0; i < 20; i++) await tick();
      assert.equal(t.h.received(0).length, 0, 'a stopped ring receives nothing');
      assert.equal(t.port.sent.length, 2, 'a stopped ring sends nothing');

      await t.h.device.startDatapath();
      let got: ReturnType<typeof t.h.received> = [];
      await until('the held frame after the restart', () => (got = got.length ? got : t.h.received(0)).length > 0);
      assert.deepEqual(got[0]!.frame, frame(5));
      await until('the TX kicked while stopped', () => t.port.sent.length === 3);
      assert.deepEqual(t.port.sent[2]!.bytes, withHeader(frame(6)));
    } finally {
      t.close();
    }
  });

  it('early migration’s split: prepared rings move nothing; commit starts them at the bases it sends', async () => {
    const t = await setup(1);
    try {
      t.h.negotiate();
      t.h.setupQueues();
      // As an early destination: everything but the bases, before the guest runs here.
      await t.backend.prepare(t.h.device.features, [0, 1].map((i) => {
        const s = t.h.device.queue(i)!.getState();
        return { index: i, size: s.size, desc: Number(s.descAddr), avail: Number(s.availAddr), used: Number(s.usedAddr) };
      }));
      t.h.postRx(0, 2, 2048, { kick: 'always' });
      t.port.inject(0, withHeader(frame(7)));
      t.port.inject(0, withHeader(frame(8)));
      for (let i = 0; i < 20; i++) await tick();
      assert.equal(t.h.received(0).length, 0, 'a prepared, uncommitted ring takes no frame');
      assert.equal(t.h.raised.length, 0);
      // Base 1 on the RX ring: its first buffer counts as consumed, one buffer is left for two frames.
      await t.backend.commit([{ index: 0, base: 1 }, { index: 1, base: 0 }]);
      let got = 0;
      await until('a frame after commit', () => (got += t.h.received(0).length) > 0);
      for (let i = 0; i < 20; i++) await tick();
      got += t.h.received(0).length;
      assert.equal(got, 1, 'one frame delivered, into the one buffer past the base (a backend ignoring the base would fill both)');
    } finally {
      t.close();
    }
  });
});

describe('vhost-user: the rehearsal', () => {
  it('runs start, commit and stop rounds in-process and leaves no fd behind', async () => {
    const fds = (): number => readdirSync('/proc/self/fd').length;
    await rehearseVhostUser(1);
    const before = fds();
    await rehearseVhostUser(3);
    for (let i = 0; i < 10; i++) await tick();
    assert.equal(fds(), before);
  });
});

describe('vhost-user: hostile or broken peers', () => {
  it('a bad message is refused (a failure ack, or the hang-up that follows it) and ends only that session, leaving no fd behind; the next frontend is served', async () => {
    const t = await setup(1);
    try {
      // The device's frontend holds the session: a second one is turned away.
      await assert.rejects(VhostUserFrontend.connect(t.path), (e: VhostUserError) => e.code === 'ERR_BACKEND_VHOST_USER_DISCONNECTED');
      t.backend.close();
      await until('the first session to end', () => !t.server.serving);

      const fds = (): number => readdirSync('/proc/self/fd').length;
      const fdsBefore = fds();
      const cases: [string, (f: VhostUserFrontend) => Promise<void>, RegExp][] = [
        ['ring addresses outside the memory table', async (f) => {
          const ram = t.memory.region!;
          await f.set(P.VHOST_USER_SET_MEM_TABLE, P.memTablePayload([{ guestPhysAddr: 0n, memorySize: BigInt(ram.byteLength), userspaceAddr: 0x1000_0000n, mmapOffset: 0n }]), [ram.fd]);
          await f.set(P.VHOST_USER_SET_VRING_NUM, P.vringStatePayload({ index: 0, num: 256 }));
          await f.set(P.VHOST_USER_SET_VRING_ADDR, P.vringAddrPayload({ index: 0, flags: 0, desc: 0x10n, used: 0x20n, avail: 0x30n, log: 0n }));
          await f.set(P.VHOST_USER_SET_VRING_KICK, P.u64Payload(0n), [ram.fd]);
        }, /outside the memory table/],
        ['ring out of range', (f) => f.set(P.VHOST_USER_SET_VRING_NUM, P.vringStatePayload({ index: 9, num: 256 })), /ring 9, the backend has 2/],
        ['size not a power of two', (f) => f.set(P.VHOST_USER_SET_VRING_NUM, P.vringStatePayload({ index: 0, num: 300 })), /power of two/],
        ['kick before the memory table', (f) => f.set(P.VHOST_USER_SET_VRING_KICK, P.u64Payload(0n), [t.memory.region!.fd]), /before the memory table/],
        ['memory table without its fd', (f) => f.set(P.VHOST_USER_SET_MEM_TABLE, P.memTablePayload([{ guestPhysAddr: 0n, memorySize: 4096n, userspaceAddr: 0n, mmapOffset: 0n }])), /one region/],
        ['memory table larger than its memfd', (f) => f.set(P.VHOST_USER_SET_MEM_TABLE, P.memTablePayload([{ guestPhysAddr: 0n, memorySize: 64n << 20n, userspaceAddr: 0n, mmapOffset: 0n }]), [t.memory.region!.fd]), /holds only/],
        ['a call fd that is not an eventfd', (f) => f.set(P.VHOST_USER_SET_VRING_CALL, P.u64Payload(0n), [t.memory.region!.fd]), /not an eventfd/],
        ['unknown features acked', (f) => f.set(P.VHOST_USER_SET_FEATURES, P.u64Payload(1n << 40n)), /did not offer/],
        ['unsupported request', (f) => f.set(40), /not supported/],
      ];
      for (const [what, send, why] of cases) {
        const fe2 = await VhostUserFrontend.connect(t.path);
        await assert.rejects(send(fe2), (e: VhostUserError) => e.code === 'ERR_BACKEND_VHOST_USER_BACKEND_FAILED' || e.code === 'ERR_BACKEND_VHOST_USER_DISCONNECTED', what);
        await until(`the session to end after: ${what}`, () => !t.server.serving);
        assert.ok(t.logs.some((l) => why.test(l)), `${what}: logged why (${t.logs.slice(-2).join(' | ')})`);
        fe2.close();
      }
      for (let i = 0; i < 10; i++) await tick();
      assert.equal(fds(), fdsBefore, 'every fd the hostile frontends sent was closed');
      // Still serving: a frontend that behaves gets a working session.
      const ok = await VhostUserFrontend.connect(t.path);
      assert.equal(ok.queueNum, 1);
      ok.close();
    } finally {
      t.close();
    }
  });

  it('a batch: written goes on where QEMU would, applied waits for the ack of its last message, and a refusal in its middle fails applied', async () => {
    const t = await setup(1);
    try {
      t.backend.close();
      await until('the device session to end', () => !t.server.serving);
      const fe = await VhostUserFrontend.connect(t.path);
      const num = (index: number, n: number) => ({ request: P.VHOST_USER_SET_VRING_NUM, payload: P.vringStatePayload({ index, num: n }) });
      const ok = fe.batch([num(0, 256), num(1, 256)]);
      await ok.written; // nothing in it QEMU would wait for
      await ok.applied;
      const bad = fe.batch([num(0, 256), num(7, 256), num(1, 256)]);
      await bad.written;
      await assert.rejects(bad.applied, (e: VhostUserError) => e.code === 'ERR_BACKEND_VHOST_USER_DISCONNECTED');
      assert.ok(t.logs.some((l) => /ring 7, the backend has 2/.test(l)));
      // The connection is gone: a new batch is refused at once.
      assert.throws(() => fe.batch([num(0, 256)]), (e: VhostUserError) => e.code === 'ERR_BACKEND_VHOST_USER_DISCONNECTED');
      fe.close();
    } finally {
      t.close();
    }
  });

  it('a backend that cannot log dirty pages blocks migration (QEMU: "vhost lacks VHOST_F_LOG_ALL")', async () => {
    // A minimal backend in the test: it offers VERSION_1 only, no LOG_ALL, no protocol features.
    const path = join(dir, `nolog${n++}.sock`);
    const listener = UnixListener.listen(path);
    const memory = GuestMemory.create(1 << 20, 'vu-nolog');
    const poll = setInterval(() => {
      const sock = listener.accept();
      if (!sock) return;
      const conn = new VhostUserConnection(sock, {
        message: (m) => {
          if (m.request === P.VHOST_USER_GET_FEATURES) conn.send(m.request, P.u64Payload(1n << 32n), [], P.VHOST_USER_VERSION | P.VHOST_USER_REPLY_MASK);
        },
        closed: () => undefined,
      });
    }, 5);
    try {
      const backend = await VhostUserBackend.connect(path, memory, 1);
      assert.match(backend.migrationBlocker ?? '', /Migration disabled: the vhost-user backend at .* lacks VHOST_F_LOG_ALL/);
      backend.close();
    } finally {
      clearInterval(poll);
      listener.close();
      memory.close();
    }
  });

  it('a backend that never answers is ERR_BACKEND_VHOST_USER_TIMEOUT, not a hang', async () => {
    const path = join(dir, `mute${n++}.sock`);
    const listener = UnixListener.listen(path);
    try {
      await assert.rejects(VhostUserFrontend.connect(path, { timeoutMs: 100 }), (e: VhostUserError) => e.code === 'ERR_BACKEND_VHOST_USER_TIMEOUT' && /GET_FEATURES/.test(e.message));
    } finally {
      listener.close();
    }
  });

  it('a backend that hangs up fails what waits with ERR_BACKEND_VHOST_USER_DISCONNECTED and tells the device', async () => {
    const t = await setup(1);
    try {
      t.h.start();
      await until('running', () => t.backend.running);
      t.server.close();
      await assert.rejects(t.h.device.stopDatapath(), (e: VhostUserError) => e.code === 'ERR_BACKEND_VHOST_USER_DISCONNECTED');
      assert.ok(t.h.errors.some((e) => /hung up|connection|peer is gone/.test(e.message)), t.h.errors.map((e) => e.message).join(' | '));
    } finally {
      t.close();
    }
  });
});
