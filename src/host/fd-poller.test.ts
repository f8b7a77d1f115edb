import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';

import { VmigError } from '../core/index.js';
import { hostIndexUrl, runNodeModule, throwsCode } from '../../test/support/host-testing.js';
import { EventFd, FdPoller, POLL_DISCONNECT, POLL_PRIORITIZED, POLL_READABLE, POLL_WRITABLE, UnixSocket } from './index.js';
import { native } from './native.js';

/** Resolves when `check()` holds, polling every few ms; rejects after `ms`. */
async function until(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(2);
  }
}

function withEventFd(body: (efd: EventFd) => Promise<void> | void) {
  return async () => {
    const efd = EventFd.create();
    try {
      await body(efd);
    } finally {
      efd.close();
    }
  };
}

describe('FdPoller', () => {
  it('defines the POLL_* constants as libuv does', () => {
    const c = native().hostConstants();
    assert.deepEqual(
      [POLL_READABLE, POLL_WRITABLE, POLL_DISCONNECT, POLL_PRIORITIZED],
      [c['UV_READABLE'], c['UV_WRITABLE'], c['UV_DISCONNECT'], c['UV_PRIORITIZED']],
    );
  });

  it(
    'calls back when the fd becomes readable, and again while it stays readable',
    withEventFd(async (efd) => {
      const seen: Array<[number, VmigError | undefined]> = [];
      let drain = false;
      const poller = FdPoller.start(efd.fd, POLL_READABLE, (events, error) => {
        seen.push([events, error]);
        if (drain) efd.read();
      });
      try {
        assert.equal(poller.active, true);
        assert.equal(poller.events, POLL_READABLE);
        await delay(20);
        assert.equal(seen.length, 0, 'not readable yet');
        setTimeout(() => efd.write(3n), 5);
        await until(() => seen.length >= 2, 'two callbacks while the count is not read');
        assert.deepEqual(seen[0], [POLL_READABLE, undefined]);
        drain = true;
        await until(() => efd.read() === 0n && seen.length > 2, 'a draining callback');
        const settled = seen.length;
        await delay(20);
        assert.equal(seen.length, settled, 'no more callbacks once drained');
      } finally {
        poller.stop();
      }
    }),
  );

  it(
    'runs the callback like any event: nextTicks and microtasks after it, before the next phase',
    withEventFd(async (efd) => {
      const order: string[] = [];
      const poller = FdPoller.start(efd.fd, POLL_READABLE, () => {
        efd.read();
        order.push('callback');
        setImmediate(() => order.push('immediate'));
        void Promise.resolve().then(() => order.push('microtask'));
        process.nextTick(() => order.push('tick'));
      });
      try {
        efd.write();
        await until(() => order.includes('immediate'), 'the immediate');
        assert.deepEqual(order, ['callback', 'tick', 'microtask', 'immediate']);
      } finally {
        poller.stop();
      }
    }),
  );

  it(
    'stops for good, also from inside its own callback',
    withEventFd(async (efd) => {
      let calls = 0;
      const poller = FdPoller.start(efd.fd, POLL_READABLE, () => {
        calls++;
        poller.stop();
        poller.stop(); // idempotent, even here
        assert.equal(poller.active, false);
      });
      efd.write();
      await until(() => calls === 1, 'the first callback');
      efd.write(); // still readable, and written again: no callback may follow
      await delay(30);
      assert.equal(calls, 1);
      throwsCode(() => poller.update(POLL_READABLE), 'ERR_HOST_POLLER_STOPPED');
      poller.ref().unref(); // harmless on a stopped poller
      // The fd is free for a new poller on this thread.
      const again = FdPoller.start(efd.fd, POLL_READABLE, () => {
        calls++;
        efd.read();
      });
      try {
        await until(() => calls === 2, 'a new poller on the same fd');
      } finally {
        again.stop();
      }
    }),
  );

  it(
    'changes what it waits for with update(), and pauses with 0',
    withEventFd(async (efd) => {
      const seen: number[] = [];
      const poller = FdPoller.start(efd.fd, 0, (events) => seen.push(events));
      try {
        efd.write();
        await delay(20);
        assert.deepEqual(seen, [], 'started paused');
        poller.update(POLL_WRITABLE); // an eventfd far from overflow is writable
        await until(() => seen.length > 0, 'writable');
        assert.equal(seen[0]! & POLL_WRITABLE, POLL_WRITABLE);
        poller.update(0);
        seen.length = 0;
        await delay(20);
        assert.deepEqual(seen, []);
        assert.equal(poller.events, 0);
      } finally {
        poller.stop();
      }
    }),
  );

  it('reports an error condition on the fd once, then is stopped', async () => {
    // A unix socket closed with unread data resets its peer: POLLERR there.
    const [a, b] = UnixSocket.pair();
    try {
      assert.equal(b.send(new Uint8Array([1, 2, 3])), 3);
      const seen: Array<[number, VmigError | undefined]> = [];
      const poller = FdPoller.start(b.fd, POLL_READABLE, (events, error) => seen.push([events, error]));
      a.close();
      await until(() => seen.length > 0, 'the error callback');
      await delay(20);
      assert.equal(seen.length, 1);
      const [events, error] = seen[0]!;
      assert.equal(events, 0);
      assert.ok(error instanceof VmigError);
      assert.equal(error.code, 'ERR_HOST_SYSCALL_FAILED');
      assert.equal(error.details['syscall'], 'uv_poll');
      assert.equal(error.details['errnoName'], 'EBADF');
      assert.equal(poller.active, false);
    } finally {
      a.close();
      b.close();
    }
  });

  it(
    'refuses a second poller on the same fd, bad events and bad callbacks',
    withEventFd((efd) => {
      const poller = FdPoller.start(efd.fd, POLL_READABLE, () => {});
      try {
        const err = throwsCode(() => FdPoller.start(efd.fd, POLL_READABLE, () => {}), 'ERR_HOST_SYSCALL_FAILED');
        assert.equal(err.details['errnoName'], 'EEXIST');
        throwsCode(() => poller.update(16), 'ERR_HOST_OUT_OF_RANGE');
        throwsCode(() => poller.update('1' as unknown as number), 'ERR_HOST_INVALID_ARG_TYPE');
      } finally {
        poller.stop();
      }
      throwsCode(() => FdPoller.start(efd.fd, 1.5, () => {}), 'ERR_HOST_OUT_OF_RANGE');
      throwsCode(() => FdPoller.start(efd.fd, POLL_READABLE, 'f' as unknown as () => void), 'ERR_HOST_INVALID_ARG_TYPE');
      throwsCode(() => FdPoller.start(-1, POLL_READABLE, () => {}), 'ERR_HOST_OUT_OF_RANGE');
      // The raw handle functions check that they got one of their handles.
      throwsCode(() => native().pollStop({}), 'ERR_HOST_INVALID_ARG_TYPE');
      throwsCode(() => native().pollUpdate(new Uint8Array(1), 1), 'ERR_HOST_INVALID_ARG_TYPE');
    }),
  );

  it(
    'wakes the main thread when a worker signals, and polls inside a worker too',
    { timeout: 20_000 },
    withEventFd(async (toMain) => {
      const toWorker = EventFd.create();
      const code = `
        const { parentPort, workerData } = require('node:worker_threads');
        import(workerData.hostIndexUrl).then(({ EventFd, FdPoller, POLL_READABLE }) => {
          const toWorker = EventFd.adopt(workerData.toWorkerFd);
          const toMain = EventFd.adopt(workerData.toMainFd);
          // A poller that is never stopped: worker teardown must close it.
          FdPoller.start(toWorker.fd, POLL_READABLE, () => parentPort.postMessage({ got: String(toWorker.read()) }));
          parentPort.postMessage({ ready: true });
          parentPort.on('message', () => toMain.write(7n));
        });`;
      // The worker adopts dups it can own and close, not our fds.
      const [toWorkerFd, toMainFd] = [dupFd(toWorker.fd), dupFd(toMain.fd)];
      const worker = new Worker(code, { eval: true, workerData: { hostIndexUrl, toWorkerFd, toMainFd } });
      const messages: unknown[] = [];
      worker.on('message', (m) => messages.push(m));
      const errors: unknown[] = [];
      worker.on('error', (e) => errors.push(e));
      let mainWakeups = 0;
      const poller = FdPoller.start(toMain.fd, POLL_READABLE, () => {
        mainWakeups++;
        assert.equal(toMain.read(), 7n);
      });
      try {
        await until(() => messages.length > 0, 'the worker to start', 10_000);
        toWorker.write(5n);
        await until(() => messages.length > 1, 'the worker poller');
        assert.deepEqual(messages[1], { got: '5' });
        worker.postMessage('signal');
        await until(() => mainWakeups === 1, 'the main poller');
      } finally {
        poller.stop();
        const exitCode = await worker.terminate();
        assert.equal(exitCode, 1, 'terminated (not crashed)');
        assert.deepEqual(errors, []);
        toWorker.close();
        // fds belong to the process: the worker's outlive it.
        native().closeFd(toWorkerFd);
        native().closeFd(toMainFd);
      }
    }),
  );
});

