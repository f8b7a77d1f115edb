/**
 * QMP errors. A reply's error is `{"class": C, "desc": TEXT}` (research §5.1);
 * clients match on the class and people read the desc, so handlers throw a
 * `QmpError` naming the class QEMU would use. Any other exception a handler
 * throws becomes a GenericError with its message.
 */

import { VmigError, describeError } from '../core/index.js';
import type { VmigErrorOptions } from '../core/index.js';

/** QEMU's ErrorClass values (qapi/error.json) that vmig raises. */
export type QmpErrorClass = 'GenericError' | 'CommandNotFound' | 'DeviceNotActive' | 'DeviceNotFound' | 'KVMMissingCap';

const CLASS_CODES: Record<QmpErrorClass, string> = {
  GenericError: 'ERR_QMP_GENERIC',
  CommandNotFound: 'ERR_QMP_COMMAND_NOT_FOUND',
  DeviceNotActive: 'ERR_QMP_DEVICE_NOT_ACTIVE',
  DeviceNotFound: 'ERR_QMP_DEVICE_NOT_FOUND',
  KVMMissingCap: 'ERR_QMP_KVM_MISSING_CAP',
};

export class QmpError extends VmigError {
  readonly errorClass: QmpErrorClass;

  /** `desc` is the text the client sees; `code` defaults to the class's code. */
  constructor(errorClass: QmpErrorClass, desc: string, options: VmigErrorOptions & { code?: string } = {}) {
    super(options.code ?? CLASS_CODES[errorClass], desc, options);
    this.errorClass = errorClass;
  }
}

/** `{"class", "desc"}` for anything a handler threw. */
export function toQmpErrorBody(err: unknown): { class: QmpErrorClass; desc: string } {
  if (err instanceof QmpError) return { class: err.errorClass, desc: err.message };
  return { class: 'GenericError', desc: describeError(err) };
}

/** A GenericError about a bad argument, worded as QEMU's input visitor words it. */
export function badArgument(desc: string): QmpError {
  return new QmpError('GenericError', desc, { code: 'ERR_QMP_BAD_ARGUMENT' });
}
