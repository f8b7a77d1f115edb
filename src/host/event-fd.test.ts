import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { throwsCode } from '../../test/support/host-testing.js';
import { EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE, EVENTFD_MAX, EventFd, MemfdRegion, hostPageSize } from './index.js';
import { native } from './native.js';

/** The open-file flags of one of our fds (octal in /proc/self/fdinfo). */
function fdFlags(fd: number): number {
  const match = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  assert.ok(match, `no flags for fd ${fd}`);
  return parseInt(match[1]!, 8);
}

const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

describe('EventFd', () => {
  it('defines the EFD_* constants as the kernel headers do', () => {
    const c = native().hostConstants();
    assert.deepEqual([EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE], [c['EFD_CLOEXEC'], c['EFD_NONBLOCK'], c['EFD_SEMAPHORE']]);
  });

  it('counts writes, and a read takes the count (0n when there is none, without blocking)', () => {
    const efd = EventFd.create();
    try {
      assert.equal(efd.read(), 0n);
      assert.equal(efd.write(), true);
      assert.equal(efd.write(5n), true);
      assert.equal(efd.read(), 6n);
      assert.equal(efd.read(), 0n);
      const flags = fdFlags(efd.fd);
      assert.ok(flags & O_NONBLOCK && flags & O_CLOEXEC, `flags ${flags.toString(8)}`);
    } finally {
      efd.close();
    }
  });

  it('starts at initval, and in semaphore mode takes one per read', () => {
    const efd = EventFd.create({ initval: 3, semaphore: true });
    try {
      assert.deepEqual([efd.read(), efd.read(), efd.read(), efd.read()], [1n, 1n, 1n, 0n]);
    } finally {
      efd.close();
    }
  });

  it('refuses a write that would overflow the counter, leaving it unchanged', () => {
    const efd = EventFd.create({ initval: 1 });
    try {
      assert.equal(efd.write(EVENTFD_MAX), false, 'EAGAIN: 1 + max overflows');
      assert.equal(efd.read(), 1n);
      assert.equal(efd.write(EVENTFD_MAX), true);
      assert.equal(efd.write(1n), false);
      assert.equal(efd.read(), EVENTFD_MAX);
      // The raw addon says the same with -1.
      assert.equal(native().eventfdRead(efd.fd), -1);
    } finally {
      efd.close();
    }
  });

  it('validates values and options with typed errors', () => {
    const efd = EventFd.create();
    try {
      throwsCode(() => efd.write(EVENTFD_MAX + 1n), 'ERR_HOST_OUT_OF_RANGE');
      throwsCode(() => efd.write(-1n), 'ERR_HOST_OUT_OF_RANGE');
      throwsCode(() => efd.write(1 as unknown as bigint), 'ERR_HOST_INVALID_ARG_TYPE');
    } finally {
      efd.close();
    }
    throwsCode(() => EventFd.create({ initval: -1 }), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(() => EventFd.create({ initval: 2 ** 32 }), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(() => EventFd.create({ semaphore: 1 as unknown as boolean }), 'ERR_HOST_INVALID_ARG_TYPE');
    throwsCode(() => native().eventfdCreate(0, 0x10), 'ERR_HOST_OUT_OF_RANGE');
  });

  it('refuses use after close, and closes once', () => {
    const efd = EventFd.create();
    efd.close();
    efd.close();
    assert.equal(efd.closed, true);
    throwsCode(() => efd.read(), 'ERR_HOST_FD_CLOSED');
    throwsCode(() => efd.write(), 'ERR_HOST_FD_CLOSED');
    throwsCode(() => efd.fd, 'ERR_HOST_FD_CLOSED');
  });

  it('adopts an eventfd made elsewhere, making it non-blocking, and refuses other fds', () => {
    // Blocking, as a peer might send it: a read of it must still not block us.
    const fd = native().eventfdCreate(0, EFD_CLOEXEC);
    assert.equal(fdFlags(fd) & O_NONBLOCK, 0);
    const efd = EventFd.adopt(fd);
    try {
      assert.ok(fdFlags(fd) & O_NONBLOCK);
      assert.equal(efd.read(), 0n);
    } finally {
      efd.close();
    }
    const region = MemfdRegion.create(`vmig-test-${process.pid}-adopt`, hostPageSize());
    try {
      const err = throwsCode(() => EventFd.adopt(region.fd), 'ERR_HOST_WRONG_FD_TYPE');
      assert.match(err.message, /memfd/);
    } finally {
      region.close();
    }
    throwsCode(() => EventFd.adopt(1 << 30), 'ERR_HOST_WRONG_FD_TYPE');
  });
});
