/**
 * Error helpers shared by the fd wrappers of this layer (TapDevice, EventFd,
 * UnixSocket, UnixListener): one code for "used after close()", and a way to
 * say what was being done without losing the addon's code and syscall facts.
 */

import { VmigError } from '../core/index.js';

/** ERR_HOST_FD_CLOSED for `what` ("TAP vm0", "the eventfd", ...). */
export function fdClosedError(what: string, details: Record<string, unknown> = {}): VmigError {
  return new VmigError('ERR_HOST_FD_CLOSED', `${what} is closed`, { details });
}

/**
 * The same error (code, details) with what was being done in front of its
 * message and `details` added; the original becomes the cause. Anything that
 * is not a VmigError passes through unchanged.
 */
export function withContext(err: unknown, doing: string, details: Record<string, unknown>): unknown {
  if (!(err instanceof VmigError)) return err;
  return new VmigError(err.code, `${doing}: ${err.message}`, { cause: err, details: { ...err.details, ...details } });
}
