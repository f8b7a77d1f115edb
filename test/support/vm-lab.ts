/**
 * What the migration tests share: a private namespace, a temp dir for QMP
 * sockets and consoles, `vmig run` processes started in it (TAP on the
 * bridge), and the check that a guest still runs cleanly.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { VmProcess } from '../../src/cli/vm-process.js';
import type { VmSpec } from '../../src/cli/vm-process.js';
import { TestNetns } from './netns.js';
import { repoRoot } from './paths.js';

export class VmLab {
  readonly ns: TestNetns;
  readonly dir: string;
  readonly vms: VmProcess[] = [];
  readonly #defaults: Partial<VmSpec>;

  constructor(prefix: string, defaults: Partial<VmSpec> = {}) {
    this.ns = new TestNetns(prefix);
    this.dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    this.#defaults = defaults;
  }

  /** The console file of VM `name` (-serial file:). */
  consolePath(name: string): string {
    return join(this.dir, `${name}.console`);
  }

  /** Start `vmig run` as `name` on `tap` (joined to the bridge) with the lab's defaults and `extra`. */
  async start(name: string, tap: string, extra: Partial<VmSpec> = {}): Promise<VmProcess> {
    const spec: VmSpec = { tap, ip: `${this.ns.guest}/24`, serial: `file:${this.consolePath(name)}`, ...this.#defaults, ...extra };
    const vm = await VmProcess.start(this.ns, name, spec, join(this.dir, `${name}.sock`));
    this.vms.push(vm);
    // A third-party vhost-user backend (DPDK) has no TAP to join the bridge.
    if (spec.vhostUserSocket === undefined) await this.ns.enslave(tap);
    return vm;
  }

  close(): void {
    for (const vm of this.vms) vm.kill();
    this.ns.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The guest runs and its memory is intact: its verifier checks `pages` more
 * pages and finds no stale one (polled every 10 ms, `attempts` times at most).
 */
export async function assertGuestVerifies(vm: VmProcess, what: string, pages = 20, attempts = 300): Promise<void> {
  const s0 = await vm.guestStatus();
  for (let k = 0; ; k++) {
    const s = await vm.guestStatus();
    assert.equal(s.workload!.errors, 0, `${what}: guest memory verification errors`);
    if (s.workload!.verified > s0.workload!.verified + pages) return;
    assert.ok(k < attempts, `${what}: the guest's verifier did not progress`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Counts frames from the guest's MAC (52:54:00:12:34:56) seen on `iface` in
 * `ns` — ethertype `ethertype` ('8035' for RARP, 'all' for any) — until the
 * returned stop() (at most 60 s). Resolves once the counter is listening.
 */
export async function countGuestFrames(ns: TestNetns, iface: string, ethertype: string): Promise<() => Promise<number>> {
  const child = ns.spawn('python3', [join(repoRoot, 'test', 'support', 'count-frames.py'), iface, ethertype, '52:54:00:12:34:56', '60']);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; !out.includes('ready'); i++) {
    assert.ok(i < 200, 'the frame counter did not start');
    await new Promise((r) => setTimeout(r, 10));
  }
  return async () => {
    child.kill('SIGTERM');
    await exited;
    return Number(out.trim().split('\n').pop());
  };
}
