/**
 * `vmig demo`: the main job in one command. As root it creates its own
 * network namespace with a bridge and two TAPs, boots a VM (256 MiB, 2 vCPUs,
 * 4 queue pairs, the memory workload), runs the 10 ms UDP probe from the
 * namespace, live-migrates the VM back and forth between the TAPs, prints a
 * table — downtime, total time, max probe gap, lost probes — and removes
 * everything it created, also on Ctrl-C.
 */

import { describeError } from '../core/index.js';
import { parseSize } from '../machine/index.js';
import { NetworkNamespace, UdpProbe, makeTempDir, netnsUnavailableReason, removeTree } from '../host/index.js';
import type { Output } from './analyze.js';
import { MigrationSeries, median } from './migration-series.js';
import type { MigrationResult } from './migration-series.js';

export const DEMO_USAGE = `usage: vmig demo [--migrations N] [--dirty-rate RATE] [--max-bandwidth RATE] [--vhost]

Boots a VM in a private network namespace and live-migrates it N times (default 6)
between two TAPs on a bridge while a UDP probe pings it every 10 ms, alternating the
classic path (early-mig=off) and early virtio-net migration (per-delta). Needs root.
  --dirty-rate RATE      the guest's memory workload (default 8M bytes/s)
  --max-bandwidth RATE   pre-copy bandwidth limit (default 256M bytes/s)
  --vhost                the datapath in a vmig vhost-user-net process per VM (vhost=on)`;

/** A size in QEMU's spelling (8M, 1G, bytes without a suffix), as `-guest dirty-rate=` takes it. */
function parseRate(text: string, option: string): number {
  const bytes = parseSize(text);
  if (bytes === undefined) throw new Error(`${option}: '${text}' is not a size (e.g. 8M)`);
  return bytes;
}

function modeOf(r: MigrationResult): string {
  return (r.xvmig['early-mig'] as { used?: boolean } | undefined)?.used ? 'early' : 'classic';
}

export async function runDemo(argv: string[], io: Output): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(DEMO_USAGE);
    return 0;
  }
  let migrations = 6;
  let dirty = '8M';
  let bandwidth = 256 << 20;
  let vhost = false;
  try {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === '--vhost') {
        vhost = true;
        continue;
      }
      const v = argv[i + 1];
      if (v === undefined) throw new Error(`${a} needs a value`);
      if (a === '--migrations') migrations = Number(v);
      else if (a === '--dirty-rate') dirty = (parseRate(v, a), v);
      else if (a === '--max-bandwidth') bandwidth = parseRate(v, a);
      else throw new Error(`unknown option ${a}`);
      i++;
    }
    if (!Number.isInteger(migrations) || migrations < 1 || migrations > 100) throw new Error('--migrations takes 1…100');
  } catch (err) {
    io.err(`vmig demo: ${(err as Error).message}\n${DEMO_USAGE}`);
    return 2;
  }
  const why = netnsUnavailableReason();
  if (why) {
    io.err(`vmig demo: needs root with network namespaces and TAP: ${why}`);
    return 1;
  }

  const tty = Boolean(process.stdout.isTTY);
  // On a terminal the progress line is rewritten in place; otherwise one line per step.
  const progress = (line: string) => (tty ? void process.stdout.write(`\r\x1b[2K… ${line}`) : io.out(`… ${line}`));
  const ns = new NetworkNamespace('vmig-demo');
  const dir = makeTempDir('vmig-demo-');
  const probe = UdpProbe.start(ns, ns.guest, 7777, 10);
  const series = new MigrationSeries({
    ns,
    dir,
    probe,
    vm: { ip: `${ns.guest}/24`, memory: '256M', cpus: 2, queues: 4, workload: { size: '64M', dirtyRate: dirty }, vhostUser: vhost },
    parameters: { 'max-bandwidth': bandwidth, 'downtime-limit': 300 },
    onProgress: progress,
    // Odd migrations classic, even ones early: set on the source before each (early-mig is a runtime property).
    beforeMigrate: async (src, _dst, index) => {
      await src.qmp.execute('qom-set', { path: '/machine/peripheral-anon/device[0]', property: 'early-mig', value: index % 2 === 0 });
    },
  }, ['vmig-tap0', 'vmig-tap1']);
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    probe.kill();
    await series.close();
    ns.destroy();
    removeTree(dir);
  };
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    io.err('\nvmig demo: interrupted; removing the namespace, TAPs and VMs');
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  io.out(`vmig demo: namespace ${ns.name}, bridge br0 ${ns.host}/24, TAPs ${series.taps.join(' and ')}; guest ${ns.guest}, 256 MiB, 2 vCPUs, 4 queue pairs, workload 64 MiB at ${dirty}B/s; datapath ${vhost ? 'vmig vhost-user-net (vhost-user)' : 'TAP in the VMM'}`);
  const results: MigrationResult[] = [];
  try {
    await series.boot();
    progress('guest up; UDP probe every 10 ms');
    await new Promise((r) => setTimeout(r, 500));
    await probe.mark();
    for (let i = 0; i < migrations; i++) {
      const r = await series.migrate();
      results.push(r);
      if (tty) process.stdout.write('\r\x1b[2K');
      io.out(r.status === 'completed'
        ? `migration ${r.index} (${modeOf(r)}): ${series.taps[(r.index + 1) % 2]} → ${series.taps[r.index % 2]}  downtime ${r.downtimeMs.toFixed(1)} ms, probe gap ${r.maxGapMs.toFixed(1)} ms, ${r.lostProbes} lost`
        : `migration ${r.index}: ${r.status}: ${r.error ?? ''}`);
      if (r.status !== 'completed') break;
    }
    const s = await series.current?.guestStatus();
    io.out('');
    io.out('  #  mode       downtime (ms)  total (ms)  max probe gap (ms)  lost probes');
    for (const r of results) io.out(`${String(r.index).padStart(3)}  ${modeOf(r).padEnd(9)}  ${r.downtimeMs.toFixed(1).padStart(13)}  ${String(r.totalMs).padStart(10)}  ${r.maxGapMs.toFixed(1).padStart(18)}  ${String(r.lostProbes).padStart(11)}`);
    for (const mode of ['classic', 'early']) {
      const rs = results.filter((r) => modeOf(r) === mode);
      if (rs.length > 0) io.out(`median ${mode.padEnd(9)} ${median(rs.map((r) => r.downtimeMs)).toFixed(1).padStart(13)}  ${String(median(rs.map((r) => r.totalMs))).padStart(10)}  ${median(rs.map((r) => r.maxGapMs)).toFixed(1).padStart(18)}`);
    }
    io.out('');
    io.out('classic = early-mig=off: virtio-net is saved, sent and loaded inside the downtime; early = early virtio-net');
    io.out('migration (per-delta): the device state went in the setup phase, only a delta at the stop.');
    io.out(`downtime = source stop → destination running (QEMU's measure with a return path); the guest verified ${s?.workload?.verified ?? '?'} pages with ${s?.workload?.errors ?? '?'} errors.`);
    return results.every((r) => r.status === 'completed') && (s?.workload?.errors ?? 1) === 0 ? 0 : 1;
  } catch (err) {
    // After Ctrl-C the cleanup kills what the loop was waiting on: not news.
    if (!interrupted) io.err(`\nvmig demo: ${describeError(err)}`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await probe.stop().catch(() => undefined);
    await cleanup();
  }
}
