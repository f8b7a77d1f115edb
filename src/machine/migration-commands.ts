/**
 * The migration QMP commands (QEMU's names, arguments and error wording):
 * migrate, migrate-incoming, query-migrate, migrate_cancel,
 * migrate-set-capabilities / query-migrate-capabilities,
 * migrate-set-parameters / query-migrate-parameters, announce-self, and
 * x-vmig-query-migration-device-state (the virtio-net state the source sent
 * and the destination loaded, for field-by-field comparison).
 *
 * One MigrationController per VM holds the capabilities and parameters (they
 * persist across migrations, as in QEMU) and the current migration.
 */

import { describeError } from '../core/index.js';
import { QmpError } from '../control/index.js';
import type { QmpCommandRegistry } from '../control/index.js';
import { CPU_LATENCY_MAX_US } from '../host/index.vmm.js';
import { MIGRATION_CAPABILITIES, DEFAULT_PARAMETERS, SUPPORTED_CAPABILITIES, announceSelf, parseMigrationUri } from '../migration/index.control.js';
import type { MigratableVm, MigrationCapability, MigrationParameters, MigrationUri } from '../migration/index.control.js';
import type { IncomingMigration, OutgoingMigration } from '../migration/index.js';

type MigrationEngine = typeof import('../migration/index.js');
let engine: Promise<MigrationEngine> | undefined;

/**
 * The migration engine (incoming, outgoing, the stream codec, early
 * migration), loaded on first use — or ahead of it, by the VM once it has
 * started — rather than with the VMM: a few dozen modules off the start-up.
 */
export function loadMigrationEngine(): Promise<MigrationEngine> {
  return (engine ??= import('../migration/index.js'));
}

const PARAMETER_NAMES: [Exclude<keyof MigrationParameters, 'recordDeviceState'>, string][] = [
  ['downtimeLimitMs', 'downtime-limit'],
  ['maxBandwidth', 'max-bandwidth'],
  ['announceInitialMs', 'announce-initial'],
  ['announceMaxMs', 'announce-max'],
  ['announceRounds', 'announce-rounds'],
  ['announceStepMs', 'announce-step'],
  ['cpuLatencyUs', 'x-vmig-cpu-latency'],
];

export class MigrationController {
  readonly #vm: MigratableVm;
  readonly capabilities = new Set<MigrationCapability>();
  readonly parameters: MigrationParameters = { ...DEFAULT_PARAMETERS };
  outgoing: OutgoingMigration | undefined;
  #starting = false;
  incoming: IncomingMigration | undefined;
  /** -incoming defer and migrate-incoming not yet given. */
  #deferred: boolean;
  readonly #onIncomingDone: (ok: boolean) => void;

  constructor(vm: MigratableVm, options: { deferredIncoming: boolean; onIncomingDone: (ok: boolean) => void }) {
    this.#vm = vm;
    this.#deferred = options.deferredIncoming;
    this.#onIncomingDone = options.onIncomingDone;
  }

  get active(): boolean {
    return this.#starting || (this.outgoing !== undefined && !this.outgoing.finished);
  }

  /** -incoming URI, or migrate-incoming after -incoming defer. */
  async startIncoming(uriText: string): Promise<IncomingMigration> {
    const uri = parseMigrationUri(uriText);
    const { IncomingMigration } = await loadMigrationEngine();
    const inc = new IncomingMigration(this.#vm, {
      uri,
      announce: this.#announceParams(),
      events: () => this.capabilities.has('events'),
      recordDeviceState: () => this.parameters.recordDeviceState,
      cpuLatencyUs: () => this.parameters.cpuLatencyUs,
    });
    this.incoming = inc;
    await inc.start();
    void inc.done.then((ok) => this.#onIncomingDone(ok));
    return inc;
  }

