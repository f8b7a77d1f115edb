/** core: bytes, errors, integer helpers, trace points. Imports nothing else from src/. */
export { ByteReader, decodeText, encodeText } from './byte-reader.js';
export { ByteWriter } from './byte-writer.js';
export type { CopyBytes } from './byte-writer.js';
export { VmigError, TruncatedError, MalformedError, hasCode, describeError } from './errors.js';
export type { VmigErrorOptions, ByteErrorDetails } from './errors.js';
export { wrapU16, addU16, distanceU16, isU16, isU64, toSafeNumber, assertBigIntFits, hex, U16_MASK, U32_MAX, U64_MAX } from './numeric.js';
export { trace, monotonicMs, traceEnabled, setTraceState, matchTraceEvents, takeTrace, processStartMs, TRACE_EVENTS, TRACE_CAPACITY } from './trace.js';
export type { TraceEventName, TraceRecord } from './trace.js';
