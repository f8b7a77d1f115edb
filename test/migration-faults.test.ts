/**
 * Issue #4: file: migration and failure semantics, in a private namespace.
 *
 *   - a stream written with file: decodes with `vmig analyze` (virtio-net by
 *     the same description that decodes the QEMU 7.2 fixture), and
 *     `-incoming file:` resumes the guest from it;
 *   - the destination killed during setup, pre-copy and stop-and-copy; the
 *     connection cut mid-stream; a corrupted byte; a wrong machine type;
 *     migrate_cancel; a second migrate during one. Each ends with the
 *     source's guest running (its memory verifier still clean), a clear
 *     error in query-migrate, and the destination gone — exiting non-zero
 *     when it refused — without ever having run the guest;
 *   - a destination holding the early virtio-net state provisionally when
 *     the stream breaks (a corrupt byte, the source killed) discards it:
 *     exit 1, the guest never run, not one frame on its TAP.
 *
 * One source VM serves every fault case: surviving them in a row is the point.
 * A proxy between source and destination (unix sockets reach across the
 * namespace) acts at the precise point of the stream each case needs.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { VmProcess, VmSpec } from '../src/cli/vm-process.js';
import { analyzeStream } from '../src/cli/stream-analysis.js';
import { readInputFile } from '../src/host/index.js';
import { holdsCpuLatencyRequest } from './support/cpu-latency.js';
import { MigrationProxy } from './support/migration-proxy.js';
import type { ProxyActions } from './support/migration-proxy.js';
import { netnsUnavailableReason } from './support/netns.js';
import { VmLab, assertGuestVerifies, countGuestFrames } from './support/vm-lab.js';
import { repoRoot } from './support/paths.js';

const skip = netnsUnavailableReason();
if (skip) console.log(`# migration-faults skipped: ${skip}`);

const WORKLOAD = { size: '32M', dirtyRate: '20M' };
/** Slow enough that pre-copy lasts seconds: room to act in the middle of it. */
const SLOW = { 'max-bandwidth': 16 << 20, 'downtime-limit': 300 };
const FAST = { 'max-bandwidth': 1 << 30, 'downtime-limit': 300 };