describe('FdPoller in a process of its own', () => {
  const prelude = `
    import { EventFd, FdPoller, POLL_READABLE } from ${JSON.stringify(hostIndexUrl)};
    const efd = EventFd.create();
  `;

  it('keeps the process alive while active, and lets it exit once stopped inside its callback', async () => {
    const result = await runNodeModule(`${prelude}
      let calls = 0;
      const poller = FdPoller.start(efd.fd, POLL_READABLE, () => {
        calls++;
        efd.read();
        poller.stop();
        console.log('stopped after ' + calls);
      });
      // Unref'd: only the poller can keep the process alive until this fires.
      setTimeout(() => efd.write(), 100).unref();
    `);
    assert.equal(result.stderr, '');
    assert.deepEqual([result.status, result.signal, result.stdout], [0, null, 'stopped after 1\n']);
  });

  it('lets the process exit with an active poller that was unref()ed', async () => {
    const result = await runNodeModule(`${prelude}
      FdPoller.start(efd.fd, POLL_READABLE, () => {}).unref();
      console.log('end of script');
    `);
    assert.deepEqual([result.status, result.signal, result.stdout, result.stderr], [0, null, 'end of script\n', '']);
  });

  it('turns an exception in the callback into an ordinary uncaught exception', async () => {
    const result = await runNodeModule(`${prelude}
      FdPoller.start(efd.fd, POLL_READABLE, () => { throw new Error('boom from the poll callback'); });
      efd.write();
    `);
    assert.equal(result.signal, null, 'no crash');
    assert.equal(result.status, 1);
    assert.match(result.stderr, /Error: boom from the poll callback\n\s+at /);
  });

  it("delivers it to 'uncaughtException' handlers, and the poller keeps working", async () => {
    const result = await runNodeModule(`${prelude}
      let calls = 0;
      const poller = FdPoller.start(efd.fd, POLL_READABLE, () => {
        efd.read();
        calls++;
        throw new Error('boom ' + calls);
      });
      process.on('uncaughtException', (err) => {
        console.log('caught ' + err.message);
        if (calls < 2) efd.write(); else poller.stop();
      });
      efd.write();
    `);
    assert.deepEqual([result.status, result.stdout, result.stderr], [0, 'caught boom 1\ncaught boom 2\n', '']);
  });
});

/**
 * A second fd for the same open file, made by passing `fd` over a socketpair
 * (the addon has no dup(2): nothing in vmig needs one).
 */
function dupFd(fd: number): number {
  const [a, b] = UnixSocket.pair();
  try {
    assert.equal(a.send(new Uint8Array([0]), [fd]), 1);
    const message = b.recv(1, 1);
    assert.ok(message !== null && message.fds.length === 1);
    return message.fds[0]!;
  } finally {
    a.close();
    b.close();
  }
}
