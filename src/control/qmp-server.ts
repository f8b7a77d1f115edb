/**
 * The QMP monitor: one command registry shared by any number of client
 * sessions, over a unix socket (`-qmp unix:PATH,server=on,wait=off`) or any
 * other byte transport handed to `attach`. Events are broadcast to every
 * session that has finished capabilities negotiation.
 */

import { listenUnixStream } from '../host/index.vmm.js';
import type { UnixStreamServer } from '../host/index.vmm.js';
import { QmpCommandRegistry } from './qmp-command-registry.js';
import { qmpTimestamp } from './qmp-json.js';
import { QmpSession } from './qmp-session.js';
import type { QmpEventMessage, QmpTransport, QmpVersionInfo } from './qmp-session.js';

export interface QmpServerOptions {
  registry?: QmpCommandRegistry;
  version?: QmpVersionInfo;
  offerOob?: boolean;
  maxMessageBytes?: number;
}

export class QmpServer {
  readonly registry: QmpCommandRegistry;
  private readonly options: QmpServerOptions;
  private readonly sessions = new Set<QmpSession>();
  private readonly listeners: UnixStreamServer[] = [];
  private nextSessionId = 1;
  private clientWaiters: Array<() => void> = [];

  constructor(options: QmpServerOptions = {}) {
    this.registry = options.registry ?? new QmpCommandRegistry();
    this.options = options;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Paths of the unix sockets being served. */
  get paths(): string[] {
    return this.listeners.map((l) => l.path);
  }

  /**
   * Start a session on a connected transport and send the greeting. Feed it
   * with `session.receive(bytes)`; call `detach` when the transport closes.
   */
  attach(transport: QmpTransport): QmpSession {
    const session = new QmpSession({
      id: this.nextSessionId++,
      registry: this.registry,
      transport,
      ...(this.options.version ? { version: this.options.version } : {}),
      ...(this.options.offerOob !== undefined ? { offerOob: this.options.offerOob } : {}),
      ...(this.options.maxMessageBytes !== undefined ? { maxMessageBytes: this.options.maxMessageBytes } : {}),
    });
    this.sessions.add(session);
    session.start();
    for (const w of this.clientWaiters.splice(0)) w();
    return session;
  }

  /** Resolves once a client is connected: `-qmp ...,wait=on` holds startup on it. */
  waitForClient(): Promise<void> {
    if (this.sessions.size > 0) return Promise.resolve();
    return new Promise((resolve) => this.clientWaiters.push(resolve));
  }

  detach(session: QmpSession): void {
    session.close();
    this.sessions.delete(session);
  }

  /**
   * Serve QMP on a unix socket (a stale socket file is replaced, a live one is an error).
   * @throws VmigError ERR_HOST_SOCKET_* from the host layer
   */
  async listenUnix(path: string): Promise<void> {
    const listener = await listenUnixStream(path, (conn) => {
      const session = this.attach({ write: (t) => conn.write(t), pause: () => conn.pause(), resume: () => conn.resume() });
      return {
        onData: (chunk) => session.receive(chunk),
        onClose: () => this.detach(session),
      };
    });
    this.listeners.push(listener);
  }

  /** Broadcast an event with the current wall-clock timestamp. */
  emitEvent(event: string, data?: Record<string, unknown>): void {
    const message = { event, timestamp: qmpTimestamp(), ...(data === undefined ? {} : { data }) };
    if (this.held) this.held.push(message);
    else for (const s of this.sessions) s.sendEvent(message);
  }

  private held: QmpEventMessage[] | undefined;

  /**
   * Queue events from now on, each with the timestamp of the moment it was
   * raised, until the function returned is called: then they go out in order.
   * For a switchover's few milliseconds (migration/switchover-window.ts):
   * formatting and writing an event, and waking its client, cost the VMM
   * thread ~0.3 ms each inside the downtime. Nested holds release at the
   * outermost release.
   */
  holdEvents(): () => void {
    if (this.held) return () => undefined;
    this.held = [];
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.sendHeld();
    };
  }

  /** Send what is held, in order, and hold no more. */
  private sendHeld(): void {
    const queued = this.held ?? [];
    this.held = undefined;
    for (const m of queued) for (const s of this.sessions) s.sendEvent(m);
  }

  /** Stop listening and end every session. */
  async close(): Promise<void> {
    // Events still held (a switchover cut short by quit) go out before the sessions end.
    this.sendHeld();
    const listeners = this.listeners.splice(0);
    await Promise.all(listeners.map((l) => l.close()));
    for (const s of this.sessions) s.close();
    this.sessions.clear();
  }
}
