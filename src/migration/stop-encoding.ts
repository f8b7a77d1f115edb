/**
 * What the source encodes once the vCPUs are parked, after the final pages:
 * the vCPU sections, virtio-net (its full section, or the delta against what
 * went early), EOF — and a rehearsal of all of it, final pages included.
 *
 * Why a rehearsal: a VMM is a migration source once in its life, and V8
 * compiles a function on its first call and optimises it only after several.
 * Run cold, this code cost 1–2 ms of the downtime (the switchover trace,
 * docs/BENCHMARKS.md). The rehearsal runs it while the guest still runs,
 * into a scratch encoder that is thrown away: nothing is sent, recorded or
 * changed, and the real stop finds the code compiled and its inline caches set.
 * It also describes what it encoded as the trailing vmdesc does: built cold
 * right after the switchover, that JSON held the source's thread for 15–20 ms
 * while the guest's first packets on the destination wanted the CPUs.
 */

import { copyBytes } from '../host/index.js';
import type { StreamEncoder, SectionHeader } from '../stream/index.js';
import { StreamEncoder as Encoder } from '../stream/index.js';
import { DirtySnapshot } from '../memory/index.js';
import { formatQemuJson, saveState, saveWithVmdesc } from '../vmstate/index.js';
import type { JsonObject, VmState, Vmsd, VmstateContext } from '../vmstate/index.js';
import { ByteWriter } from '../core/index.js';
import type { VirtioSavedState } from '../virtio/index.js';
import { buildDelta, netDeltaVmsd, withSyntheticChanges } from './early-net.js';
import type { EarlyPolicy } from './early-net.js';
import { emptyRamStats } from './migration-types.js';
import type { MigratableVm } from './migration-types.js';
import { PageScanner, pagesOf } from './ram-pages.js';
import { StreamSender } from './stream-sender.js';
import { RAM_BLOCK_NAME, VCPU_SECTION_IDSTR, vcpuSectionVmsd } from './vmig-sections.js';
import type { VcpuSectionState } from './vmig-sections.js';

/** Writes one full section (the real stop also records it for the vmdesc). */
export type SectionWriter = (enc: StreamEncoder, h: SectionHeader, vmsd: Vmsd, state: VmState, ctx?: VmstateContext) => void;

/** A full section as written: what the trailing vmdesc describes. */
export interface WrittenSection {
  h: SectionHeader;
  vmsd: Vmsd;
  state: VmState;
  ctx: VmstateContext;
}

/** Write one full section and record it in `written` (for the vmdesc). */
export function writeFullSection(written: WrittenSection[], enc: StreamEncoder, h: SectionHeader, vmsd: Vmsd, state: VmState, ctx: VmstateContext = {}): void {
  enc.sectionHeader(h);
  saveState(enc.w, vmsd, state, ctx);
  enc.footer(h.sectionId);
  written.push({ h, vmsd, state, ctx });
}

/** The trailing vmdesc JSON describing `written`, QEMU's layout. */
export function vmdescJson(written: readonly WrittenSection[]): string {
  const devices: JsonObject[] = written.map(({ h, vmsd, state, ctx }) => saveWithVmdesc(new ByteWriter(1 << 16), vmsd, state, h.idstr, h.instanceId, ctx));
  return formatQemuJson({ page_size: 4096, devices });
}

export interface StopSectionIds {
  vcpu: number;
  nic: number;
  ram: { sectionId: number; version: number };
}

/** The early migration in force: the policy and what went in the early section. */
export interface EarlyInForce {
  policy: EarlyPolicy;
  sent: VirtioSavedState;
}

export interface DeviceSectionsOutcome {
  /** virtio-net's state as saved at the stop. */
  netState?: VirtioSavedState;
  /** With early migration: the delta section's size and what it carried. */
  delta?: { bytes: number; changed: string[]; fullReload: boolean };
}

/** vCPU sections, virtio-net (full, or the delta against `early.sent`), EOF. */
export function encodeDeviceSections(enc: StreamEncoder, vm: MigratableVm, ids: StopSectionIds, early: EarlyInForce | undefined, section: SectionWriter): DeviceSectionsOutcome {
  for (const v of vm.vcpus) {
    const st: VcpuSectionState = { guestClockNs: v.guestNowNs(), irqPending: v.pendingInterrupts };
    section(enc, { kind: 'full', sectionId: ids.vcpu + v.index, idstr: VCPU_SECTION_IDSTR, instanceId: v.index, version: 1 }, vcpuSectionVmsd, { ...st });
  }
  const out: DeviceSectionsOutcome = {};
  const nic = vm.nic;
  if (nic) {
    const st = nic.saveState();
    out.netState = st;
    if (early) {
      const ctx = nic.vmstateContext();
      const delta = buildDelta(early.policy, early.sent, st, (full) => {
        const w = new ByteWriter(1 << 16);
        saveState(w, nic.sectionVmsd(), full as unknown as VmState, ctx);
        return w.finish();
      });
      const before = enc.pendingBytes;
      section(enc, { kind: 'full', sectionId: ids.nic, idstr: `${vm.nicIdstr}-delta`, instanceId: 0, version: netDeltaVmsd.version }, netDeltaVmsd, { ...delta } as unknown as VmState);
      out.delta = { bytes: enc.pendingBytes - before, changed: delta.changed, fullReload: delta.fullReload };
    } else {
      section(enc, { kind: 'full', sectionId: ids.nic, idstr: vm.nicIdstr, instanceId: 0, version: nic.sectionVmsd().version }, nic.sectionVmsd(), st as unknown as VmState, nic.vmstateContext());
    }
  }
  enc.eof();
  return out;
}

