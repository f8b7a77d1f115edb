/**
 * V8 optimises a function only after it has run a few times, and the first
 * run also pays for parsing and compiling: a cold virtio-net save costs
 * ~35 ms, a warm one ~1 ms. The device paths a switchover needs — save the
 * device, encode the section, decode it, check it against the device — are
 * therefore run ahead of time, one run per event-loop turn so the guest's
 * datapath (on the same thread) keeps flowing: when a VM starts, and again
 * by each migration (cheap once warm).
 */

import { ByteReader, ByteWriter } from '../core/index.js';
import type { VirtioNetDevice } from '../devices/net/index.js';
import type { VirtioSavedState } from '../virtio/index.js';
import { loadState, saveState } from '../vmstate/index.js';
import type { VmState } from '../vmstate/index.js';
import { applyDelta, buildDelta, copyForMerge, netDeltaVmsd, withSyntheticChanges } from './early-net.js';
import type { NetDelta } from './early-net.js';

export const WARM_UP_RUNS = 12;

/**
 * Resolves after `runs` turns, or earlier when `stop()` says so. Without
 * `apply` it has no effect on the device. With `apply` — only for a
 * destination's pristine device, before any guest state has arrived — the
 * device also loads its own initial state back (the backend untouched) and is
 * unquiesced and quiesced again, which leaves it as it was and warms the
 * apply and resume code too.
 */
export async function warmUpNetPaths(nic: VirtioNetDevice, options: { runs?: number; stop?: () => boolean; apply?: boolean } = {}): Promise<void> {
  const vmsd = nic.sectionVmsd();
  for (let i = 0; i < (options.runs ?? WARM_UP_RUNS); i++) {
    if (options.stop?.()) return;
    const ctx = nic.vmstateContext();
    const w = new ByteWriter(1 << 16);
    saveState(w, vmsd, nic.saveState() as unknown as VmState, ctx);
    const back: VmState = {};
    loadState(new ByteReader(w.finish()), vmsd, back, vmsd.version, ctx);
    if (options.apply) {
      nic.loadState(back as unknown as VirtioSavedState, { deferBackendAttach: true });
      // The switchover's first unquiesce (right after "running") runs cold
      // otherwise: 2–4 ms of the VMM thread the resumed guest's first packets
      // wait for. On a device no driver has set up it starts nothing.
      nic.unquiesce();
      nic.quiesce();
    } else nic.checkState(back as unknown as VirtioSavedState);
    // The early-migration comparison and delta paths (early-net.ts), on copies.
    const delta = buildDelta('per-delta', back as unknown as VirtioSavedState, nic.saveState(), () => new Uint8Array(0));
    applyDelta(back as unknown as VirtioSavedState, throughDeltaSection(delta), () => back as unknown as VirtioSavedState);
    // And a delta that carries categories (per-delta's slices), merged and checked as a switchover does.
    exerciseSlices(nic, back as unknown as VirtioSavedState, { ramLoaded: options.apply !== true });
    await new Promise<void>((r) => setImmediate(r));
  }
}

/** `delta` encoded as the delta section and decoded back, as the destination receives it. */
function throughDeltaSection(delta: NetDelta): NetDelta {
  const w = new ByteWriter(4096);
  saveState(w, netDeltaVmsd, { ...delta } as unknown as VmState);
  const back: VmState = {};
  loadState(new ByteReader(w.finish()), netDeltaVmsd, back, 1);
  return back as unknown as NetDelta;
}

/** buildDelta with changed categories, the delta section's codec, applyDelta's slice decoding and merge, the full check. */
function exerciseSlices(nic: VirtioNetDevice, base: VirtioSavedState, check: { ramLoaded: boolean }): void {
  const delta = buildDelta('per-delta', base, withSyntheticChanges(base), () => new Uint8Array(0));
  const merged = applyDelta(copyForMerge(base), throughDeltaSection(delta), () => base);
  // The changed MAC and rx-mode are valid values; the check is the one a switchover makes.
  try {
    nic.checkState(merged, check);
  } catch {
    // A pristine device's own state may not pass every check against itself: only the code's warmth matters here.
  }
}

/**
 * A destination holding an early migration's state (loadProvisional): run
 * the switchover's resync checks `runs` times, one per event-loop turn,
 * reading ring indices from the RAM that has arrived so far, without
 * applying anything,
 * so the switchover finds that code optimised.
 */
export async function warmUpResync(nic: VirtioNetDevice, early: VirtioSavedState, options: { runs?: number; stop?: () => boolean } = {}): Promise<void> {
  const minimal = { lastAvailIdx: early.queues.map((q) => q.lastAvailIdx), isr: early.isr, pba: early.msix?.pba ?? new Uint8Array(0) };
  for (let i = 0; i < (options.runs ?? WARM_UP_RUNS); i++) {
    if (options.stop?.()) return;
    // With the ring indices read from RAM, as at the switchover: RAM is still
    // arriving, so what they say is meaningless and a refusal is expected.
    try {
      nic.checkResync(minimal);
    } catch {
      nic.checkResync(minimal, { ramLoaded: false });
    }
    await new Promise<void>((r) => setImmediate(r));
  }
}
