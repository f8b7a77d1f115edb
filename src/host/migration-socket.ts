/**
 * The byte channels a migration runs over (QEMU's `tcp:`, `unix:` and `file:`
 * URIs). Sockets are full duplex: the destination's replies on the same
 * connection are the return path. Writes report backpressure so a sender can
 * pace itself (max-bandwidth) without buffering a whole guest in the socket.
 *
 * This file is the only place that opens them, so the migration layer stays
 * free of node:net and node:fs.
 */

import { closeSync, createReadStream, fsyncSync, openSync, writeSync } from 'node:fs';
import { Socket, createConnection, createServer } from 'node:net';
import type { OnReadOpts as NodeOnReadOpts, Server, SocketConstructorOpts } from 'node:net';

type OnReadOpts = { onread: NodeOnReadOpts };

import { VmigError } from '../core/index.js';
import { native } from './native.js';
import { UNIX_SOCKET_PATH_MAX } from './unix-stream-server.js';

export type MigrationEndpoint = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export interface MigrationLinkHandlers {
  onData(chunk: Uint8Array): void;
  /** Exactly once: the peer closed (no error), or the link failed. */
  onClose(error?: Error): void;
}

/** One end of a migration channel. */
export interface MigrationLink {
  /** For messages: `tcp:10.0.0.1:4444`, `unix:/run/x.sock`, `file:/tmp/vm.mig`. */
  readonly peer: string;
  readonly closed: boolean;
  /** Bytes accepted by write() and not yet handed to the kernel. */
  readonly queuedBytes: number;
  /**
   * Queue bytes; returns false when the caller should wait for drained(). The
   * data must not be modified until `flushed` runs (it has then reached the
   * kernel, so the caller may reuse the buffer). `flushed` does not run when
   * the link fails first.
   */
  write(chunk: Uint8Array, flushed?: () => void): boolean;
  /** Resolves when the queue has drained (at once if it is empty), or the link closed. */
  drained(): Promise<void>;
  /** Flush everything written, then close our direction; resolves when flushed. */
  end(): Promise<void>;
  /** Close at once, dropping unsent data. */
  destroy(): void;
}

export interface MigrationListener {
  /** Where it listens, as a URI (`tcp:` with the actual port when 0 was asked). */
  readonly uri: string;
  close(): Promise<void>;
}

function linkError(code: string, message: string, err: NodeJS.ErrnoException, peer: string): VmigError {
  return new VmigError(code, `${message}: ${err.code ?? err.message}`, { cause: err, details: { peer, errno: err.code } });
}

/**
 * `socket` delivers through 'data' events, unless it was built by
 * withReceiveBuffer — then through the `receive` slot it fills in.
 */
function wrap(socket: Socket, peer: string, handlers: MigrationLinkHandlers, receive?: { deliver?: (chunk: Uint8Array) => void }): MigrationLink {
  let closed = false;
  let failure: Error | undefined;
  socket.setNoDelay?.(true);
  const deliver = (chunk: Uint8Array) => {
    if (!closed) handlers.onData(chunk);
  };
  if (receive) receive.deliver = deliver;
  else socket.on('data', (chunk: Buffer) => deliver(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
  socket.on('error', (err) => {
    failure ??= linkError('ERR_HOST_MIGRATION_LINK_FAILED', `Migration channel ${peer} failed`, err, peer);
  });
  socket.on('close', () => {
    closed = true;
    handlers.onClose(failure);
  });
  return {
    peer,
    get closed() {
      return closed || socket.destroyed;
    },
    get queuedBytes() {
      return socket.writableLength;
    },
    write(chunk, flushed) {
      if (closed || socket.destroyed || !socket.writable) return true;
      return socket.write(chunk, flushed && ((err) => void (err ? undefined : flushed())));
    },
    drained() {
      if (closed || socket.destroyed || socket.writableLength === 0) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.once('drain', done);
        socket.once('close', done);
      });
    },
    end() {
      if (closed || socket.destroyed) return Promise.resolve();
      return new Promise((resolve) => socket.end(() => resolve()));
    },
    destroy() {
      socket.destroy();
    },
  };
}

function endpointText(e: MigrationEndpoint): string {
  return e.kind === 'tcp' ? `tcp:${e.host}:${e.port}` : `unix:${e.path}`;
}

function checkUnixPath(path: string): void {
  if (Buffer.byteLength(path) > UNIX_SOCKET_PATH_MAX) {
    throw new VmigError('ERR_HOST_SOCKET_PATH_TOO_LONG', `Unix socket path ${path} is longer than ${UNIX_SOCKET_PATH_MAX} bytes; use a shorter path (for example under /tmp)`, { details: { path } });
  }
}

/**
 * Connect to a destination that is listening.
 * @throws VmigError ERR_HOST_MIGRATION_CONNECT_FAILED
 */
export async function connectMigration(to: MigrationEndpoint, handlers: MigrationLinkHandlers): Promise<MigrationLink> {
  if (to.kind === 'unix') checkUnixPath(to.path);
  const peer = endpointText(to);
  const socket = to.kind === 'tcp' ? createConnection({ host: to.host, port: to.port }) : createConnection({ path: to.path });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(linkError('ERR_HOST_MIGRATION_CONNECT_FAILED', `Cannot connect to the migration destination ${peer}`, err, peer));
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve();
    });
  });
  return wrap(socket, peer, handlers);
}

/** What the destination reads per call, into one buffer it reuses. */
const RECEIVE_BUFFER_BYTES = 1 << 20;