/** The RAM section's START: the block list (one block, guest RAM), then EOS. */
export function writeRamStart(enc: StreamEncoder, ram: StopSectionIds['ram'], ramBytes: number): void {
  enc.sectionHeader({ kind: 'start', sectionId: ram.sectionId, idstr: 'ram', instanceId: 0, version: ram.version });
  enc.ramBlocks([{ idstr: RAM_BLOCK_NAME, usedLength: ramBytes }]).ramEos().footer(ram.sectionId);
}

/**
 * What a rehearsed tail decodes after: the file header, the RAM blocks, and
 * one page that names the block (the rehearsal's encoder names it once; its
 * later tails CONTINUE).
 */
export function rehearsalStreamHead(ram: StopSectionIds['ram'], ramBytes: number): Uint8Array {
  const enc = new Encoder();
  enc.header();
  writeRamStart(enc, ram, ramBytes);
  enc.sectionHeader({ kind: 'part', sectionId: ram.sectionId, idstr: 'ram', instanceId: 0, version: ram.version });
  enc.ramZero(RAM_BLOCK_NAME, 0).ramEos().footer(ram.sectionId);
  return enc.take();
}

/** Pages a rehearsal encodes as the final pass: few enough that no batch is ever flushed. */
const REHEARSAL_PAGES = 16;
export const REHEARSAL_RUNS = 12;

/**
 * `runs` dry runs of the stop's encoding: an END section of a few pages
 * merged from two dirty snapshots as the stop merges them, then
 * encodeDeviceSections. The first run goes piece by piece, one event-loop
 * turn each (the guest's NIC shares this thread, and a cold piece costs
 * milliseconds); the later ones one turn per run. Guest RAM and device state
 * are only read; `stop()` ends it early. `onEncoded` gets each full run's
 * bytes (the stream's tail, from the END section to EOF).
 */
export async function rehearseStopEncoding(
  vm: MigratableVm,
  ids: StopSectionIds,
  early: EarlyInForce | undefined,
  options: { runs?: number; stop?: () => boolean; onEncoded?: (tail: Uint8Array) => void } = {},
): Promise<void> {
  const enc = new Encoder({ copyPage: copyBytes }, 1 << 20);
  const sender = new StreamSender({
    get link(): never {
      throw new Error('a rehearsal never sends');
    },
    checkCancelled: () => undefined,
    maxBandwidth: 0,
    race: (p) => p,
    ram: emptyRamStats(vm.memory.size),
    ramSection: ids.ram,
  });
  const words = new Uint32Array(Math.ceil(vm.memory.pageCount / 32));
  const a = new DirtySnapshot(vm.memory.pageCount, words);
  const spread = Math.max(1, Math.floor(vm.memory.pageCount / REHEARSAL_PAGES));
  const b = new DirtySnapshot(vm.memory.pageCount, words.map(() => 0));
  for (let k = 0; k < REHEARSAL_PAGES && k * spread < vm.memory.pageCount; k++) {
    const page = k * spread;
    (k % 2 === 0 ? a : b).words[page >>> 5]! |= 1 << (page & 31);
  }
  const scanner = new PageScanner(vm.memory);
  let written: WrittenSection[] = [];
  const write: SectionWriter = (e, h, vmsd, state, ctx) => writeFullSection(written, e, h, vmsd, state, ctx);
  const turn = () => new Promise<void>((r) => setImmediate(r));
  const nic = vm.nic;
  // The cold pieces one by one: pages, a vCPU section, the device's state, the comparison with the early state.
  const pieces: (() => unknown)[] = [
    () => sender.sendPages(enc, scanner, pagesOf(a, b), 'end', 'none'),
    () => encodeDeviceSections(enc, { vcpus: vm.vcpus.slice(0, 1), nic: undefined, nicIdstr: vm.nicIdstr } as unknown as MigratableVm, ids, undefined, write),
    ...(nic ? [() => nic.saveState(), ...(early ? [() => buildDelta(early.policy, early.sent, nic.saveState(), () => new Uint8Array(0))] : [])] : []),
  ];
  // Every other run against an early state with changed categories: the delta then carries their values (per-delta's
  // slices) or the full state (rfc), which a run with nothing changed never encodes.
  const changedEarly = early && { policy: early.policy, sent: withSyntheticChanges(early.sent) };
  for (const piece of pieces) {
    if (options.stop?.()) return;
    await piece();
    enc.take();
    await turn();
  }
  for (let i = 0; i < (options.runs ?? REHEARSAL_RUNS); i++) {
    if (options.stop?.()) return;
    await sender.sendPages(enc, scanner, pagesOf(a, b), 'end', 'none');
    written = [];
    const out = encodeDeviceSections(enc, vm, ids, i % 2 === 1 && changedEarly ? changedEarly : early, write);
    // The early section is described in the vmdesc too: the full virtio-net section.
    if (nic && out.netState) written.push({ h: { kind: 'full', sectionId: ids.nic, idstr: vm.nicIdstr, instanceId: 0, version: nic.sectionVmsd().version }, vmsd: nic.sectionVmsd(), state: out.netState as unknown as VmState, ctx: nic.vmstateContext() });
    vmdescJson(written);
    // The stream's tail as a stop writes it: END pages, vCPUs, virtio-net, EOF (a destination decodes it: incoming.ts).
    const tail = enc.take();
    options.onEncoded?.(tail);
    await turn();
  }
}
