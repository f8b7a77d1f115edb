/**
 * The VM-wide options: -machine, -m, -smp, -name, -qmp, -incoming, -serial,
 * -accel, and vmig's -guest. Each function parses one option's text into its
 * VmConfig piece, or throws one line naming the option.
 */

import { matchTraceEvents } from '../core/index.js';
import { MEMFD_REGION_MAX_BYTES } from '../host/index.vmm.js';
import { MACHINE_TYPES, MAX_VCPUS, findMachineType } from './machine-types.js';
import type { MachineType } from './machine-types.js';
import { OptionBag, optionError, splitOption, suggestion } from './option-bag.js';
import { formatSize, parseSize, parseUint } from './qemu-option-syntax.js';
import { DEFAULT_UDP_ECHO_PORT, MIN_MEMORY_BYTES } from './vm-config.js';
import type { GuestConfig, IncomingConfig, QmpEndpointConfig, SerialConfig } from './vm-config.js';

/** Accelerators accepted for QEMU compatibility; vmig always runs its own guest. */
const ACCELERATORS = ['tcg', 'vmig'];

export function checkAccelerator(label: string, value: string): void {
  for (const a of value.split(':')) {
    if (a === 'kvm' || a === 'hvf' || a === 'whpx') throw optionError(label, `accelerator '${a}' is not available: vmig runs its own guest in worker threads (use tcg or omit it)`);
    if (!ACCELERATORS.includes(a)) throw optionError(label, `unknown accelerator '${a}'${suggestion(a, ACCELERATORS)}`);
  }
}

/** `-machine TYPE[,accel=...]` (also `-M`). */
export function parseMachine(text: string): MachineType {
  const bag = new OptionBag('-machine', splitOption('-machine', text, 'type'));
  const type = bag.string('type');
  const accel = bag.string('accel');
  if (accel !== undefined) checkAccelerator('-machine', accel);
  if (bag.bool('usb', false)) throw optionError('-machine', 'usb=on: vmig has no USB controller');
  bag.bool('dump-guest-core', false);
  bag.finish(['type', 'accel', 'usb', 'dump-guest-core']);
  if (type === undefined) throw optionError('-machine', `a machine type is required (vmig supports: ${machineList()})`);
  const machine = findMachineType(type);
  if (!machine) throw optionError('-machine', `unsupported machine type '${type}' (vmig supports: ${machineList()})`, 'ERR_MACHINE_UNKNOWN_TYPE');
  return machine;
}

function machineList(): string {
  return MACHINE_TYPES.map((m) => (m.alias ? `${m.name} (alias ${m.alias})` : m.name)).join(', ');
}

/** `-m [size=]SIZE`, MiB unless suffixed, rounded up to 8 KiB as QEMU does. */
export function parseMemory(text: string): number {
  const bag = new OptionBag('-m', splitOption('-m', text, 'size'));
  const raw = bag.string('size');
  bag.finish(['size']);
  if (raw === undefined) throw optionError('-m', 'a size is required, e.g. -m 256M');
  const bytes = parseSize(raw, 'M');
  if (bytes === undefined) throw optionError('-m', `invalid size '${raw}' (a number with an optional K, M, G or T suffix; MiB by default)`);
  const rounded = Math.ceil(bytes / 8192) * 8192;
  if (rounded < MIN_MEMORY_BYTES) throw optionError('-m', `${raw} is below vmig's minimum of ${formatSize(MIN_MEMORY_BYTES)}`);
  if (rounded > MEMFD_REGION_MAX_BYTES) throw optionError('-m', `${raw} is above vmig's maximum of ${formatSize(MEMFD_REGION_MAX_BYTES)}`);
  return rounded;
}

/** `-smp [cpus=]N[,maxcpus=N][,sockets=,cores=,threads=]`; vmig has no CPU hotplug. */
export function parseSmp(text: string): number {
  const bag = new OptionBag('-smp', splitOption('-smp', text, 'cpus'));
  const cpus = bag.uint('cpus', 1, MAX_VCPUS, 1);
  const maxcpus = bag.uint('maxcpus', 1, MAX_VCPUS, cpus);
  const [sockets, dies, cores, threads] = ['sockets', 'dies', 'cores', 'threads'].map((k) => bag.uint(k, 1, MAX_VCPUS, 0)) as [number, number, number, number];
  bag.finish(['cpus', 'maxcpus', 'sockets', 'dies', 'cores', 'threads']);
  if (maxcpus !== cpus) throw optionError('-smp', `maxcpus=${maxcpus} differs from cpus=${cpus}; vmig has no CPU hotplug`);
  // QEMU fills in missing topology numbers; given ones must fit, and all of them must multiply to cpus.
  const given = [sockets, dies, cores, threads].filter((n) => n > 0);
  if (given.length > 0) {
    const product = given.reduce((a, b) => a * b, 1);
    const complete = sockets > 0 && cores > 0 && threads > 0;
    if (complete ? product !== cpus : cpus % product !== 0) throw optionError('-smp', `the topology (${given.join(' × ')} = ${product}) does not fit cpus=${cpus}`);
  }
  return cpus;
}

/** `-name NAME[,process=...][,debug-threads=on|off]`. */
export function parseName(text: string): string {
  const bag = new OptionBag('-name', splitOption('-name', text, 'guest'));
  const name = bag.requiredString('guest');
  bag.string('process');
  bag.bool('debug-threads', false);
  bag.finish(['guest', 'process', 'debug-threads']);
  return name;
}

