/**
 * The configuration section (QEMU_VM_CONFIGURATION, savevm.c
 * `vmstate_configuration`; research §1.3): byte 0x07, then the body with no
 * section header, no version and no footer:
 *
 *   be32 len · len bytes machine type · subsections (target-page-bits,
 *   capabilities, uuid), each only when needed
 */

import { ByteReader, ByteWriter, MalformedError, decodeText, encodeText } from '../core/index.js';
import type { VmState, Vmsd } from '../vmstate/index.js';
import { STREAM_MAX_MACHINE_NAME } from './limits.js';

export interface ConfigurationState {
  /** The machine type's canonical name, e.g. "pc-q35-7.2". */
  machine: string;
  targetPageBits?: number;
  /** Validated capabilities both sides must agree on (x-ignore-shared, mapped-ram). */
  capabilities?: string[];
  uuid?: Uint8Array;
}

const capabilitiesCodec = {
  save(w: ByteWriter, state: VmState): void {
    const caps = (state.capabilities as string[] | undefined) ?? [];
    w.u32be(caps.length);
    for (const c of caps) w.str8(c);
  },
  load(r: ByteReader, state: VmState): void {
    const n = r.u32be('be32 capability count');
    if (n > 64) {
      throw new MalformedError('ERR_STREAM_BAD_CONFIGURATION', `Configuration lists ${n} capabilities; at most 64 exist`, { offset: r.offset - 4, expected: 'a capability count ≤ 64' });
    }
    const caps: string[] = [];
    for (let i = 0; i < n; i++) caps.push(r.str8('capability name'));
    state.capabilities = caps;
  },
};

/** The body as a description, so the one interpreter loads and saves it. */
export const configurationVmsd: Vmsd = {
  name: 'configuration',
  version: 1,
  minimumVersion: 0,
  fields: [
    { name: 'len', path: ['nameLength'], type: { kind: 'int', type: 'uint32' }, validate: (v) => ((v as number) > STREAM_MAX_MACHINE_NAME ? `machine name length ${v} exceeds ${STREAM_MAX_MACHINE_NAME}` : undefined) },
    { name: 'name', path: ['nameBytes'], type: { kind: 'buffer', size: { field: ['nameLength'] } } },
  ],
  subsections: [
    { name: 'configuration/target-page-bits', version: 1, needed: (s) => s.targetPageBits !== undefined, fields: [{ name: 'target_page_bits', path: ['targetPageBits'], type: { kind: 'int', type: 'uint32' } }] },
    { name: 'configuration/capabilities', version: 1, needed: (s) => Array.isArray(s.capabilities) && s.capabilities.length > 0, fields: [{ name: 'capabilities', type: { kind: 'custom', info: 'capability', codec: capabilitiesCodec } }] },
    { name: 'configuration/uuid', version: 1, needed: (s) => s.uuid !== undefined, fields: [{ name: 'uuid', type: { kind: 'buffer', size: 16 } }] },
  ],
  preSave: (s) => {
    const bytes = encodeText(s.machine as string);
    s.nameLength = bytes.length;
    s.nameBytes = bytes;
  },
  postLoad: (s) => {
    s.machine = decodeText(s.nameBytes as Uint8Array);
    delete s.nameLength;
    delete s.nameBytes;
  },
};
