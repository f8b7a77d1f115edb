/**
 * Unix-domain stream sockets: the QMP monitor listens on one, and its test
 * client and the bench connect to it. This file is the only place that opens
 * them, so everything above (control, machine) stays free of node:net.
 *
 * A listening path is claimed carefully, as QEMU's `-qmp unix:PATH,server=on`
 * needs: a leftover socket file from a crashed VMM is removed, but only after
 * a connect attempt proves nobody is listening on it; a live socket or any
 * other kind of file at the path is an error, never deleted. On close, the
 * server removes its socket file if it is still the one it created.
 */

import { lstatSync, statSync, unlinkSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

import { VmigError } from '../core/index.js';

/** sun_path is 108 bytes on Linux, including the terminating NUL. */
export const UNIX_SOCKET_PATH_MAX = 107;

/** One accepted or connected stream. Writes after close are ignored. */
export interface StreamConnection {
  /** Small integer, unique per server (or per process for client connections). */
  readonly id: number;
  readonly closed: boolean;
  write(data: string | Uint8Array): void;
  /** Half-close after flushing what was written. */
  end(): void;
  /** Close at once, dropping unsent data. */
  destroy(): void;
  /** Stop delivering data (backpressure); `resume` restarts it. */
  pause(): void;
  resume(): void;
}

export interface StreamHandlers {
  onData(chunk: Uint8Array): void;
  /** Called exactly once, with the error if the stream failed. */
  onClose(error?: Error): void;
}

export interface UnixStreamServer {
  readonly path: string;
  readonly connectionCount: number;
  /** Stop listening, destroy open connections, remove the socket file. */
  close(): Promise<void>;
}

let nextClientId = 1;

function wrapSocket(socket: Socket, id: number, handlers: StreamHandlers, onGone: () => void): StreamConnection {
  let closed = false;
  let failure: Error | undefined;
  socket.on('data', (chunk: Buffer) => {
    if (!closed) handlers.onData(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  });
  socket.on('error', (err) => {
    failure = err;
  });
  socket.on('close', () => {
    closed = true;
    onGone();
    handlers.onClose(failure);
  });
  return {
    id,
    get closed() {
      return closed || socket.destroyed;
    },
    write(data) {
      if (!closed && !socket.destroyed && socket.writable) socket.write(data);
    },
    end() {
      if (!socket.destroyed) socket.end();
    },
    destroy() {
      socket.destroy();
    },
    pause() {
      socket.pause();
    },
    resume() {
      socket.resume();
    },
  };
}

function checkPathLength(path: string): void {
  if (Buffer.byteLength(path) > UNIX_SOCKET_PATH_MAX) {
    throw new VmigError('ERR_HOST_SOCKET_PATH_TOO_LONG', `Unix socket path ${path} is longer than ${UNIX_SOCKET_PATH_MAX} bytes; use a shorter path (for example under /tmp)`, { details: { path } });
  }
}

/** Resolves true when something accepts a connection on `path`. */
function somebodyListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** Make `path` free for a new socket, removing only a dead socket file. */
async function claimSocketPath(path: string): Promise<void> {
  let kind: 'none' | 'socket' | 'other' = 'none';
  try {
    kind = lstatSync(path).isSocket() ? 'socket' : 'other';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new VmigError('ERR_HOST_SOCKET_LISTEN_FAILED', `Cannot inspect ${path}: ${(err as NodeJS.ErrnoException).code}`, { cause: err, details: { path } });
    }
  }
  if (kind === 'other') {
    throw new VmigError('ERR_HOST_SOCKET_PATH_TAKEN', `${path} exists and is not a socket; remove it or choose another path`, { details: { path } });
  }
  if (kind === 'socket') {
    if (await somebodyListens(path)) {
      throw new VmigError('ERR_HOST_SOCKET_IN_USE', `Another process is listening on ${path}; stop it or choose another path`, { details: { path } });
    }
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new VmigError('ERR_HOST_SOCKET_LISTEN_FAILED', `Cannot remove the stale socket ${path}: ${(err as NodeJS.ErrnoException).code}`, { cause: err, details: { path } });
      }
    }
  }
}

/**
 * Listen on a unix socket. `onConnection` is called for every accepted
 * stream and returns the handlers for its data and close.
 * @throws VmigError ERR_HOST_SOCKET_PATH_TOO_LONG, ERR_HOST_SOCKET_PATH_TAKEN,
 *   ERR_HOST_SOCKET_IN_USE, ERR_HOST_SOCKET_LISTEN_FAILED
 */
export async function listenUnixStream(path: string, onConnection: (conn: StreamConnection) => StreamHandlers): Promise<UnixStreamServer> {
  checkPathLength(path);
  await claimSocketPath(path);
  const sockets = new Set<Socket>();
  let nextId = 1;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const handlers: StreamHandlers = { onData: () => {}, onClose: () => {} };
    const conn = wrapSocket(socket, nextId++, { onData: (c) => handlers.onData(c), onClose: (e) => handlers.onClose(e) }, () => sockets.delete(socket));
    Object.assign(handlers, onConnection(conn));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new VmigError('ERR_HOST_SOCKET_LISTEN_FAILED', `Cannot listen on ${path}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err, details: { path } })));
    server.listen({ path }, () => resolve());
  });
  const inode = statSync(path).ino;
  let closing: Promise<void> | undefined;
  return {
    path,
    get connectionCount() {
      return sockets.size;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        try {
          if (statSync(path).ino === inode) unlinkSync(path);
        } catch {
          // Already gone (or replaced by someone else's file): nothing of ours to remove.
        }
      });
      return closing;
    },
  };
}

/**
 * Connect to a unix socket.
 * @throws VmigError ERR_HOST_SOCKET_PATH_TOO_LONG, ERR_HOST_SOCKET_CONNECT_FAILED
 */
export async function connectUnixStream(path: string, handlers: StreamHandlers): Promise<StreamConnection> {
  checkPathLength(path);
  const socket = createConnection({ path });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new VmigError('ERR_HOST_SOCKET_CONNECT_FAILED', `Cannot connect to ${path}: ${err.code ?? err.message}`, { cause: err, details: { path, errno: err.code } }));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve();
    });
  });
  return wrapSocket(socket, nextClientId++, handlers, () => {});
}
