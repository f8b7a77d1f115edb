/**
 * A small QMP client for tests and the bench:
 *
 *   connect ─► read greeting ─► qmp_capabilities ─► execute(...) / events
 *
 * Every request carries a fresh numeric id and replies are matched by it,
 * so several commands may be in flight. Events are kept in a bounded log with
 * sequence numbers: take `eventMark()` before an action and wait for the
 * event `since` that mark, and an event that arrives before the wait starts
 * is still seen.
 */

import { VmigError } from '../core/index.js';
import { connectUnixStream } from '../host/index.vmm.js';
import type { StreamConnection } from '../host/index.vmm.js';
import { JsonStreamSplitter } from './json-stream-splitter.js';
import { QmpError } from './qmp-error.js';
import type { QmpErrorClass } from './qmp-error.js';
import type { QmpTimestamp } from './qmp-json.js';
import type { QmpVersionInfo } from './qmp-session.js';

export interface QmpGreeting {
  version: QmpVersionInfo;
  capabilities: string[];
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: QmpTimestamp;
}

export interface QmpClientOptions {
  /** Default timeout for the greeting and every command (ms). */
  timeoutMs?: number;
  /** Capabilities to enable in qmp_capabilities (e.g. ['oob']). */
  enable?: string[];
  /** Send qmp_capabilities after the greeting (default true). */
  negotiate?: boolean;
}

interface PendingCommand {
  command: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

const EVENT_LOG_MAX = 1000;
const CLIENT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

function disconnected(what: string): VmigError {
  return new VmigError('ERR_QMP_DISCONNECTED', `The QMP connection closed ${what}`);
}

export class QmpClient {
  readonly greeting: QmpGreeting;
  private readonly conn: StreamConnection;
  private readonly timeoutMs: number;
  private readonly pending = new Map<number, PendingCommand>();
  private readonly eventLog: Array<{ seq: number; event: QmpEvent }> = [];
  private readonly eventListeners = new Set<(e: QmpEvent) => void>();
  private readonly messageListeners = new Set<(m: Record<string, unknown>) => void>();
  private readonly closeListeners = new Set<() => void>();
  private nextId = 1;
  private eventSeq = 0;
  private closedFlag = false;

  private constructor(conn: StreamConnection, greeting: QmpGreeting, timeoutMs: number) {
    this.conn = conn;
    this.greeting = greeting;
    this.timeoutMs = timeoutMs;
  }

  /**
   * Connect to a QMP unix socket, read the greeting and (by default) negotiate.
   * @throws VmigError ERR_HOST_SOCKET_CONNECT_FAILED, ERR_QMP_BAD_GREETING, ERR_QMP_TIMEOUT, ERR_QMP_DISCONNECTED
   */
  static async connect(path: string, options: QmpClientOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const splitter = new JsonStreamSplitter({ maxBytes: CLIENT_MAX_MESSAGE_BYTES });
    let client: QmpClient | undefined;
    const early: Record<string, unknown>[] = []; // messages before the client object exists
    let settle: { greeted(g: QmpGreeting): void; failed(e: Error): void } | undefined;
    let outcome: { greeting: QmpGreeting } | { error: Error } | undefined;
    const decide = (o: { greeting: QmpGreeting } | { error: Error }) => {
      if (outcome) return;
      outcome = o;
      if (!settle) return;
      if ('greeting' in o) settle.greeted(o.greeting);
      else settle.failed(o.error);
    };
    const conn = await connectUnixStream(path, {
      onData(chunk) {
        for (const frame of splitter.push(chunk)) {
          let message: unknown;
          try {
            message = frame.kind === 'text' ? JSON.parse(frame.text) : undefined;
          } catch {
            message = undefined;
          }
          if (typeof message !== 'object' || message === null || Array.isArray(message)) continue;
          const m = message as Record<string, unknown>;
          if (client) {
            client.onMessage(m);
          } else if (outcome) {
            early.push(m);
          } else if ('QMP' in m) {
            const g = m.QMP as Partial<QmpGreeting> | undefined;
            if (typeof g?.version?.qemu?.major !== 'number' || !Array.isArray(g.capabilities)) {
              decide({ error: new VmigError('ERR_QMP_BAD_GREETING', `The QMP server sent a malformed greeting: ${JSON.stringify(m).slice(0, 200)}`) });
            } else {
              decide({ greeting: g as QmpGreeting });
            }
          } else {
            decide({ error: new VmigError('ERR_QMP_BAD_GREETING', `Expected a QMP greeting, got ${JSON.stringify(m).slice(0, 200)}`) });
          }
        }
      },
      onClose() {
        if (client) client.onClosed();
        else decide({ error: disconnected('before the greeting') });
      },
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const greeting = await new Promise<QmpGreeting>((resolve, reject) => {
        settle = { greeted: resolve, failed: reject };
        if (outcome && 'greeting' in outcome) resolve(outcome.greeting);
        else if (outcome) reject(outcome.error);
        timer = setTimeout(() => reject(new VmigError('ERR_QMP_TIMEOUT', `No QMP greeting from ${path} within ${timeoutMs} ms`)), timeoutMs);
      });
      client = new QmpClient(conn, greeting, timeoutMs);
      for (const m of early.splice(0)) client.onMessage(m);
    } catch (err) {
      conn.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    if (options.negotiate ?? true) {
      try {
        await client.execute('qmp_capabilities', options.enable ? { enable: options.enable } : undefined);
      } catch (err) {
        conn.destroy();
        throw err;
      }
    }
    return client;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /**
   * Run a command and resolve with its `return` value.
   * @throws QmpError (ERR_QMP_COMMAND_FAILED, with the server's class and desc),
   *   VmigError ERR_QMP_TIMEOUT, ERR_QMP_DISCONNECTED
   */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options: { timeoutMs?: number; oob?: boolean } = {}): Promise<T> {
    if (this.closedFlag) return Promise.reject(disconnected(`before ${command} was sent`));
    const id = this.nextId++;
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new VmigError('ERR_QMP_TIMEOUT', `QMP command ${command} got no reply within ${timeoutMs} ms`, { details: { command, id } }));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      const request: Record<string, unknown> = { [options.oob ? 'exec-oob' : 'execute']: command };
      if (args !== undefined) request.arguments = args;
      request.id = id;
      this.conn.write(`${JSON.stringify(request)}\r\n`);
    });
  }

