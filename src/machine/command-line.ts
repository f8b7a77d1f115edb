/**
 * `vmig run` argv → VmConfig (DESIGN §7), QEMU-shaped:
 *
 *   -machine|-M TYPE[,accel=]  -m SIZE  -smp N  -name NAME  -S
 *   -chardev socket,id=,path=[,server=][,wait=]
 *   -netdev tap,id=,ifname=,queues=[,script=no,downscript=no,vhost=off]
 *   -netdev vhost-user,id=,chardev=,queues=
 *   -device virtio-net-pci,netdev=,mac=,mq=,vectors=,early-mig=,...
 *   -global DRIVER.PROP=VALUE | -global driver=,property=,value=
 *   -qmp unix:PATH,server=on,wait=off   -incoming URI|defer
 *   -serial none|null|stdio|file:PATH   -guest ip=,udp-echo=,workload=,dirty-rate=
 *   -trace [enable=]PATTERN   (trace events kept in memory; QMP x-vmig-query-trace)
 *   accepted where harmless: -nodefaults -no-user-config -display none -nographic
 *                            -vga none -accel tcg
 *
 * Options may be spelled with one dash or two. Pure: nothing is opened or
 * created; every problem is one VmigError line naming the option.
 */

import { VmigError } from '../core/index.js';
import { checkBackendReferences, parseChardev, parseNetdev } from './backend-options.js';
import { assembleDevices, parseDevice, parseGlobal } from './device-options.js';
import { DEFAULT_MACHINE_TYPE } from './machine-types.js';
import { optionError, suggestion } from './option-bag.js';
import { checkAccelerator, parseGuest, parseIncoming, parseMachine, parseMemory, parseName, parseQmp, parseSerial, parseSmp, parseTrace } from './system-options.js';
import { DEFAULT_MEMORY_BYTES, DEFAULT_UDP_ECHO_PORT } from './vm-config.js';
import type { VmConfig } from './vm-config.js';

/** Options taking a value, by canonical name. Repeatable ones may appear more than once. */
const VALUE_OPTIONS: Record<string, { repeatable: boolean }> = {
  machine: { repeatable: false },
  m: { repeatable: false },
  smp: { repeatable: false },
  name: { repeatable: false },
  chardev: { repeatable: true },
  netdev: { repeatable: true },
  device: { repeatable: true },
  global: { repeatable: true },
  qmp: { repeatable: true },
  incoming: { repeatable: false },
  serial: { repeatable: false },
  guest: { repeatable: false },
  trace: { repeatable: true },
  display: { repeatable: false },
  vga: { repeatable: false },
  accel: { repeatable: false },
};
const FLAG_OPTIONS = ['S', 'nodefaults', 'no-user-config', 'nographic'];
const ALIASES: Record<string, string> = { M: 'machine' };

/**
 * Parse `vmig run` arguments.
 * @throws VmigError ERR_MACHINE_UNKNOWN_OPTION, ERR_MACHINE_BAD_OPTION,
 *   ERR_MACHINE_UNKNOWN_TYPE, ERR_MACHINE_UNKNOWN_DEVICE, ERR_MACHINE_UNKNOWN_PROPERTY,
 *   ERR_MACHINE_BAD_PROPERTY, ERR_MACHINE_BAD_REFERENCE, ERR_MACHINE_DUPLICATE_ID
 */
export function parseVmCommandLine(argv: readonly string[]): VmConfig {
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-' || arg === '--') {
      throw new VmigError('ERR_MACHINE_UNKNOWN_OPTION', `unexpected argument '${arg}' (vmig takes no disk images or positional arguments)`, { details: { option: arg } });
    }
    const spelled = arg.replace(/^--?/, '');
    const name = ALIASES[spelled] ?? spelled;
    if (FLAG_OPTIONS.includes(name)) {
      flags.add(name);
      continue;
    }
    const spec = VALUE_OPTIONS[name];
    if (!spec) {
      const known = [...Object.keys(VALUE_OPTIONS), ...FLAG_OPTIONS, ...Object.keys(ALIASES)];
      throw new VmigError('ERR_MACHINE_UNKNOWN_OPTION', `unknown option '-${spelled}'${suggestion(`-${spelled}`, known.map((k) => `-${k}`))}`, { details: { option: arg } });
    }
    const value = argv[++i];
    if (value === undefined) throw optionError(`-${spelled}`, 'needs a value');
    const list = values.get(name) ?? [];
    if (list.length > 0 && !spec.repeatable) throw optionError(`-${spelled}`, 'given more than once');
    list.push(value);
    values.set(name, list);
  }
  const one = (name: string) => values.get(name)?.[0];
  const all = (name: string) => values.get(name) ?? [];

  const display = one('display');
  if (display !== undefined && display !== 'none') throw optionError('-display', `'${display}' is not supported (vmig has no display; use -display none)`);
  const vga = one('vga');
  if (vga !== undefined && vga !== 'none') throw optionError('-vga', `'${vga}' is not supported (vmig has no display; use -vga none)`);
  const accel = one('accel');
  if (accel !== undefined) checkAccelerator('-accel', accel);

  const machineText = one('machine');
  const machine = machineText === undefined ? DEFAULT_MACHINE_TYPE : parseMachine(machineText);
  const memoryText = one('m');
  const smpText = one('smp');
  const nameText = one('name');
  const incomingText = one('incoming');
  const serialText = one('serial');
  const guestText = one('guest');
  const memoryBytes = memoryText === undefined ? DEFAULT_MEMORY_BYTES : parseMemory(memoryText);
  const cpus = smpText === undefined ? 1 : parseSmp(smpText);

  const chardevs = all('chardev').map(parseChardev);
  const netdevs = all('netdev').map((t) => parseNetdev(t, chardevs));
  checkBackendReferences(chardevs, netdevs);
  const globals = all('global').map(parseGlobal);
  const nodefaults = flags.has('nodefaults');
  const { devices, warnings } = assembleDevices(all('device').map(parseDevice), machine, globals, netdevs, nodefaults);

  const qmp = all('qmp').map(parseQmp);
  const seenQmp = new Set<string>();
  for (const q of qmp) {
    if (seenQmp.has(q.path)) throw optionError('-qmp', `unix:${q.path} is given twice`);
    seenQmp.add(q.path);
  }
  const guest = guestText === undefined ? { udpEchoPort: DEFAULT_UDP_ECHO_PORT } : parseGuest(guestText);
  if (guest.workload && guest.workload.bytes >= memoryBytes) {
    throw optionError('-guest', `workload of ${guest.workload.bytes} bytes does not fit in ${memoryBytes} bytes of RAM (-m)`);
  }
  if (guest.ip && devices.length === 0) warnings.push('-guest: ip is set but there is no -device virtio-net-pci to carry it');

  return {
    ...(nameText === undefined ? {} : { name: parseName(nameText) }),
    machineType: machine.name,
    memoryBytes,
    cpus,
    chardevs,
    netdevs,
    devices,
    globals,
    qmp,
    ...(incomingText === undefined ? {} : { incoming: parseIncoming(incomingText) }),
    serial: serialText === undefined ? { kind: 'stdio' } : parseSerial(serialText),
    guest,
    startPaused: flags.has('S'),
    nodefaults,
    trace: all('trace').map(parseTrace),
    warnings,
  };
}
