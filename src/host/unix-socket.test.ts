import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import { throwsCode } from '../../test/support/host-testing.js';
import { EventFd, FdPoller, MemfdRegion, POLL_READABLE, SCM_MAX_FD, UnixListener, UnixSocket, hostPageSize } from './index.js';
import type { UnixMessage } from './index.js';
import { native } from './native.js';

const O_CLOEXEC = 0o2000000;
const text = (s: string) => new TextEncoder().encode(s);

function fdFlags(fd: number): number {
  return parseInt(/^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
}

function withPair(body: (a: UnixSocket, b: UnixSocket) => Promise<void> | void) {
  return async () => {
    const [a, b] = UnixSocket.pair();
    try {
      await body(a, b);
    } finally {
      a.close();
      b.close();
    }
  };
}

/** Waits (with a poller, as real code does) for the next message on `socket`. */
function receive(socket: UnixSocket, maxBytes: number, maxFds: number): Promise<UnixMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      poller.stop();
      reject(new Error('no message within 3 s'));
    }, 3000);
    const poller = FdPoller.start(socket.fd, POLL_READABLE, () => {
      const message = socket.recv(maxBytes, maxFds);
      if (message === null) return;
      poller.stop();
      clearTimeout(timer);
      resolve(message);
    });
  });
}

describe('UnixSocket (SCM_RIGHTS)', () => {
  const page = hostPageSize();

  it('defines SCM_MAX_FD as the addon does', () => {
    assert.equal(SCM_MAX_FD, native().hostConstants()['SCM_MAX_FD']);
  });

  it(
    'passes an eventfd and a memfd: the receiver signals through one and shares memory through the other',
    withPair(async (a, b) => {
      const efd = EventFd.create();
      const region = MemfdRegion.create(`vmig-test-${process.pid}-scm`, 4 * page);
      try {
        new Uint8Array(region.buffer).set([0xaa, 0xbb], page);
        const pending = receive(b, 64, 8);
        assert.equal(a.send(text('SET_MEM_TABLE'), [efd.fd, region.fd]), 13);
        const message = await pending;

        assert.equal(new TextDecoder().decode(message.bytes), 'SET_MEM_TABLE');
        assert.equal(message.fdsTruncated, false);
        assert.equal(message.fds.length, 2);
        const [gotEventFd, gotMemfd] = message.fds as [number, number];
        assert.ok(gotEventFd !== efd.fd && gotMemfd !== region.fd, 'new fds in the receiver');
        assert.ok(fdFlags(gotEventFd) & O_CLOEXEC && fdFlags(gotMemfd) & O_CLOEXEC, 'received close-on-exec');
        assert.match(readlinkSync(`/proc/self/fd/${gotMemfd}`), new RegExp(`^/memfd:${region.name} `));

        const theirs = EventFd.adopt(gotEventFd);
        try {
          assert.equal(theirs.write(42n), true);
          assert.equal(efd.read(), 42n, 'a write through the received fd reaches the original counter');
        } finally {
          theirs.close();
        }

        // Map the received memfd as a vhost-user backend would: same pages.
        const mapped = new Uint8Array(native().mapShared(gotMemfd, 4 * page));
        native().closeFd(gotMemfd); // the mapping stays
        assert.deepEqual([...mapped.subarray(page, page + 2)], [0xaa, 0xbb]);
        mapped[3 * page + 5] = 0x5a;
        assert.equal(new Uint8Array(region.buffer)[3 * page + 5], 0x5a);
      } finally {
        efd.close();
        region.close();
      }
    }),
  );

  it(
    'returns null when nothing is pending, and empty bytes once the peer closed',
    withPair((a, b) => {
      assert.equal(b.recv(), null);
      assert.equal(a.send(text('x')), 1);
      assert.deepEqual(b.recv(), { bytes: text('x'), fds: [], fdsTruncated: false });
      a.close();
      assert.deepEqual(b.recv(16, 4), { bytes: new Uint8Array(0), fds: [], fdsTruncated: false });
    }),
  );

  it(
    'flags fds beyond maxFds as truncated (the kernel closes them)',
    withPair((a, b) => {
      const efds = [EventFd.create(), EventFd.create(), EventFd.create()];
      const openFds = () => readdirSync('/proc/self/fd').length;
      try {
        const fds = efds.map((e) => e.fd);
        const before = openFds();
        assert.equal(a.send(text('1'), fds), 1);
        const one = b.recv(16, 1);
        assert.ok(one !== null);
        assert.deepEqual([one.fds.length, one.fdsTruncated], [1, true]);
        native().closeFd(one.fds[0]!);
        assert.equal(a.send(text('2'), fds), 1);
        assert.deepEqual(b.recv(16, 0), { bytes: text('2'), fds: [], fdsTruncated: true });
        assert.equal(a.send(text('3'), fds.slice(0, 1)), 1);
        const exact = b.recv(16, 1);
        assert.deepEqual([exact?.fds.length, exact?.fdsTruncated], [1, false]);
        native().closeFd(exact!.fds[0]!);
        assert.equal(openFds(), before, 'no received fd is left open');
      } finally {
        for (const e of efds) e.close();
      }
    }),
  );

  it(
    'reports a full socket buffer as -1, and a gone peer as EPIPE',
    withPair((a, b) => {
      const chunk = new Uint8Array(64 * 1024);
      let sent = 0;
      let n = 0;
      for (let i = 0; i < 1000 && (n = a.send(chunk)) >= 0; i++) sent += n;
      assert.equal(n, -1);
      assert.ok(sent > 0);
      b.close();
      const err = throwsCode(() => a.send(chunk), 'ERR_HOST_SYSCALL_FAILED');
      assert.ok(['EPIPE', 'ECONNRESET'].includes(err.details['errnoName'] as string), String(err.details['errnoName']));
    }),
  );

  it(
    'validates what it sends with typed errors',
    withPair((a) => {
      const efd = EventFd.create();
      try {
        throwsCode(() => a.send(text('x'), new Array<number>(SCM_MAX_FD + 1).fill(efd.fd)), 'ERR_HOST_OUT_OF_RANGE');
        throwsCode(() => a.send(new Uint8Array(0), [efd.fd]), 'ERR_HOST_OUT_OF_RANGE');
        throwsCode(() => a.send(text('x'), [-1]), 'ERR_HOST_OUT_OF_RANGE');
        throwsCode(() => a.send(text('x'), 3 as unknown as number[]), 'ERR_HOST_INVALID_ARG_TYPE');
        throwsCode(() => a.send('x' as unknown as Uint8Array), 'ERR_HOST_INVALID_ARG_TYPE');
        throwsCode(() => a.recv(0), 'ERR_HOST_OUT_OF_RANGE');
        throwsCode(() => a.recv(16, SCM_MAX_FD + 1), 'ERR_HOST_OUT_OF_RANGE');
        const closedFd = native().eventfdCreate(0, 0);
        native().closeFd(closedFd);
        const err = throwsCode(() => a.send(text('x'), [closedFd]), 'ERR_HOST_SYSCALL_FAILED');
        assert.equal(err.details['errnoName'], 'EBADF');
        assert.equal(SCM_MAX_FD, 253);
        assert.equal(a.send(text('x'), new Array<number>(SCM_MAX_FD).fill(efd.fd)), 1, 'exactly SCM_MAX_FD is fine');
      } finally {
        efd.close();
      }
      a.close();
      throwsCode(() => a.send(text('x')), 'ERR_HOST_FD_CLOSED');
      throwsCode(() => a.recv(), 'ERR_HOST_FD_CLOSED');
    }),
  );
});