  /** Write bytes as they are (for protocol tests). Replies reach `onAnyMessage` listeners. */
  sendRaw(data: string | Uint8Array): void {
    this.conn.write(data);
  }

  /** Listen to events (all, or one name). Returns an unsubscribe function. */
  onEvent(listener: (e: QmpEvent) => void, name?: string): () => void {
    const wrapped = name === undefined ? listener : (e: QmpEvent) => e.event === name && listener(e);
    this.eventListeners.add(wrapped);
    return () => this.eventListeners.delete(wrapped);
  }

  /** Listen to every message from the server, replies included. */
  onAnyMessage(listener: (m: Record<string, unknown>) => void): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  /** Sequence number to pass as `since` to catch events from now on. */
  eventMark(): number {
    return this.eventSeq;
  }

  /** Events received since a mark (at most the last 1000). */
  eventsSince(mark: number): QmpEvent[] {
    return this.eventLog.filter((e) => e.seq > mark).map((e) => e.event);
  }

  /**
   * Wait for an event named `name` (matching `predicate`) received after `since`
   * (default: now).
   * @throws VmigError ERR_QMP_TIMEOUT, ERR_QMP_DISCONNECTED
   */
  waitForEvent(name: string, options: { since?: number; timeoutMs?: number; predicate?: (e: QmpEvent) => boolean } = {}): Promise<QmpEvent> {
    const since = options.since ?? this.eventSeq;
    const matches = (e: QmpEvent) => e.event === name && (options.predicate?.(e) ?? true);
    const past = this.eventsSince(since).find(matches);
    if (past) return Promise.resolve(past);
    if (this.closedFlag) return Promise.reject(disconnected(`while waiting for ${name}`));
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    return new Promise<QmpEvent>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        unsubscribe();
        this.closeListeners.delete(onClose);
      };
      const onClose = () => {
        cleanup();
        reject(disconnected(`while waiting for ${name}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new VmigError('ERR_QMP_TIMEOUT', `No ${name} event within ${timeoutMs} ms`, { details: { event: name } }));
      }, timeoutMs);
      const unsubscribe = this.onEvent((e) => {
        if (matches(e)) {
          cleanup();
          resolve(e);
        }
      });
      this.closeListeners.add(onClose);
    });
  }

  /** Close the connection; pending commands fail with ERR_QMP_DISCONNECTED. */
  close(): Promise<void> {
    if (this.closedFlag) return Promise.resolve();
    return new Promise((resolve) => {
      this.closeListeners.add(resolve);
      this.conn.end();
      setTimeout(() => this.conn.destroy(), 1000).unref();
    });
  }

  private onMessage(m: Record<string, unknown>): void {
    for (const l of this.messageListeners) l(m);
    if (typeof m.event === 'string') {
      const event = m as unknown as QmpEvent;
      this.eventLog.push({ seq: ++this.eventSeq, event });
      if (this.eventLog.length > EVENT_LOG_MAX) this.eventLog.shift();
      for (const l of [...this.eventListeners]) l(event);
      return;
    }
    if (!('return' in m) && !('error' in m)) return;
    let id: number | undefined;
    if (typeof m.id === 'number' && this.pending.has(m.id)) id = m.id;
    else if (m.id === undefined) id = this.pending.keys().next().value; // an unparsable request is answered in order, without id
    if (id === undefined) return;
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    if ('error' in m) {
      const body = (m.error ?? {}) as { class?: string; desc?: string };
      entry.reject(new QmpError((body.class ?? 'GenericError') as QmpErrorClass, body.desc ?? 'unknown error', { code: 'ERR_QMP_COMMAND_FAILED', details: { command: entry.command, class: body.class } }));
    } else {
      entry.resolve(m.return);
    }
  }

  private onClosed(): void {
    this.closedFlag = true;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(disconnected(`before ${p.command} was answered`));
    }
    this.pending.clear();
    for (const l of [...this.closeListeners]) l();
    this.closeListeners.clear();
  }
}
