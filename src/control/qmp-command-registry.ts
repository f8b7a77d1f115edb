/**
 * The table of QMP commands. Layers above control (machine, the VMM) register
 * their commands here, so control itself knows nothing about VMs: each entry
 * declares its argument schema (checked before the handler runs) and a
 * handler that may be async. The protocol commands (qmp_capabilities,
 * query-commands, query-version) are built into the session.
 */

import { VmigError } from '../core/index.js';
import type { QmpArgMembers } from './qmp-schema.js';

/** What a handler learns about the request it serves. */
export interface QmpCommandContext {
  /** The session's id (one per client connection). */
  readonly sessionId: number;
  /** True for a request sent with `exec-oob`. */
  readonly outOfBand: boolean;
  /** Aborted when the client disconnects before the reply is sent. */
  readonly signal: AbortSignal;
}

export interface QmpCommand<A = Record<string, unknown>> {
  readonly name: string;
  /** Accepted arguments; omitted means none (any argument is unexpected). */
  readonly args?: QmpArgMembers;
  /** May run out-of-band (`exec-oob`), ahead of queued commands. */
  readonly allowOob?: boolean;
  /** Returns the `return` value; `undefined` becomes `{}` as in QEMU. Throw a QmpError to choose the error class. */
  handler(args: A, context: QmpCommandContext): unknown;
}

export class QmpCommandRegistry {
  private readonly commands = new Map<string, QmpCommand>();

  /**
   * Add a command. `A` is what the handler receives; the schema guarantees
   * its shape, so keep the two in agreement.
   * @throws VmigError ERR_QMP_DUPLICATE_COMMAND
   */
  register<A = Record<string, unknown>>(command: QmpCommand<A>): this {
    if (this.commands.has(command.name) || RESERVED_COMMANDS.includes(command.name)) {
      throw new VmigError('ERR_QMP_DUPLICATE_COMMAND', `QMP command ${command.name} is already registered`, { details: { command: command.name } });
    }
    this.commands.set(command.name, command as unknown as QmpCommand);
    return this;
  }

  unregister(name: string): boolean {
    return this.commands.delete(name);
  }

  get(name: string): QmpCommand | undefined {
    return this.commands.get(name);
  }

  has(name: string): boolean {
    return this.commands.has(name) || RESERVED_COMMANDS.includes(name);
  }

  /** Registered names plus the session's built-ins, sorted. */
  names(): string[] {
    return [...new Set([...RESERVED_COMMANDS, ...this.commands.keys()])].sort();
  }
}

/** Commands the session implements itself. */
export const RESERVED_COMMANDS: readonly string[] = ['qmp_capabilities', 'query-commands', 'query-version'];
