/** Property: for random valid command lines, parse → format → parse gives the same VmConfig. */

import assert from 'node:assert/strict';
import { test } from 'node:test';

import fc from 'fast-check';

import { parseVmCommandLine } from './command-line.js';
import { formatVmCommandLine } from './command-line-format.js';
import { escapeOptionValue } from './qemu-option-syntax.js';

const pathChars = fc.constantFrom(...'abcxyz019_-./,='.split(''));
const path = fc.array(pathChars, { minLength: 1, maxLength: 12 }).map((cs) => `/tmp/${cs.join('')}`);
const ifname = fc.array(fc.constantFrom(...'tapbr0123'.split('')), { minLength: 1, maxLength: 15 }).map((cs) => cs.join(''));
const mac = fc.tuple(fc.integer({ min: 0, max: 127 }), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 5, maxLength: 5 })).map(([a, rest]) => [a * 2, ...rest].map((b) => b.toString(16).padStart(2, '0')).join(':'));

const deviceProps = fc.record(
  {
    mq: fc.boolean(),
    vectors: fc.integer({ min: 1, max: 2048 }),
    'early-mig': fc.boolean(),
    'early-mig-policy': fc.constantFrom('rfc', 'per-delta'),
    mac,
    rx_queue_size: fc.constantFrom(256, 512, 1024),
    tx_queue_size: fc.constantFrom(256, 512, 1024),
    csum: fc.boolean(),
    guest_tso4: fc.boolean(),
    event_idx: fc.boolean(),
    rss: fc.boolean(),
  },
  { requiredKeys: [] },
);

const GLOBALS = ['virtio-net-pci.mq=on', 'virtio-net-device.early-mig=off', 'virtio-pci.vectors=6', 'device.event_idx=off', 'virtio-net-device.rx_queue_size=512', 'virtio-net-pci-base.vectors=3', 'driver=virtio-net-pci,property=early-mig-policy,value=rfc'];

const spec = fc.record({
  machine: fc.option(fc.constantFrom('pc-q35-10.0', 'pc-q35-10.1', 'pc-q35-10.2', 'pc-q35-11.0', 'pc-q35-11.1', 'q35'), { nil: undefined }),
  machineFlag: fc.constantFrom('-machine', '-M', '--machine'),
  memMiB: fc.integer({ min: 8, max: 4096 }),
  memSpelling: fc.constantFrom('plain', 'M', 'K'),
  cpus: fc.integer({ min: 1, max: 8 }),
  name: fc.option(fc.array(pathChars, { minLength: 1, maxLength: 8 }).map((c) => c.join('')), { nil: undefined }),
  netdevs: fc.array(fc.record({ vhostUser: fc.boolean(), ifname: fc.option(ifname, { nil: undefined }), queues: fc.integer({ min: 1, max: 8 }), chardevPath: path, server: fc.boolean(), wait: fc.boolean(), json: fc.boolean() }), { maxLength: 3 }),
  devices: fc.array(fc.record({ props: deviceProps, withId: fc.boolean(), slot: fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }), json: fc.boolean() }), { maxLength: 3 }),
  globals: fc.subarray(GLOBALS),
  qmp: fc.uniqueArray(path, { maxLength: 2 }),
  qmpWait: fc.boolean(),
  incoming: fc.option(fc.oneof(fc.constant('defer'), fc.integer({ min: 0, max: 65535 }).map((p) => `tcp:127.0.0.1:${p}`), path.map((p) => `unix:${p}`)), { nil: undefined }),
  serial: fc.option(fc.oneof(fc.constantFrom('none', 'null', 'stdio'), path.map((p) => `file:${p}`)), { nil: undefined }),
  guest: fc.option(fc.record({ ip: fc.option(fc.tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 32 })), { nil: undefined }), echo: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }), workloadKiB: fc.option(fc.integer({ min: 1, max: 4096 }), { nil: undefined }), dirty: fc.integer({ min: 0, max: 1 << 24 }) }), { nil: undefined }),
  paused: fc.boolean(),
  nodefaults: fc.boolean(),
});

