/**
 * One QMP client conversation, independent of the transport (research §5.1;
 * QEMU's monitor/qmp.c and qapi/qmp-dispatch.c):
 *
 *   connect ─► greeting {"QMP": {version, capabilities}}
 *   negotiation mode: only qmp_capabilities; anything else is CommandNotFound
 *                     "Expecting capabilities negotiation with 'qmp_capabilities'";
 *                     no events
 *   qmp_capabilities ─► {"return": {}} ─► command mode: every command; events
 *
 * Requests run one at a time in arrival order (QEMU queues in-band commands
 * and answers them in order), so an async handler never overtakes the one
 * before it. With the `oob` capability enabled, `exec-oob` requests for
 * commands that allow it run at once, ahead of the queue. Input errors are
 * answered in order too, as QEMU queues them with the requests.
 */

import { JsonStreamSplitter } from './json-stream-splitter.js';
import type { QmpCommandContext, QmpCommandRegistry } from './qmp-command-registry.js';
import { QmpError, toQmpErrorBody } from './qmp-error.js';
import { formatQmpLine } from './qmp-json.js';
import type { QmpTimestamp } from './qmp-json.js';
import { validateArguments } from './qmp-schema.js';

export interface QmpVersionInfo {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

/** What vmig reports: the QEMU release whose machine types and QMP it follows. */
export const VMIG_QMP_VERSION: QmpVersionInfo = { qemu: { major: 11, minor: 1, micro: 0 }, package: 'vmig 0.1.0' };

/** Requests queued before the session stops reading (QEMU's QMP_REQ_QUEUE_LEN_MAX). */
export const QMP_REQUEST_QUEUE_MAX = 8;

/** Where a session's output goes; pause/resume give backpressure. */
export interface QmpTransport {
  write(text: string): void;
  pause?(): void;
  resume?(): void;
}

export interface QmpSessionOptions {
  id: number;
  registry: QmpCommandRegistry;
  transport: QmpTransport;
  version?: QmpVersionInfo;
  /** Offer the `oob` capability in the greeting (QEMU does on socket monitors). */
  offerOob?: boolean;
  maxMessageBytes?: number;
}

export interface QmpEventMessage {
  event: string;
  data?: Record<string, unknown>;
  timestamp: QmpTimestamp;
}

type Pending = { kind: 'request'; request: unknown } | { kind: 'error'; desc: string };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class QmpSession {
  readonly id: number;
  private readonly registry: QmpCommandRegistry;
  private readonly transport: QmpTransport;
  private readonly version: QmpVersionInfo;
  private readonly offerOob: boolean;
  private readonly splitter: JsonStreamSplitter;
  private readonly abort = new AbortController();
  private readonly queue: Pending[] = [];
  private running = false;
  private paused = false;
  private idleWaiters: Array<() => void> = [];
  private commandMode = false;
  private oob = false;
  private closed = false;

  constructor(options: QmpSessionOptions) {
    this.id = options.id;
    this.registry = options.registry;
    this.transport = options.transport;
    this.version = options.version ?? VMIG_QMP_VERSION;
    this.offerOob = options.offerOob ?? true;
    this.splitter = new JsonStreamSplitter(options.maxMessageBytes === undefined ? {} : { maxBytes: options.maxMessageBytes });
  }

  get mode(): 'negotiation' | 'command' {
    return this.commandMode ? 'command' : 'negotiation';
  }

  get oobEnabled(): boolean {
    return this.oob;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Send the greeting. Call once, when the client connects. */
  start(): void {
    this.send({ QMP: { version: this.version, capabilities: this.offerOob ? ['oob'] : [] } });
  }

  /** Feed bytes from the client. */
  receive(chunk: Uint8Array): void {
    if (this.closed) return;
    for (const frame of this.splitter.push(chunk)) {
      if (frame.kind === 'error') {
        this.enqueue({ kind: 'error', desc: frame.desc });
        continue;
      }
      let request: unknown;
      try {
        request = JSON.parse(frame.text);
      } catch (err) {
        this.enqueue({ kind: 'error', desc: `JSON parse error, ${(err as Error).message.slice(0, 200)}` });
        continue;
      }
      if (this.oob && isPlainObject(request) && Object.hasOwn(request, 'exec-oob') && !Object.hasOwn(request, 'execute')) {
        void this.dispatch(request, true); // out-of-band: not queued behind in-band commands
      } else {
        this.enqueue({ kind: 'request', request });
      }
    }
  }

  /** Deliver an event; dropped in negotiation mode, as QEMU does. */
  sendEvent(message: QmpEventMessage): void {
    if (!this.commandMode) return;
    this.send({ timestamp: message.timestamp, event: message.event, data: message.data });
  }

  /** The client is gone: drop queued requests and abort running handlers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.splitter.reset();
    this.abort.abort();
    this.wakeIdle();
  }

  /** Resolves once every queued request has been answered. */
  whenIdle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private send(message: Record<string, unknown>): void {
    if (!this.closed) this.transport.write(formatQmpLine(message));
  }

  private enqueue(item: Pending): void {
    this.queue.push(item);
    if (this.queue.length >= QMP_REQUEST_QUEUE_MAX && !this.paused && this.transport.pause) {
      this.paused = true;
      this.transport.pause();
    }
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const item = this.queue.shift()!;
        if (this.paused && this.queue.length < QMP_REQUEST_QUEUE_MAX / 2) {
          this.paused = false;
          this.transport.resume?.();
        }
        if (item.kind === 'error') this.send({ error: { class: 'GenericError', desc: item.desc } });
        else await this.dispatch(item.request, false);
      }
    } finally {
      this.running = false;
      this.wakeIdle();
    }
  }

