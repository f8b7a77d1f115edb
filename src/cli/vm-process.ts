/**
 * A `vmig run` process inside a network namespace, driven over QMP: what
 * `vmig demo`, bench:migrate and the migration tests start, migrate and stop.
 */

import { QmpClient } from '../control/index.js';
import type { QmpEvent } from '../control/index.js';
import type { NetworkNamespace } from '../host/index.js';
import { VmigError } from '../core/index.js';

const VMIG_BIN = new URL('../../../bin/vmig.js', import.meta.url).pathname;

export interface VmSpec {
  /** TAP interface the VM opens (joined to the namespace's bridge). */
  tap: string;
  /** Guest IPv4 address with prefix, e.g. 10.1.2.2/24. */
  ip: string;
  mac?: string;
  memory?: string;
  cpus?: number;
  queues?: number;
  /** Memory workload: bytes and dirty rate (e.g. '64M', '50M'). */
  workload?: { size: string; dirtyRate: string };
  machine?: string;
  /** -incoming URI (a destination). */
  incoming?: string;
  /** Extra `-device` properties for virtio-net-pci (e.g. 'early-mig=off'). */
  deviceExtra?: string;
  /** -serial target; default none. */
  serial?: string;
  /** -trace patterns to enable (read them with QMP x-vmig-query-trace). */
  trace?: string[];
  /**
   * The datapath in a `vmig vhost-user-net` process serving the TAP (QEMU's
   * vhost=on), started with the VMM and stopped after it; otherwise the VMM
   * opens the TAP itself.
   */
  vhostUser?: boolean;
  /** A vhost-user backend already listening at this path (DPDK's testpmd, say): the VMM connects to it. */
  vhostUserSocket?: string;
}

/**
 * The environment a launched VMM gets: this process's, without
 * NODE_EXTRA_CA_CERTS. Node 20 reads and parses that CA bundle while it
 * starts, before any JavaScript runs — 60–140 ms on this machine, a third of
 * a VMM's start-up — and a VMM never opens a TLS connection.
 */