type Spec = typeof spec extends fc.Arbitrary<infer T> ? T : never;

function toArgv(s: Spec): string[] {
  const argv: string[] = [];
  if (s.machine) argv.push(s.machineFlag, s.machine);
  argv.push('-m', s.memSpelling === 'plain' ? String(s.memMiB) : s.memSpelling === 'M' ? `${s.memMiB}M` : `${s.memMiB * 1024}K`);
  argv.push('-smp', String(s.cpus));
  if (s.name !== undefined) argv.push('-name', escapeOptionValue(s.name.startsWith(',') || s.name.includes('=') ? `x${s.name}`.replace(/=/g, '') : s.name));
  if (s.paused) argv.push('-S');
  if (s.nodefaults) argv.push('-nodefaults');
  s.netdevs.forEach((n, i) => {
    if (n.vhostUser) {
      argv.push('-chardev', `socket,id=c${i},path=${escapeOptionValue(n.chardevPath)},server=${n.server ? 'on' : 'off'},wait=${n.wait ? 'on' : 'off'}`);
      argv.push('-netdev', n.json ? JSON.stringify({ type: 'vhost-user', id: `n${i}`, chardev: `c${i}`, queues: n.queues }) : `vhost-user,id=n${i},chardev=c${i},queues=${n.queues}`);
    } else {
      argv.push('-netdev', `tap,id=n${i}${n.ifname ? `,ifname=${n.ifname}` : ''},queues=${n.queues},script=no,downscript=no`);
    }
  });
  for (const g of s.globals) argv.push('-global', g);
  const usedSlots = new Set<number>();
  s.devices.slice(0, s.netdevs.length).forEach((d, i) => {
    const props: Record<string, unknown> = { driver: 'virtio-net-pci', netdev: `n${i}`, ...d.props };
    if (d.withId) props.id = `net${i}`;
    if (d.slot !== undefined && !usedSlots.has(d.slot)) {
      usedSlots.add(d.slot);
      props.addr = d.slot.toString(16);
    }
    argv.push('-device', d.json ? JSON.stringify(props) : Object.entries(props).map(([k, v]) => (k === 'driver' ? String(v) : `${k}=${typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v)}`)).join(','));
  });
  s.qmp.forEach((p) => argv.push('-qmp', `unix:${escapeOptionValue(p).includes('=') ? `path=${escapeOptionValue(p)}` : escapeOptionValue(p)},server=on,wait=${s.qmpWait ? 'on' : 'off'}`));
  if (s.incoming) argv.push('-incoming', s.incoming);
  if (s.serial) argv.push('-serial', s.serial);
  if (s.guest) {
    const g = s.guest;
    const parts = [
      ...(g.ip ? [`ip=10.${g.ip[0]}.${g.ip[1]}.1/${g.ip[2]}`] : []),
      ...(g.echo ? [`udp-echo=${g.echo}`] : []),
      ...(g.workloadKiB ? [`workload=${g.workloadKiB}K`, `dirty-rate=${g.dirty}`] : []),
    ];
    if (parts.length > 0) argv.push('-guest', parts.join(','));
  }
  return argv;
}

test('property: formatting a parsed VmConfig and parsing it again gives the same VmConfig', () => {
  fc.assert(
    fc.property(spec, (s) => {
      const argv = toArgv(s);
      const first = parseVmCommandLine(argv);
      const formatted = formatVmCommandLine(first);
      const second = parseVmCommandLine(formatted);
      assert.deepEqual(second, first, `argv: ${JSON.stringify(argv)}\nformatted: ${JSON.stringify(formatted)}`);
      assert.deepEqual(formatVmCommandLine(second), formatted, 'formatting is stable');
    }),
    { numRuns: 300 },
  );
});
