/**
 * Interop with a third-party vhost-user backend: DPDK's testpmd with the
 * net_vhost vdev (Debian's dpdk-dev; .ci/run installs it). testpmd listens,
 * vmig's VMM connects as the frontend. testpmd runs interactive so that it
 * forwards (io mode: what a port receives it sends back on the same port)
 * only while a test asks: a forwarding lcore busy-polls a whole core, and
 * this machine has two.
 *
 * Shown: DPDK accepts vmig's start sequence (features, memory table, dirty
 * log, rings, REPLY_ACK acks); frames cross DPDK's datapath both ways; a live
 * migration between two testpmd backends (GET_VRING_BASE on the source, the
 * early split on the destination) completes with the guest's memory intact
 * and its traffic flowing through the destination's testpmd.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { VmProcess } from '../src/cli/vm-process.js';
import { netnsUnavailableReason } from './support/netns.js';
import { VmLab, assertGuestVerifies } from './support/vm-lab.js';

const TESTPMD = ['/usr/bin/dpdk-testpmd', '/usr/local/bin/dpdk-testpmd'].find((p) => existsSync(p));
const skip = netnsUnavailableReason() ?? (TESTPMD ? undefined : 'dpdk-testpmd is not installed (apt-get install dpdk-dev)');
if (skip) console.log(`# dpdk-interop skipped: ${skip}`);

const DEVICE = '/machine/peripheral-anon/device[0]';

class Testpmd {
  readonly socket: string;
  readonly #child: ChildProcess;
  readonly exited: Promise<number>;
  log = '';

  private constructor(socket: string, child: ChildProcess) {
    this.socket = socket;
    this.#child = child;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.log += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.log += d));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  }

  static async start(socket: string, name: string): Promise<Testpmd> {
    const child = spawn(
      TESTPMD!,
      ['--no-huge', '-m', '512', '--no-pci', `--file-prefix=${name}-${process.pid}`, '--vdev', `net_vhost0,iface=${socket},queues=1,client=0`, '-l', '0-1', '--', '-i', '--total-num-mbufs=8192', '--forward-mode=io', '--nb-cores=1', '--rxq=1', '--txq=1'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const pmd = new Testpmd(socket, child);
    const end = Date.now() + 20_000;
    while (!existsSync(socket) || !pmd.log.includes('testpmd>')) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`testpmd did not come up:\n${pmd.log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return pmd;
  }

  command(line: string): void {
    this.#child.stdin!.write(`${line}\n`);
  }

  async stop(): Promise<void> {
    this.command('quit');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

async function rxTx(vm: VmProcess): Promise<{ rx: number; tx: number }> {
  const s = (await vm.guestStatus()) as { net?: { queues?: { rx_packets: number; tx_packets: number }[] } };
  const q = s.net?.queues ?? [];
  return { rx: q.reduce((a, x) => a + x.rx_packets, 0), tx: q.reduce((a, x) => a + x.tx_packets, 0) };
}

/** With testpmd forwarding, the guest's flood comes back to it: its RX count grows. */
async function assertEchoed(vm: VmProcess, pmd: Testpmd, what: string): Promise<void> {
  pmd.command('start');
  try {
    const before = await rxTx(vm);
    await vm.qmp.execute('x-vmig-guest', { op: 'tx-flood', ms: 300 });
    const end = Date.now() + 5000;
    let now = before;
    while (now.rx - before.rx < 10) {
      assert.ok(Date.now() < end, `${what}: the guest received ${now.rx - before.rx} frames back through testpmd (sent ${now.tx - before.tx})\n${pmd.log.slice(-2000)}\n${vm.log}`);
      await new Promise((r) => setTimeout(r, 50));
      now = await rxTx(vm);
    }
    assert.ok(now.tx - before.tx >= 10, `${what}: the guest sent its flood`);
  } finally {
    pmd.command('stop');
  }
}

describe('DPDK testpmd (net_vhost) as the vhost-user backend', { skip }, () => {
  let lab: VmLab;
  const pmds: Testpmd[] = [];

  before(() => {
    lab = new VmLab('vmig-dpdk', { queues: 1, workload: { size: '32M', dirtyRate: '20M' } });
  });

  after(async () => {
    lab?.close();
    await Promise.all(pmds.map((p) => p.stop().catch(() => undefined)));
  });

  test('vmig starts DPDK’s rings, frames cross DPDK both ways, and a migration between two testpmd backends keeps the guest whole', async () => {
    const a = await Testpmd.start(join(lab.dir, 'pmd-a.sock'), 'vmig-a');
    pmds.push(a);
    const b = await Testpmd.start(join(lab.dir, 'pmd-b.sock'), 'vmig-b');
    pmds.push(b);
    const src = await lab.start('vm0', 'dpa', { vhostUserSocket: a.socket });
    await src.waitReady();
    await assertEchoed(src, a, 'before the migration');

    const dst = await lab.start('vm1', 'dpb', { vhostUserSocket: b.socket, incoming: 'tcp:127.0.0.1:4790' });
    await dst.qmp.execute('migrate-set-parameters', { 'x-vmig-record-device-state': true });
    await src.qmp.execute('qom-set', { path: DEVICE, property: 'early-mig', value: true });
    const out = await src.migrate('tcp:127.0.0.1:4790', { parameters: { 'downtime-limit': 30, 'max-bandwidth': 1 << 30 } });
    assert.equal(out.status, 'completed', `${JSON.stringify(out.info)}\n${src.log}\n${dst.log}\n${b.log.slice(-2000)}`);
    assert.equal((out.info['x-vmig'] as { 'early-mig'?: { used?: boolean } })['early-mig']?.used, true);
    const sent = ((await src.qmp.execute('x-vmig-query-migration-device-state')) as { sent: unknown }).sent;
    const loaded = ((await dst.qmp.execute('x-vmig-query-migration-device-state')) as { loaded: unknown }).loaded;
    assert.deepEqual(loaded, sent, "the destination's virtio-net state differs from the source's");
    assert.equal(await src.quit(), 0);
    await assertGuestVerifies(dst, 'after the migration', 50, 200);
    await assertEchoed(dst, b, 'after the migration');
  });
});