describe('migration through file: and failure semantics', { skip }, () => {
  let lab: VmLab;
  let source: VmProcess;
  let n = 0;
  const startVm = (name: string, tap: string, extra: Partial<VmSpec> = {}) => lab.start(name, tap, extra);

  before(async () => {
    lab = new VmLab('vmig-flt', { workload: WORKLOAD });
    source = await startVm('source', 'tapsrc');
    await source.waitReady();
  });

  // Whatever a failed test left open goes too: a listening proxy would keep this process alive.
  const proxies: MigrationProxy[] = [];
  after(async () => {
    await Promise.all(proxies.map((p) => p.close().catch(() => undefined)));
    lab?.close();
  });

  /** A destination on a unix socket, and a proxy in front of it. */
  async function destination(actions: ProxyActions, extra: Partial<VmSpec> = {}) {
    const name = `dst${++n}`;
    const dst = await startVm(name, `tapd${n}`, { incoming: `unix:${join(lab.dir, `${name}.mig`)}`, ...extra });
    const proxy = await MigrationProxy.listen(join(lab.dir, `${name}.proxy`), join(lab.dir, `${name}.mig`), actions);
    proxies.push(proxy);
    return { dst, proxy, uri: `unix:${proxy.path}`, console: lab.consolePath(name) };
  }

  /** The source after a failed or cancelled migration: running, answering, memory verified clean. */
  async function sourceSurvived(): Promise<void> {
    assert.deepEqual(await source.qmp.execute('query-status'), { status: 'running', running: true, singlestep: false });
    assert.equal(holdsCpuLatencyRequest(source.pid), false, 'the failed migration dropped its CPU latency request');
    await assertGuestVerifies(source, 'the source guest');
    const ping = lab.ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', lab.ns.guest]);
    assert.match(ping, /2 received/);
  }

  /**
   * Counts the frames a VMM writes to its TAP `tap` with the guest's MAC
   * (every ethertype: RARP, the guest's own traffic), until `stop()`.
   */
  const framesFrom = (tap: string) => countGuestFrames(lab.ns, tap, 'all');

  /** The destination never ran the guest: its console never said "resumed". */
  function neverRan(consolePath: string): void {
    const text = existsSync(consolePath) ? readFileSync(consolePath, 'utf8') : '';
    assert.doesNotMatch(text, /resumed/);
  }

  async function expectFailure(uri: string, params: Record<string, number>, match: RegExp) {
    const out = await source.migrate(uri, { parameters: params });
    assert.equal(out.status, 'failed', JSON.stringify(out.info));
    assert.match(String(out.info['error-desc']), match);
    return out;
  }

  test("QMP: capabilities and parameters with QEMU's names, defaults, ranges and errors", async () => {
    const q = source.qmp;
    assert.deepEqual(await q.execute('query-migrate'), {});
    assert.deepEqual(await q.execute('query-migrate-parameters'), {
      'downtime-limit': 300, 'max-bandwidth': 134217728, 'announce-initial': 50, 'announce-max': 550, 'announce-rounds': 5, 'announce-step': 100, 'x-vmig-cpu-latency': 0, 'x-vmig-record-device-state': false,
    });
    await assert.rejects(q.execute('migrate-set-parameters', { 'downtime-limit': 2_000_001 }), /Parameter 'downtime_limit' expects an integer in the range of 0 to 2000000 milliseconds/);
    await assert.rejects(q.execute('migrate-set-parameters', { 'announce-step': 0 }), /Parameter 'announce_step' expects an integer in the range of 1 to 10000 milliseconds/);
    await assert.rejects(q.execute('migrate-set-parameters', { 'x-vmig-cpu-latency': -2 }), /Parameter 'x_vmig_cpu_latency' expects an integer in the range of -1 \(no request\) to 2000000000 microseconds/);
    await assert.rejects(q.execute('migrate-set-parameters', { 'multifd-channels': 4 }), /Parameter 'multifd-channels' is unexpected/);
    assert.equal(((await q.execute('query-migrate-parameters')) as Record<string, number>)['downtime-limit'], 300, 'a refused call changed nothing');
    const cap = (capability: string, state: boolean) => ({ capability, state });
    await assert.rejects(q.execute('migrate-set-capabilities', { capabilities: [cap('switchover-ack', true)] }), /Capability 'switchover-ack' requires capability 'return-path'/);
    await assert.rejects(q.execute('migrate-set-capabilities', { capabilities: [cap('postcopy-ram', true)] }), /Capability 'postcopy-ram' is not supported by vmig/);
    await assert.rejects(q.execute('migrate-set-capabilities', { capabilities: [cap('no-such-cap', true)] }), /does not accept value 'no-such-cap'/);
    await q.execute('migrate-set-capabilities', { capabilities: [cap('return-path', true), cap('switchover-ack', true), cap('events', true)] });
    const caps = (await q.execute('query-migrate-capabilities')) as { capability: string; state: boolean }[];
    assert.deepEqual(caps.filter((c) => c.state).map((c) => c.capability).sort(), ['events', 'return-path', 'switchover-ack']);
    assert.ok(caps.some((c) => c.capability === 'xbzrle' && !c.state));
    await assert.rejects(q.execute('migrate', { uri: 'exec:cat > /dev/null' }), /the exec: transport is not supported by vmig/);
    await assert.rejects(q.execute('migrate-incoming', { uri: 'tcp:127.0.0.1:1' }), /'-incoming' was not specified on the command line/);
    // switchover-ack stays on for the cases below: the migrations then also wait for the destination's acknowledgement.
  });

  test('file: a saved stream decodes with vmig analyze, and -incoming file: resumes the guest from it', async () => {
    const path = join(lab.dir, 'saved.mig');
    const src = await startVm('filesrc', 'tapf1');
    await src.waitReady();
    // switchover-ack on, as a management tool might leave it: a file has no return path, so it must not wait.
    await src.qmp.execute('migrate-set-capabilities', { capabilities: ['return-path', 'switchover-ack'].map((c) => ({ capability: c, state: true })) });
    const out = await src.migrate(`file:${path}`, { capabilities: [], parameters: FAST });
    assert.equal(out.status, 'completed', JSON.stringify(out.info));
    assert.equal((out.info['x-vmig'] as Record<string, unknown>)['downtime-measured-to'], 'source-sent');
    const before = await src.guestStatus().catch(() => undefined);
    assert.equal(before, undefined, 'x-vmig-guest is refused once the guest has moved away');
    assert.equal(await src.quit(), 0);

    // The analyzer decodes all of it; virtio-net through the 7.2 description the QEMU fixture uses.
    const report = analyzeStream(readInputFile(path), '7.2');
    assert.equal(report.machine, 'pc-q35-11.1');
    const net = report.devices.find((d) => d.idstr.endsWith('/virtio-net'));
    assert.ok(net?.net, 'the virtio-net section decodes');
    const summary = net.net.net as Record<string, unknown>;
    assert.equal(summary.mac, '52:54:00:12:34:56');
    assert.equal(summary.curr_queue_pairs, 4);
    assert.ok(report.devices.some((d) => d.idstr === 'vmig-vcpu' && d.instance_id === 1));
    const cli = execFileSync(process.execPath, [join(repoRoot, 'bin', 'vmig.js'), 'analyze', path, '--device', 'virtio-net', '--json'], { encoding: 'utf8' });
    assert.equal((JSON.parse(cli) as { net: { mac: string } }).net.mac, '52:54:00:12:34:56');

    const restored = await startVm('filedst', 'tapf2', { incoming: `file:${path}` });
    await restored.waitReady();
    const s = await restored.guestStatus();
    assert.equal((s as { bootCount?: number }).bootCount, 2, 'resumed, not booted');
    assert.equal(s.workload!.errors, 0);
    // The resumed kernel logs it 50 ms after it runs again (kernel.ts): wait for the line.
    let consoleText = '';
    for (let i = 0; i < 100 && !/vmig guest: resumed/.test(consoleText); i++) {
      await new Promise((r) => setTimeout(r, 20));
      consoleText = readFileSync(lab.consolePath('filedst'), 'utf8');
    }
    assert.match(consoleText, /vmig guest: resumed/);
    assert.equal(await restored.quit(), 0);
  });

  test('a wrong machine type is refused before anything happens', async () => {
    const d = await destination({}, { machine: 'pc-q35-10.0' });
    await expectFailure(d.uri, FAST, /Machine type mismatch: the stream is for pc-q35-11\.1, this VM is pc-q35-10\.0/);
    assert.equal(await d.dst.exited, 1);
    neverRan(d.console);
    await d.proxy.close();
    await sourceSurvived();
  });

  test('the destination killed during setup', async () => {
    let d!: Awaited<ReturnType<typeof destination>>;
    d = await destination({ onItem: (it) => void (it.type === 'header' && d.dst.kill()) });
    await expectFailure(d.uri, SLOW, /destination|closed|reset|EPIPE/i);
    assert.notEqual(await d.dst.exited, 0);
    neverRan(d.console);
    await d.proxy.close();
    await sourceSurvived();
  });

  test('the destination killed during pre-copy', async () => {
    let pages = 0;
    let d!: Awaited<ReturnType<typeof destination>>;
    d = await destination({ onItem: (it) => void (it.type === 'ram-page' && ++pages === 2000 && d.dst.kill()) });
    const mark = source.qmp.eventMark();
    const out = await expectFailure(d.uri, SLOW, /destination|closed|reset|EPIPE/i);
    assert.ok(pages >= 2000);
    // q35's default: the destination had loaded the early virtio-net section provisionally when it died.
    assert.equal(((out.info['x-vmig'] as Record<string, unknown>)['early-mig'] as { used: boolean }).used, true);
    assert.equal(source.qmp.eventsSince(mark).filter((e) => e.event === 'STOP').length, 0, 'pre-copy never stopped the VM');
    assert.notEqual(await d.dst.exited, 0);
    neverRan(d.console);
    await d.proxy.close();
    await sourceSurvived();
  });

  test('the destination killed during stop-and-copy: the source resumes its VM', async () => {
    let d!: Awaited<ReturnType<typeof destination>>;
    d = await destination({ onItem: (it) => void (it.type === 'section' && it.header.kind === 'end' && d.dst.kill()) });
    const mark = source.qmp.eventMark();
    await expectFailure(d.uri, FAST, /destination|closed|reset|EPIPE/i);
    const events = source.qmp.eventsSince(mark).map((e) => e.event);
    assert.ok(events.indexOf('STOP') >= 0 && events.indexOf('RESUME') > events.indexOf('STOP'), `the VM stopped and resumed: ${events.join(' ')}`);
    assert.notEqual(await d.dst.exited, 0);
    neverRan(d.console);
    await d.proxy.close();
    await sourceSurvived();
  });

  test('the connection cut mid-stream: the destination refuses to run a stream without EOF', async () => {
    let pages = 0;
    const d = await destination({ onItem: (it) => (it.type === 'ram-page' && ++pages === 3000 ? 'cut' : undefined) });
    await expectFailure(d.uri, SLOW, /destination|closed|reset|EPIPE/i);
    assert.equal(await d.dst.exited, 1);
    assert.match(d.dst.log, /ended at byte \d+, before EOF/);
    neverRan(d.console);
    await d.proxy.close();
    await sourceSurvived();
  });

  test('a corrupted byte after the early section: the destination says where and why, discards its provisional state, sends nothing', async () => {
    let target = -1;
    let acked = false;
    const d = await destination({
      // The destination acknowledges once it has loaded the early section provisionally.
      keepReturn: (m) => {
        if (m.type === 'switchover-ack') acked = true;
        return true;
      },
      onItem: (it) => {
        // The first RAM section that starts after the acknowledgement came back: the early load is done by then.
        if (target < 0 && acked && it.type === 'section' && it.header.kind === 'part') target = it.offset;
      },
      mangle: (chunk, offset) => {
        if (target >= offset && target < offset + chunk.length) chunk[target - offset] = 0x55;
        return chunk;
      },
    });
    const frames = await framesFrom(`tapd${n}`);
    await expectFailure(d.uri, FAST, /the destination refused: Unknown savevm section type 0x55 at offset \d+/);
    assert.ok(d.proxy.seen.includes('section:full:0000:00:02.0/virtio-net-early') && acked, 'the early section was loaded (and acknowledged) before the corrupt byte');
    assert.equal(await d.dst.exited, 1);
    neverRan(d.console);
    assert.equal(await frames(), 0, 'nothing from the destination on the network: no RARP, no guest frame');
    await d.proxy.close();
    await sourceSurvived();
  });

  test('the source killed after the early section: the destination discards its provisional state, exits 1, never runs the guest, sends nothing', async () => {
    const src = await startVm('ksrc', 'tapks');
    await src.waitReady();
    let acked = false;
    let killed = false;
    const d = await destination({
      onItem: (it) => {
        // The first RAM page after the early section: the source dies mid-pre-copy.
        if (!killed && it.type === 'ram-page') {
          killed = true;
          src.kill();
        }
      },
      keepReturn: (m) => {
        if (m.type === 'switchover-ack') acked = true;
        return true;
      },
    });
    const frames = await framesFrom(`tapd${n}`);
    await src.qmp.execute('migrate-set-capabilities', { capabilities: ['events', 'return-path'].map((c) => ({ capability: c, state: true })) });
    await src.qmp.execute('migrate-set-parameters', SLOW);
    await src.qmp.execute('migrate', { uri: d.uri }).catch(() => undefined);
    assert.equal(await d.dst.exited, 1);
    assert.ok(killed && acked && d.proxy.seen.includes('section:full:0000:00:02.0/virtio-net-early'), 'the destination held the early state provisionally when the source died');
    assert.match(d.dst.log, /before EOF: nothing was applied and the guest was not started/);
    neverRan(d.console);
    assert.equal(await frames(), 0, 'nothing from the destination on the network: no RARP, no guest frame');
    await d.proxy.close();
  });

  test('a destination that does not know early migration (no hello on the return path): the classic path, said so, completed', async () => {
    const d = await destination({ keepReturn: (m) => !(m.type === 'report' && m.report.hello) });
    const mark = source.qmp.eventMark();
    const out = await source.migrate(d.uri, { parameters: FAST });
    assert.equal(out.status, 'completed', JSON.stringify(out.info));
    const early = (out.info['x-vmig'] as Record<string, unknown>)['early-mig'] as { used: boolean; 'negotiated-down': string };
    assert.equal(early.used, false);
    assert.equal(early['negotiated-down'], 'the destination does not support early migration');
    assert.deepEqual(source.qmp.eventsSince(mark).filter((e) => e.event === 'X_VMIG_EARLY_MIGRATION').map((e) => e.data), [{ status: 'negotiated-down', reason: 'the destination does not support early migration' }]);
    // The guest now runs on the destination; it becomes the source of the remaining cases.
    await source.quit();
    source = d.dst;
    await source.qmp.execute('migrate-set-capabilities', { capabilities: ['events', 'return-path'].map((c) => ({ capability: c, state: true })) });
    await d.proxy.close();
    await sourceSurvived();
  });

  test('migrate_cancel during pre-copy; a second migrate during one is refused', async () => {
    const d = await destination({});
    await source.qmp.execute('migrate-set-parameters', SLOW);
    const mark = source.qmp.eventMark();
    await source.qmp.execute('migrate', { uri: d.uri });
    await source.qmp.waitForEvent('MIGRATION', { since: mark, predicate: (e) => (e.data as { status: string }).status === 'active' });
    await assert.rejects(source.qmp.execute('migrate', { uri: d.uri }), /There's a migration process in progress/);
    await new Promise((r) => setTimeout(r, 300));
    await source.qmp.execute('migrate_cancel');
    await source.qmp.waitForEvent('MIGRATION', { since: mark, predicate: (e) => (e.data as { status: string }).status === 'cancelled' });
    const statuses = source.qmp.eventsSince(mark).filter((e) => e.event === 'MIGRATION').map((e) => (e.data as { status: string }).status);
    assert.deepEqual(statuses, ['setup', 'active', 'cancelling', 'cancelled']);
    assert.equal(((await source.qmp.execute('query-migrate')) as { status: string }).status, 'cancelled');
    assert.equal(await d.dst.exited, 1);
    neverRan(d.console);
    await d.proxy.close();
    await sourceSurvived();
  });
});
