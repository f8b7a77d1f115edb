/**
 * Errors of the backends layer: misuse of a backend (a queue it does not
 * have, a second client, use after close). I/O trouble is not thrown from the
 * frame path; it is reported to the client (NetBackendClient.backendError).
 */

import { VmigError } from '../core/index.js';

export type BackendErrorCode = 'ERR_BACKEND_BAD_QUEUE' | 'ERR_BACKEND_ATTACHED' | 'ERR_BACKEND_CLOSED' | 'ERR_BACKEND_BAD_OPTION';

export class BackendError extends VmigError {
  declare readonly code: BackendErrorCode;

  constructor(code: BackendErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(code, message, { details, cause });
  }
}

/**
 * @throws BackendError ERR_BACKEND_BAD_QUEUE unless `queue` is an integer in [0, count)
 */
export function checkQueue(kind: string, queue: number, count: number): void {
  if (!Number.isInteger(queue) || queue < 0 || queue >= count) {
    throw new BackendError('ERR_BACKEND_BAD_QUEUE', `the ${kind} backend has queues 0..${count - 1}, not ${String(queue)}`, { queue, count });
  }
}