  private wakeIdle(): void {
    if (this.running && !this.closed) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Run one request and send its reply (qmp_dispatch). */
  private async dispatch(request: unknown, outOfBand: boolean): Promise<void> {
    if (!isPlainObject(request)) {
      this.send({ error: { class: 'GenericError', desc: 'QMP input must be a JSON object' } });
      return;
    }
    const id = request.id;
    let reply: Record<string, unknown>;
    try {
      reply = { return: (await this.execute(request, outOfBand)) ?? {} };
    } catch (err) {
      let body = toQmpErrorBody(err);
      if (!this.commandMode && body.class === 'CommandNotFound') {
        body = { class: 'CommandNotFound', desc: "Expecting capabilities negotiation with 'qmp_capabilities'" };
      }
      reply = { error: body };
    }
    if (id !== undefined) reply.id = id;
    this.send(reply);
  }

  private async execute(request: Record<string, unknown>, outOfBand: boolean): Promise<unknown> {
    // Shape checks in qmp_dispatch_check_obj's order and wording.
    let command: string | undefined;
    let execKey: string | undefined;
    for (const [key, value] of Object.entries(request)) {
      if (key === 'execute' || (key === 'exec-oob' && this.oob)) {
        if (typeof value !== 'string') throw new QmpError('GenericError', `QMP input member '${key}' must be a string`, { code: 'ERR_QMP_BAD_REQUEST' });
        if (execKey !== undefined) throw new QmpError('GenericError', `QMP input member '${key}' clashes with '${execKey}'`, { code: 'ERR_QMP_BAD_REQUEST' });
        execKey = key;
        command = value;
      } else if (key === 'arguments') {
        if (!isPlainObject(value)) throw new QmpError('GenericError', "QMP input member 'arguments' must be an object", { code: 'ERR_QMP_BAD_REQUEST' });
      } else if (key !== 'id') {
        throw new QmpError('GenericError', `QMP input member '${key}' is unexpected`, { code: 'ERR_QMP_BAD_REQUEST' });
      }
    }
    if (command === undefined) throw new QmpError('GenericError', "QMP input lacks member 'execute'", { code: 'ERR_QMP_BAD_REQUEST' });
    const args = (request.arguments as Record<string, unknown> | undefined) ?? {};

    if (command === 'qmp_capabilities') return this.capabilities(args);
    if (!this.commandMode || !this.registry.has(command)) {
      throw new QmpError('CommandNotFound', `The command ${command} has not been found`);
    }
    const entry = this.registry.get(command);
    if (outOfBand && !entry?.allowOob) throw new QmpError('GenericError', `The command ${command} does not support OOB`, { code: 'ERR_QMP_BAD_REQUEST' });
    validateArguments(entry?.args ?? {}, args);
    if (command === 'query-version') return this.version;
    if (command === 'query-commands') return this.registry.names().map((name) => ({ name }));
    const context: QmpCommandContext = { sessionId: this.id, outOfBand, signal: this.abort.signal };
    return await entry!.handler(args, context);
  }

  private capabilities(args: Record<string, unknown>): Record<string, never> {
    if (this.commandMode) {
      throw new QmpError('CommandNotFound', 'Capabilities negotiation is already complete, command ignored');
    }
    validateArguments({ '*enable': { list: { enum: ['oob'] } } }, args);
    const wanted = (args.enable as string[] | undefined) ?? [];
    if (wanted.includes('oob') && !this.offerOob) throw new QmpError('GenericError', 'Capability oob not available', { code: 'ERR_QMP_BAD_ARGUMENT' });
    this.oob = wanted.includes('oob');
    this.commandMode = true;
    return {};
  }
}
