/** stream: QEMU's migration stream framing, decoder and encoder (pure, no I/O). */
export * from './constants.js';
export type { SectionHeader, SectionKind, SectionCodec, SectionResolver, StreamItem, RamBlockInfo } from './items.js';
export { StreamDecoder, decodeStream } from './stream-decoder.js';
export type { StreamDecoderOptions, Presence } from './stream-decoder.js';
export { StreamEncoder, encodeItems } from './stream-encoder.js';
export type { StreamEncoderOptions } from './stream-encoder.js';
export { configurationVmsd } from './configuration.js';
export type { ConfigurationState } from './configuration.js';
export { readRamRecord, writeRamRecord } from './ram-records.js';
export type { RamDecodeState } from './ram-records.js';
export { STREAM_MAX_VMDESC_BYTES, STREAM_MAX_COMMAND_BYTES, STREAM_MAX_RAM_BLOCKS } from './limits.js';
