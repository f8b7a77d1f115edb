/**
 * VmConfig → argv, the inverse of parseVmCommandLine: parsing the result
 * gives back an equal VmConfig. The bench uses it to start a destination
 * with the source's configuration (plus -incoming).
 */

import { escapeOptionValue, formatSize } from './qemu-option-syntax.js';
import type { NetdevConfig, VmConfig } from './vm-config.js';

function kv(key: string, value: string): string {
  return `${key}=${escapeOptionValue(value)}`;
}

function netdevText(n: NetdevConfig): string {
  if (n.type === 'tap') return ['tap', kv('id', n.id), ...(n.ifname === undefined ? [] : [kv('ifname', n.ifname)]), kv('queues', String(n.queues)), 'script=no', 'downscript=no'].join(',');
  return ['vhost-user', kv('id', n.id), kv('chardev', n.chardev), kv('queues', String(n.queues))].join(',');
}

export function formatVmCommandLine(config: VmConfig): string[] {
  const argv: string[] = [];
  if (config.name !== undefined) argv.push('-name', kv('guest', config.name));
  argv.push('-machine', config.machineType, '-m', formatSize(config.memoryBytes), '-smp', String(config.cpus));
  if (config.nodefaults) argv.push('-nodefaults');
  if (config.startPaused) argv.push('-S');
  for (const c of config.chardevs) argv.push('-chardev', ['socket', kv('id', c.id), kv('path', c.path), `server=${c.server ? 'on' : 'off'}`, `wait=${c.wait ? 'on' : 'off'}`].join(','));
  for (const n of config.netdevs) argv.push('-netdev', netdevText(n));
  // -global's dotted form takes the value verbatim, commas included.
  for (const g of config.globals) argv.push('-global', `${g.driver}.${g.property}=${g.value}`);
  for (const d of config.devices) {
    const parts = [d.driver, ...(d.id === undefined ? [] : [kv('id', d.id)]), ...Object.entries(d.options).map(([k, v]) => kv(k, v))];
    argv.push('-device', parts.join(','));
  }
  for (const q of config.qmp) {
    // The implied path cannot hold '=' before its first ','; spell the key out then.
    const path = /^[^,]*=/.test(q.path) ? kv('path', q.path) : escapeOptionValue(q.path);
    argv.push('-qmp', `unix:${path},server=on,wait=${q.wait ? 'on' : 'off'}`);
  }
  if (config.incoming) argv.push('-incoming', config.incoming.kind === 'defer' ? 'defer' : config.incoming.uri);
  for (const t of config.trace) argv.push('-trace', `enable=${t}`);
  argv.push('-serial', config.serial.kind === 'file' ? `file:${config.serial.path}` : config.serial.kind);
  const g = config.guest;
  const guestParts = [
    ...(g.ip ? [`ip=${g.ip.address}/${g.ip.prefixLength}`] : []),
    `udp-echo=${g.udpEchoPort === undefined ? 'off' : g.udpEchoPort}`,
    ...(g.workload ? [`workload=${formatSize(g.workload.bytes)}`, `dirty-rate=${formatSize(g.workload.dirtyRateBytesPerSec)}`] : []),
  ];
  argv.push('-guest', guestParts.join(','));
  return argv;
}