/** `-qmp unix:PATH,server=on,wait=off` (also the old `server,nowait` flags). */
export function parseQmp(text: string): QmpEndpointConfig {
  if (!text.startsWith('unix:')) throw optionError('-qmp', `'${text}' is not supported (vmig serves QMP on unix:PATH,server=on,wait=off)`);
  const pairs = splitOption('-qmp', text.slice('unix:'.length), 'path').map((p) => (p.key === 'nowait' && p.value === undefined ? { key: 'wait', value: 'off' } : p));
  const bag = new OptionBag('-qmp', pairs);
  const path = bag.requiredString('path');
  const server = bag.bool('server', false);
  const wait = bag.bool('wait', true);
  bag.finish(['path', 'server', 'wait']);
  if (!server) throw optionError('-qmp', 'server=on is required (vmig does not connect out to a QMP client)');
  return { transport: 'unix', path, wait };
}

/** `-incoming defer | tcp:HOST:PORT | unix:PATH | file:PATH` (the URI is taken verbatim, as QEMU does). */
export function parseIncoming(text: string): IncomingConfig {
  if (text === 'defer') return { kind: 'defer' };
  const tcp = /^tcp:(\[[0-9a-fA-F:.]+\]|[^:[\]]*):([^:]+)$/.exec(text);
  if (tcp) {
    const port = parseUint(tcp[2]!);
    if (port === undefined || port > 65535) throw optionError('-incoming', `invalid port '${tcp[2]}' in '${text}' (0..65535)`);
    const host = tcp[1]!.startsWith('[') ? tcp[1]!.slice(1, -1) : tcp[1]!;
    return { kind: 'tcp', uri: text, host, port };
  }
  if (text.startsWith('unix:') && text.length > 'unix:'.length) return { kind: 'unix', uri: text, path: text.slice('unix:'.length) };
  if (text.startsWith('file:') && text.length > 'file:'.length) return { kind: 'file', uri: text, path: text.slice('file:'.length) };
  throw optionError('-incoming', `unsupported URI '${text}' (vmig takes defer, tcp:HOST:PORT, unix:PATH or file:PATH)`);
}

/**
 * `-trace [enable=]PATTERN`: enable the trace events the glob matches (QEMU's
 * syntax). vmig's trace backend is memory, read with QMP x-vmig-query-trace,
 * so QEMU's events= and file= have nothing to act on and are refused.
 */
export function parseTrace(text: string): string {
  const bag = new OptionBag('-trace', splitOption('-trace', text, 'enable'));
  const pattern = bag.string('enable');
  for (const k of ['events', 'file']) {
    if (bag.has(k)) throw optionError('-trace', `${k}= is not supported: vmig keeps trace events in memory (read them with QMP x-vmig-query-trace); use -trace enable=PATTERN`);
  }
  bag.finish(['enable']);
  if (pattern === undefined || pattern === '') throw optionError('-trace', 'a pattern is required, e.g. -trace enable=migrate_*');
  if (matchTraceEvents(pattern).length === 0) throw optionError('-trace', `no trace event matches '${pattern}' (docs/BENCHMARKS.md, "Tracing", lists them)`);
  return pattern;
}

/** `-serial none|null|stdio|file:PATH`. */
export function parseSerial(text: string): SerialConfig {
  if (text === 'none' || text === 'null' || text === 'stdio') return { kind: text };
  if (text.startsWith('file:') && text.length > 'file:'.length) return { kind: 'file', path: text.slice('file:'.length) };
  throw optionError('-serial', `unsupported '${text}' (vmig takes none, null, stdio or file:PATH)`);
}

function parseIpv4Cidr(value: string): { address: string; prefixLength: number } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefixLength = Number(m[5]);
  if (octets.some((o) => o > 255) || prefixLength < 1 || prefixLength > 32) return undefined;
  return { address: octets.join('.'), prefixLength };
}

/** vmig's `-guest ip=A.B.C.D/N,udp-echo=PORT|off,workload=SIZE,dirty-rate=BYTES_PER_SEC`. */
export function parseGuest(text: string): GuestConfig {
  const bag = new OptionBag('-guest', splitOption('-guest', text));
  const ipText = bag.string('ip');
  const ip = ipText === undefined ? undefined : parseIpv4Cidr(ipText);
  if (ipText !== undefined && ip === undefined) throw optionError('-guest', `ip expects A.B.C.D/N (prefix 1..32), got '${ipText}'`);
  const echo = bag.take('udp-echo');
  let udpEchoPort: number | undefined = DEFAULT_UDP_ECHO_PORT;
  if (echo.present) {
    udpEchoPort = echo.value === 'off' ? undefined : parseUint(echo.value ?? '');
    if (echo.value !== 'off' && (udpEchoPort === undefined || udpEchoPort < 1 || udpEchoPort > 65535)) throw optionError('-guest', `udp-echo must be a port 1..65535 or off, got '${echo.value ?? ''}'`);
  }
  const sizeOf = (key: string): number | undefined => {
    const v = bag.string(key);
    if (v === undefined) return undefined;
    const n = parseSize(v, 'B');
    if (n === undefined) throw optionError('-guest', `${key}: invalid size '${v}' (bytes, or with a K, M, G suffix)`);
    return n;
  };
  const workloadBytes = sizeOf('workload');
  const dirtyRate = sizeOf('dirty-rate');
  bag.finish(['ip', 'udp-echo', 'workload', 'dirty-rate']);
  if (dirtyRate !== undefined && workloadBytes === undefined) throw optionError('-guest', 'dirty-rate needs workload=SIZE (the pages it dirties)');
  if (workloadBytes === 0) throw optionError('-guest', 'workload must be larger than 0');
  return {
    ...(ip ? { ip } : {}),
    udpEchoPort,
    ...(workloadBytes === undefined ? {} : { workload: { bytes: workloadBytes, dirtyRateBytesPerSec: dirtyRate ?? 0 } }),
  };
}
