/**
 * bench:vmm — the VMM's own figures (issue #3), in a private network
 * namespace with a 4-queue TAP on a bridge:
 *   - process start → guest ready (network up, admin channel answering), 7 runs,
 *     split by the VMM's start-up trace events (spawn → Node running our
 *     code → machine layer loaded → VM built → guest ready)
 *   - UDP echo round trip through TAP: p50 / p99 of 2000 sequential exchanges
 *   - echo throughput with 64 requests in flight: replies/s (each = 1 RX + 1 TX in the guest)
 *   - vCPU pause and resume latency (QMP stop/cont, and the pause itself as the VMM measures it), 50 cycles
 * Needs root (netns, TAP). Prints a Markdown table.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { vmmEnvironment } from '../src/cli/vm-process.js';
import { QmpClient } from '../src/control/index.js';
import { monotonicMs } from '../src/core/index.js';
import { TestNetns, netnsUnavailableReason } from '../test/support/netns.js';
import { repoRoot } from '../test/support/paths.js';
import { machineLine } from './machine.js';

const skip = netnsUnavailableReason();
if (skip) {
  console.log(`bench:vmm needs a network namespace: ${skip}`);
  process.exit(1);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

async function startVm(ns: TestNetns, dir: string, tap: string, env: NodeJS.ProcessEnv = vmmEnvironment()) {
  const sock = join(dir, `${tap}.sock`);
  const t0 = performance.now();
  const spawnedAtMs = monotonicMs();
  const child = ns.spawn(process.execPath, [
    join(repoRoot, 'bin', 'vmig.js'), 'run', '-machine', 'q35', '-m', '256M', '-smp', '2',
    '-netdev', `tap,id=n0,ifname=${tap},queues=4`, '-device', 'virtio-net-pci,netdev=n0,mq=on,mac=52:54:00:12:34:56',
    '-guest', `ip=${ns.guest}/24`, '-qmp', `unix:${sock},server=on,wait=off`,
    '-trace', 'enable=vmm_process_start', '-trace', 'enable=vmm_modules_loaded', '-trace', 'enable=vmm_vm_started', '-trace', 'enable=vm_first_mmio', '-trace', 'enable=net_driver_ok',
  ], { env });
  let qmp: QmpClient | undefined;
  for (let i = 0; !qmp; i++) {
    try {
      qmp = await QmpClient.connect(sock);
    } catch {
      if (i > 400) throw new Error('QMP never came up');
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  for (;;) {
    const s = (await qmp.execute('x-vmig-guest', { op: 'status' })) as { ready: boolean };
    if (s.ready) break;
    await new Promise((r) => setTimeout(r, 1));
  }
  const readyMs = performance.now() - t0;
  const readyAtMs = monotonicMs();
  const trace = (await qmp.execute('x-vmig-query-trace')) as { events: { name: string; 'time-ms': number }[] };
  const at = (name: string) => trace.events.find((e) => e.name === name)?.['time-ms'] ?? Number.NaN;
  const steps = {
    node: at('vmm_process_start') - spawnedAtMs,
    modules: at('vmm_modules_loaded') - at('vmm_process_start'),
    vm: at('vmm_vm_started') - at('vmm_modules_loaded'),
    firstMmio: at('vm_first_mmio') - at('vmm_process_start'),
    driverOk: at('net_driver_ok') - at('vmm_process_start'),
    guest: readyAtMs - at('vmm_vm_started'),
  };
  await ns.enslave(tap);
  return { child, qmp, readyMs, steps };
}

const ns = new TestNetns('vmig-bench');
const dir = mkdtempSync(join(tmpdir(), 'vmig-bench-'));
try {
  // Launched as vmig's launchers do (vmmEnvironment: no NODE_EXTRA_CA_CERTS),
  // and — when this shell sets it — with the environment as it is, alternating.
  const readies: number[] = [];
  const readiesAsIs: number[] = [];
  const steps: Record<string, number[]> = { node: [], modules: [], vm: [], guest: [], firstMmio: [], driverOk: [] };
  const caBundle = process.env.NODE_EXTRA_CA_CERTS !== undefined;
  for (let i = 0; i < 7; i++) {
    for (const asIs of caBundle ? [false, true] : [false]) {
      const vm = await startVm(ns, dir, `btap${i}${asIs ? 'e' : ''}`, asIs ? process.env : vmmEnvironment());
      (asIs ? readiesAsIs : readies).push(vm.readyMs);
      if (!asIs) for (const [k, v] of Object.entries(vm.steps)) steps[k]!.push(v);
      await vm.qmp.execute('quit').catch(() => undefined);
      await new Promise((r) => vm.child.once('exit', r));
    }
  }
  const vm = await startVm(ns, dir, 'btap9');
  await new Promise((r) => setTimeout(r, 300));
  const rtt = JSON.parse(ns.exec('node', [join(repoRoot, 'test', 'support', 'udp-rtt.mjs'), ns.guest, '7777', '2000', '3000', '64'], 60_000)) as { p50Us: number; p99Us: number; maxUs: number; lost: number; floodRepliesPerSec: number };
  const stops: number[] = [];
  const conts: number[] = [];
  for (let i = 0; i < 50; i++) {
    let t = performance.now();
    await vm.qmp.execute('stop');
    stops.push(performance.now() - t);
    t = performance.now();
    await vm.qmp.execute('cont');
    conts.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 30));
  }
  await new Promise((r) => setTimeout(r, 50));
  const timing = (await vm.qmp.execute('x-vmig-query-timing')) as { 'pause-ms': number[]; 'resume-ms': number[] };
  const status = (await vm.qmp.execute('x-vmig-guest', { op: 'status' })) as { net: { queues: { rx_packets: number; tx_packets: number }[] } };
  await vm.qmp.execute('quit').catch(() => undefined);
  await new Promise((r) => vm.child.once('exit', r));

  console.log(`bench:vmm — ${machineLine()}`);
  console.log('');
  console.log('| figure | value | target |');
  console.log('|---|---:|---|');
  console.log(`| process start → guest ready (median of ${readies.length}) | ${median(readies).toFixed(0)} ms (min ${Math.min(...readies).toFixed(0)}, max ${Math.max(...readies).toFixed(0)}) | < 300 ms |`);
  console.log(`| … of which, medians: spawn → Node runs vmig (ip netns exec, Node's bootstrap) · → machine layer loaded · → VM built, QMP up · → guest ready | ${['node', 'modules', 'vm', 'guest'].map((k) => median(steps[k]!).toFixed(0)).join(' · ')} ms | |`);
  console.log(`| … the guest's first MMIO exit · its NIC's DRIVER_OK, after the process started (medians) | ${median(steps.firstMmio!).toFixed(0)} · ${median(steps.driverOk!).toFixed(0)} ms | |`);
  if (readiesAsIs.length > 0) console.log(`| the same, with this shell's NODE_EXTRA_CA_CERTS (Node parses the bundle at start) | ${median(readiesAsIs).toFixed(0)} ms (min ${Math.min(...readiesAsIs).toFixed(0)}, max ${Math.max(...readiesAsIs).toFixed(0)}) | |`);
  console.log(`| UDP echo round trip through TAP, p50 / p99 (2000 exchanges) | ${rtt.p50Us} µs / ${rtt.p99Us} µs (max ${rtt.maxUs}, lost ${rtt.lost}) | |`);
  console.log(`| UDP echo throughput, 64 in flight (RX and TX each) | ${rtt.floodRepliesPerSec} packets/s | |`);
  console.log(`| vCPU pause (request → every vCPU parked), p50 / p99 of ${timing['pause-ms'].length} | ${pct(timing['pause-ms'], 0.5).toFixed(3)} / ${pct(timing['pause-ms'], 0.99).toFixed(3)} ms | < 1 ms |`);
  console.log(`| vCPU resume (cont → every vCPU running), p50 / p99 of ${timing['resume-ms'].length} | ${pct(timing['resume-ms'], 0.5).toFixed(3)} / ${pct(timing['resume-ms'], 0.99).toFixed(3)} ms | < 1 ms |`);
  console.log(`| QMP stop round trip (adds socket + JSON), p50 / p99 | ${pct(stops, 0.5).toFixed(2)} / ${pct(stops, 0.99).toFixed(2)} ms | |`);
  console.log(`| QMP cont round trip, p50 / p99 | ${pct(conts, 0.5).toFixed(2)} / ${pct(conts, 0.99).toFixed(2)} ms | |`);
  console.log('');
  console.log(`guest per-queue counters: ${JSON.stringify(status.net.queues)}`);
} finally {
  ns.destroy();
  rmSync(dir, { recursive: true, force: true });
}