/**
 * The accepted socket, re-wrapped so that reads land in one reused buffer.
 * Node otherwise hands over every read as a fresh 64 KiB buffer: a guest's
 * hundreds of MiB become thousands of them, external memory that V8 answers
 * with major collections (multi-millisecond stops of the thread that must
 * run the switchover), and the last batch before EOF arrives in several
 * reads instead of one. Node takes a caller's read buffer (`onread`) only
 * for sockets it constructs, so the accepted socket's fd is duplicated into
 * one and the original is closed (the connection lives on in the duplicate).
 * Where the fd is not reachable the accepted socket is used as it is.
 *
 * `onData` gets a view of the buffer: it must be consumed before returning.
 */
function withReceiveBuffer(socket: Socket, onData: (chunk: Uint8Array) => void): Socket {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return socket;
  let dup: number;
  try {
    dup = native().dupFd(fd);
  } catch {
    return socket;
  }
  const buffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
  // Node 20 supports `onread` here (net.md, "new net.Socket"); @types/node lists it only for connect().
  const options: SocketConstructorOpts & OnReadOpts = {
    fd: dup,
    readable: true,
    writable: true,
    onread: {
      buffer,
      callback: (n: number, buf: Uint8Array) => {
        onData(buf.subarray(0, n));
        return true;
      },
    },
  };
  const adopted = new Socket(options);
  adopted.pause();
  socket.destroy();
  return adopted;
}

/**
 * Listen for the one incoming migration (QEMU accepts a single connection).
 * Further connections are refused while one is open.
 * @throws VmigError ERR_HOST_MIGRATION_LISTEN_FAILED
 */
export async function listenMigration(on: MigrationEndpoint, onConnection: (link: MigrationLink) => MigrationLinkHandlers): Promise<MigrationListener> {
  if (on.kind === 'unix') checkUnixPath(on.path);
  let active: Socket | undefined;
  const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    if (active) {
      socket.destroy();
      return;
    }
    const peer = on.kind === 'tcp' ? `tcp:${socket.remoteAddress}:${socket.remotePort}` : `unix:${on.path}`;
    const receive: { deliver?: (chunk: Uint8Array) => void } = {};
    const adopted = withReceiveBuffer(socket, (chunk) => receive.deliver?.(chunk));
    active = adopted;
    const handlers: MigrationLinkHandlers = { onData: () => undefined, onClose: () => undefined };
    const link = wrap(adopted, peer, { onData: (c) => handlers.onData(c), onClose: (e) => handlers.onClose(e) }, adopted === socket ? undefined : receive);
    Object.assign(handlers, onConnection(link));
    // Accepted paused (pauseOnConnect): nothing was read before the handlers were in place.
    adopted.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(linkError('ERR_HOST_MIGRATION_LISTEN_FAILED', `Cannot listen for a migration on ${endpointText(on)}`, err, endpointText(on))));
    if (on.kind === 'tcp') server.listen({ host: on.host, port: on.port }, () => resolve());
    else server.listen({ path: on.path }, () => resolve());
  });
  const address = server.address();
  const uri = on.kind === 'tcp' && address && typeof address === 'object' ? `tcp:${on.host}:${address.port}` : endpointText(on);
  let closing: Promise<void> | undefined;
  return {
    uri,
    close() {
      closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closing;
    },
  };
}

/**
 * `file:PATH` as a sink: the stream is written to a new file (truncated).
 * Writes are synchronous (a file has no peer to wait for), and end() fsyncs.
 * @throws VmigError ERR_HOST_FILE_UNWRITABLE
 */
export function openMigrationFileSink(path: string): MigrationLink {
  let fd: number;
  try {
    fd = openSync(path, 'w', 0o600);
  } catch (err) {
    throw linkError('ERR_HOST_FILE_UNWRITABLE', `Cannot create the migration file ${path}`, err as NodeJS.ErrnoException, `file:${path}`);
  }
  let closed = false;
  const close = () => {
    if (!closed) closeSync(fd);
    closed = true;
  };
  return {
    peer: `file:${path}`,
    get closed() {
      return closed;
    },
    queuedBytes: 0,
    write(chunk, flushed) {
      if (closed) throw new VmigError('ERR_HOST_FD_CLOSED', `The migration file ${path} is closed`);
      try {
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
      } catch (err) {
        throw linkError('ERR_HOST_FILE_UNWRITABLE', `Cannot write the migration file ${path}`, err as NodeJS.ErrnoException, `file:${path}`);
      }
      flushed?.();
      return true;
    },
    drained: () => Promise.resolve(),
    end() {
      if (!closed) {
        try {
          fsyncSync(fd);
        } finally {
          close();
        }
      }
      return Promise.resolve();
    },
    destroy: close,
  };
}

/**
 * `file:PATH` as a source: the file's bytes are delivered in chunks, then
 * onClose(). Returns a function that stops reading.
 * @throws VmigError ERR_HOST_FILE_UNREADABLE (also delivered to onClose if it happens while reading)
 */
export function readMigrationFile(path: string, handlers: MigrationLinkHandlers): { stop(): void } {
  try {
    closeSync(openSync(path, 'r'));
  } catch (err) {
    throw linkError('ERR_HOST_FILE_UNREADABLE', `Cannot read the migration file ${path}`, err as NodeJS.ErrnoException, `file:${path}`);
  }
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  let failure: Error | undefined;
  stream.on('data', (chunk) => {
    const b = chunk as Buffer;
    handlers.onData(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  });
  stream.on('error', (err: NodeJS.ErrnoException) => {
    failure = linkError('ERR_HOST_FILE_UNREADABLE', `Cannot read the migration file ${path}`, err, `file:${path}`);
  });
  stream.on('close', () => handlers.onClose(failure));
  return { stop: () => stream.destroy() };
}