export function vmmEnvironment(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env = { ...base };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** The vhost-user socket of a VMM whose QMP socket is `qmpSocket`. */
export function vhostUserSocket(qmpSocket: string): string {
  return `${qmpSocket}.vu`;
}

export function vmArgs(spec: VmSpec, qmpSocket: string): string[] {
  const q = spec.queues ?? 4;
  const vuSocket = spec.vhostUserSocket ?? (spec.vhostUser ? vhostUserSocket(qmpSocket) : undefined);
  const netdev = vuSocket !== undefined
    ? ['-chardev', `socket,id=c0,path=${vuSocket}`, '-netdev', `vhost-user,id=n0,chardev=c0,queues=${q}`]
    : ['-netdev', `tap,id=n0,ifname=${spec.tap},queues=${q}`];
  const args = [
    'run', '-machine', spec.machine ?? 'q35', '-m', spec.memory ?? '256M', '-smp', String(spec.cpus ?? 2),
    ...netdev,
    '-device', `virtio-net-pci,netdev=n0,mq=${q > 1 ? 'on' : 'off'},mac=${spec.mac ?? '52:54:00:12:34:56'}${spec.deviceExtra ? `,${spec.deviceExtra}` : ''}`,
    '-guest', `ip=${spec.ip}${spec.workload ? `,workload=${spec.workload.size},dirty-rate=${spec.workload.dirtyRate}` : ''}`,
    '-qmp', `unix:${qmpSocket},server=on,wait=off`, '-serial', spec.serial ?? 'none',
  ];
  for (const t of spec.trace ?? []) args.push('-trace', `enable=${t}`);
  if (spec.incoming) args.push('-incoming', spec.incoming);
  return args;
}

export interface MigrationOutcome {
  status: string;
  info: Record<string, unknown>;
}

export class VmProcess {
  readonly name: string;
  readonly qmp: QmpClient;
  /** stderr and stdout of the process so far. */
  log = '';
  /** Resolves with the exit code (or -1 when killed by a signal). */
  readonly exited: Promise<number>;
  /** The VMM's process id: also the thread id of its event-loop thread. */
  readonly pid: number;
  /** The `vmig vhost-user-net` process serving it (spec.vhostUser), else undefined. */
  readonly backendPid: number | undefined;
  readonly #kill: () => void;

  private constructor(name: string, pid: number, qmp: QmpClient, exited: Promise<number>, kill: () => void, logRef: { log: string }, backendPid?: number) {
    this.name = name;
    this.pid = pid;
    this.backendPid = backendPid;
    this.qmp = qmp;
    this.exited = exited;
    this.#kill = kill;
    Object.defineProperty(this, 'log', { get: () => logRef.log });
  }

  /** Spawn `vmig run` in `ns` (environment: vmmEnvironment()) and connect to its QMP socket (the guest may still be booting). */
  static async start(ns: NetworkNamespace, name: string, spec: VmSpec, qmpSocket: string, timeoutMs = 10_000): Promise<VmProcess> {
    const logRef = { log: '' };
    const backend = spec.vhostUser ? await startVhostUserNet(ns, spec, vhostUserSocket(qmpSocket), logRef, timeoutMs) : undefined;
    const child = ns.spawn(process.execPath, [VMIG_BIN, ...vmArgs(spec, qmpSocket)], { env: vmmEnvironment() });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (logRef.log += d));
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (logRef.log += d));
    // The backend outlives its VMM by nothing: it stops once the VMM has exited.
    const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1))).then(async (code) => {
      await backend?.stop();
      return code;
    });
    let gone = false;
    void exited.then(() => (gone = true));
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        const qmp = await QmpClient.connect(qmpSocket);
        return new VmProcess(name, child.pid ?? -1, qmp, exited, () => child.kill('SIGKILL'), logRef, backend?.pid);
      } catch (err) {
        if (gone || Date.now() > end) {
          child.kill('SIGKILL');
          await backend?.stop();
          throw new VmigError('ERR_CLI_VM_START_FAILED', `${name} did not come up: ${logRef.log.trim() || (err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }

  async guestStatus(): Promise<{ ready: boolean; workload?: { verified: number; errors: number; bytesWritten: number }; net?: Record<string, unknown> }> {
    return this.qmp.execute('x-vmig-guest', { op: 'status' });
  }

  async waitReady(timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    // A destination answers "inmigrate" until its guest arrives.
    while (!(await this.guestStatus().catch(() => ({ ready: false }))).ready) {
      if (Date.now() > end) throw new VmigError('ERR_CLI_VM_START_FAILED', `${this.name}: the guest did not become ready`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * Migrate to `uri` with the given capabilities and parameters; resolves
   * once the migration completed, failed or was cancelled, with query-migrate.
   */
  async migrate(uri: string, options: { capabilities?: string[]; parameters?: Record<string, number>; timeoutMs?: number; onActive?: () => Promise<void> } = {}): Promise<MigrationOutcome> {
    const caps = ['events', ...(options.capabilities ?? ['return-path'])];
    await this.qmp.execute('migrate-set-capabilities', { capabilities: caps.map((c) => ({ capability: c, state: true })) });
    if (options.parameters) await this.qmp.execute('migrate-set-parameters', options.parameters);
    const mark = this.qmp.eventMark();
    await this.qmp.execute('migrate', { uri });
    if (options.onActive) {
      await this.qmp.waitForEvent('MIGRATION', { since: mark, timeoutMs: options.timeoutMs ?? 60_000, predicate: (e) => ['active', 'completed', 'failed', 'cancelled'].includes(String((e.data as { status?: string } | undefined)?.status)) });
      await options.onActive();
    }
    const ev: QmpEvent = await this.qmp.waitForEvent('MIGRATION', {
      since: mark,
      timeoutMs: options.timeoutMs ?? 60_000,
      predicate: (e) => ['completed', 'failed', 'cancelled'].includes(String((e.data as { status?: string } | undefined)?.status)),
    });
    const info = (await this.qmp.execute('query-migrate')) as Record<string, unknown>;
    return { status: String((ev.data as { status: string }).status), info };
  }

  /** quit over QMP and wait for the exit code (SIGKILL after the timeout). */
  async quit(timeoutMs = 5000): Promise<number> {
    await this.qmp.execute('quit').catch(() => undefined);
    const timer = setTimeout(() => this.#kill(), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
      await this.qmp.close().catch(() => undefined);
    }
  }

  kill(): void {
    this.#kill();
    void this.qmp.close().catch(() => undefined);
  }
}

/** A `vmig vhost-user-net` child serving `spec.tap`, listening once this resolves. */
async function startVhostUserNet(ns: NetworkNamespace, spec: VmSpec, socket: string, logRef: { log: string }, timeoutMs: number): Promise<{ pid: number | undefined; stop(): Promise<void> }> {
  const child = ns.spawn(process.execPath, [VMIG_BIN, 'vhost-user-net', '--socket', socket, '--ifname', spec.tap, '--queues', String(spec.queues ?? 4)], { env: vmmEnvironment() });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (logRef.log += `[vhost-user-net] ${d}`));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new VmigError('ERR_CLI_VM_START_FAILED', `vmig vhost-user-net for ${spec.tap} did not come up: ${logRef.log.trim()}`));
    }, timeoutMs);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new VmigError('ERR_CLI_VM_START_FAILED', `vmig vhost-user-net for ${spec.tap} exited: ${logRef.log.trim()}`));
    });
  });
  return {
    pid: child.pid,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}