describe('UnixListener', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmig-unix-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a connection that then carries messages and fds both ways', async () => {
    const path = join(dir, 'backend.sock');
    const listener = UnixListener.listen(path);
    const sockets: UnixSocket[] = [];
    try {
      assert.equal(listener.accept(), null, 'nobody connected yet');
      const client = UnixSocket.connect(path);
      sockets.push(client);
      const accepted = await new Promise<UnixSocket>((resolve) => {
        const poller = FdPoller.start(listener.fd, POLL_READABLE, () => {
          const socket = listener.accept();
          if (socket === null) return;
          poller.stop();
          resolve(socket);
        });
      });
      sockets.push(accepted);

      const efd = EventFd.create();
      try {
        assert.equal(client.send(text('hello'), [efd.fd]), 5);
        const request = await receive(accepted, 64, 4);
        assert.equal(new TextDecoder().decode(request.bytes), 'hello');
        const kick = EventFd.adopt(request.fds[0]!);
        kick.write(1n);
        kick.close();
        assert.equal(efd.read(), 1n);
        assert.equal(accepted.send(text('reply')), 5);
        assert.equal(new TextDecoder().decode((await receive(client, 64, 0)).bytes), 'reply');
      } finally {
        efd.close();
      }
    } finally {
      for (const s of sockets) s.close();
      listener.close();
      listener.close();
    }
    assert.equal(existsSync(path), false, 'close() removes its socket file');
    throwsCode(() => listener.accept(), 'ERR_HOST_FD_CLOSED');
  });

  it('never replaces an existing file, and names the path in errors', () => {
    const path = join(dir, 'taken');
    writeFileSync(path, 'not a socket');
    const err = throwsCode(() => UnixListener.listen(path), 'ERR_HOST_SYSCALL_FAILED');
    assert.equal(err.details['errnoName'], 'EADDRINUSE');
    assert.equal(err.details['path'], path);
    assert.match(err.message, /cannot listen on unix socket .*taken: bind failed: EADDRINUSE/);
    assert.equal(readFileSync(path, 'utf8'), 'not a socket');
  });

  it('leaves alone a socket file that is no longer its own', () => {
    const path = join(dir, 'replaced.sock');
    const first = UnixListener.listen(path);
    rmSync(path);
    const second = UnixListener.listen(path);
    try {
      first.close();
      assert.equal(existsSync(path), true, "the first listener must not remove the second's file");
    } finally {
      second.close();
    }
    assert.equal(existsSync(path), false);
  });

  it('refuses to connect where nobody listens, and over-long paths', async () => {
    const err = throwsCode(() => UnixSocket.connect(join(dir, 'nobody.sock')), 'ERR_HOST_SYSCALL_FAILED');
    assert.equal(err.details['errnoName'], 'ENOENT');
    assert.equal(err.details['syscall'], 'connect');
    const stale = UnixListener.listen(join(dir, 'stale.sock'));
    // Closing the fd without unlinking leaves a file with no listener: ECONNREFUSED.
    native().closeFd(stale.fd);
    await delay(1);
    const refused = throwsCode(() => UnixSocket.connect(stale.path), 'ERR_HOST_SYSCALL_FAILED');
    assert.equal(refused.details['errnoName'], 'ECONNREFUSED');
    rmSync(stale.path);
    throwsCode(() => UnixSocket.connect('/tmp/' + 'x'.repeat(110)), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(() => UnixSocket.connect(''), 'ERR_HOST_OUT_OF_RANGE');
    throwsCode(() => UnixListener.listen(join(dir, 'b.sock'), { backlog: 0 }), 'ERR_HOST_OUT_OF_RANGE');
  });
});