  #announceParams() {
    const p = this.parameters;
    return { initial: p.announceInitialMs, max: p.announceMaxMs, rounds: p.announceRounds, step: p.announceStepMs };
  }

  register(r: QmpCommandRegistry, runState: () => string): void {
    r.register<{ uri?: string }>({
      name: 'migrate',
      args: { '*uri': 'str', '*detach': 'bool', '*resume': 'bool', '*blk': 'bool', '*inc': 'bool', '*channels': { list: 'any' } },
      handler: async (a) => {
        if (a.uri === undefined) throw new QmpError('GenericError', "vmig takes the migration target as 'uri' (channels are not supported)");
        const state = runState();
        if (state === 'inmigrate') throw new QmpError('GenericError', 'Guest is waiting for an incoming migration');
        if (this.active) throw new QmpError('GenericError', "There's a migration process in progress");
        if (state !== 'running' && state !== 'paused') throw new QmpError('GenericError', `Cannot migrate a VM that is ${state}`);
        const blocker = this.#vm.nic?.backend.external?.migrationBlocker;
        if (blocker) throw new QmpError('GenericError', blocker);
        let uri: MigrationUri;
        try {
          uri = parseMigrationUri(a.uri);
        } catch (err) {
          throw new QmpError('GenericError', describeError(err));
        }
        // Counted as active while the engine loads (already loaded, normally): a second migrate is refused.
        this.#starting = true;
        try {
          const { OutgoingMigration } = await loadMigrationEngine();
          this.outgoing = new OutgoingMigration(this.#vm, { uri, parameters: this.parameters, capabilities: this.capabilities });
        } finally {
          this.#starting = false;
        }
        return {};
      },
    });
    r.register<{ uri?: string }>({
      name: 'migrate-incoming',
      args: { '*uri': 'str', '*channels': { list: 'any' }, '*exit-on-error': 'bool' },
      handler: async (a) => {
        if (a.uri === undefined) throw new QmpError('GenericError', "vmig takes the migration source as 'uri' (channels are not supported)");
        if (this.incoming) throw new QmpError('GenericError', 'The incoming migration has already been started');
        if (!this.#deferred) throw new QmpError('GenericError', "'-incoming' was not specified on the command line");
        this.#deferred = false;
        try {
          await this.startIncoming(a.uri);
        } catch (err) {
          this.#deferred = true;
          this.incoming = undefined;
          throw new QmpError('GenericError', describeError(err));
        }
        return {};
      },
    });
    r.register({
      name: 'query-migrate',
      handler: () => this.outgoing?.info() ?? this.incoming?.info() ?? {},
    });
    r.register({
      name: 'migrate_cancel',
      handler: () => {
        this.outgoing?.cancel();
        return {};
      },
    });
    r.register<{ capabilities: { capability: MigrationCapability; state: boolean }[] }>({
      name: 'migrate-set-capabilities',
      args: { capabilities: { list: { struct: { capability: { enum: MIGRATION_CAPABILITIES }, state: 'bool' } } } },
      handler: (a) => {
        if (this.active) throw new QmpError('GenericError', "There's a migration process in progress");
        const next = new Set(this.capabilities);
        for (const c of a.capabilities) {
          if (c.state && !SUPPORTED_CAPABILITIES.has(c.capability)) throw new QmpError('GenericError', `Capability '${c.capability}' is not supported by vmig`);
          if (c.state) next.add(c.capability);
          else next.delete(c.capability);
        }
        if (next.has('switchover-ack') && !next.has('return-path')) throw new QmpError('GenericError', "Capability 'switchover-ack' requires capability 'return-path'");
        this.capabilities.clear();
        for (const c of next) this.capabilities.add(c);
        return {};
      },
    });
    r.register({
      name: 'query-migrate-capabilities',
      handler: () => MIGRATION_CAPABILITIES.map((c) => ({ capability: c, state: this.capabilities.has(c) })),
    });
    r.register<Record<string, number> & { 'x-vmig-record-device-state'?: boolean }>({
      name: 'migrate-set-parameters',
      args: { '*downtime-limit': 'uint64', '*max-bandwidth': 'size', '*announce-initial': 'size', '*announce-max': 'size', '*announce-rounds': 'size', '*announce-step': 'size', '*x-vmig-record-device-state': 'bool', '*x-vmig-cpu-latency': 'int' },
      handler: (a) => {
        const check = (name: string, max: number, what: string, min = 0) => {
          const v = a[name];
          if (v !== undefined && (v < min || v > max)) throw new QmpError('GenericError', `Parameter '${name.replace(/-/g, '_')}' expects ${what}`);
        };
        check('downtime-limit', 2_000_000, 'an integer in the range of 0 to 2000000 milliseconds');
        check('announce-initial', 100_000, 'an integer in the range of 0 to 100000 milliseconds');
        check('announce-max', 100_000, 'an integer in the range of 0 to 100000 milliseconds');
        check('announce-rounds', 1000, 'an integer in the range of 0 to 1000');
        check('announce-step', 10_000, 'an integer in the range of 1 to 10000 milliseconds', 1);
        check('x-vmig-cpu-latency', CPU_LATENCY_MAX_US, `an integer in the range of -1 (no request) to ${CPU_LATENCY_MAX_US} microseconds`, -1);
        // Applied together, after every check: a refused call changes nothing. A running migration sees the new values at once.
        for (const [key, name] of PARAMETER_NAMES) if (a[name] !== undefined) (this.parameters[key] as number) = a[name]!;
        if (a['x-vmig-record-device-state'] !== undefined) this.parameters.recordDeviceState = a['x-vmig-record-device-state'];
        return {};
      },
    });
    r.register({
      name: 'query-migrate-parameters',
      handler: () => ({ ...Object.fromEntries(PARAMETER_NAMES.map(([key, name]) => [name, this.parameters[key]])), 'x-vmig-record-device-state': this.parameters.recordDeviceState }),
    });
    r.register<{ initial?: number; max?: number; rounds?: number; step?: number }>({
      name: 'announce-self',
      args: { '*initial': 'size', '*max': 'size', '*rounds': 'size', '*step': 'size', '*interfaces': { list: 'str' }, '*id': 'str' },
      handler: (a) => {
        const nic = this.#vm.nic;
        if (nic) {
          const d = this.#announceParams();
          announceSelf(nic, { initial: a.initial ?? d.initial, max: a.max ?? d.max, rounds: a.rounds ?? d.rounds, step: Math.max(1, a.step ?? d.step) });
        }
        return {};
      },
    });
    r.register({
      name: 'x-vmig-query-migration-device-state',
      handler: () => ({
        sent: this.outgoing?.sentNetState ? jsonSafe(this.outgoing.sentNetState) : null,
        loaded: this.incoming?.loadedNetState ? jsonSafe(this.incoming.loadedNetState) : null,
      }),
    });
  }

  close(): void {
    this.outgoing?.cancel();
    this.incoming?.close();
  }
}

/** Device state as JSON: bigints as decimal strings, bytes as hex. */
export function jsonSafe(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}

