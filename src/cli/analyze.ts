/**
 * `vmig analyze FILE [--json] [--device NAME]`: decode a migration stream
 * (vmig's or QEMU's; gzip-compressed files are inflated) and print its
 * sections, RAM totals per block and devices by field name.
 *
 * A truncated or corrupt file prints one line naming the byte offset and what
 * was expected, and exits 1.
 */

import { VmigError, describeError } from '../core/index.js';
import { readInputFile } from '../host/index.js';
import type { QemuFlavor } from '../devices/net/index.js';
import { analyzeStream } from './stream-analysis.js';
import type { StreamReport } from './stream-analysis.js';
import { CliUsageError, parseArgs } from './args.js';

export const ANALYZE_USAGE = `usage: vmig analyze FILE [--json] [--device NAME] [--flavor 7.2|10.2]

Decode a QEMU or vmig migration stream (FILE may be gzip-compressed).
  --json          print one JSON object
  --device NAME   print only the first device whose name is NAME (e.g. virtio-net)
  --flavor F      QEMU release whose virtio-net layout to assume (default 7.2; 10.2 reads RSS v2)`;

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export function runAnalyze(argv: string[], io: Output): number {
  let file: string;
  let json: boolean;
  let device: string | undefined;
  let flavor: QemuFlavor;
  try {
    const args = parseArgs(argv, { flags: ['--json', '--help'], options: ['--device', '--flavor'] });
    if (args.flags.has('--help')) {
      io.out(ANALYZE_USAGE);
      return 0;
    }
    if (args.positional.length !== 1) throw new CliUsageError(args.positional.length === 0 ? 'missing FILE' : `unexpected argument ${args.positional[1]}`);
    file = args.positional[0]!;
    json = args.flags.has('--json');
    device = args.options.get('--device');
    const f = args.options.get('--flavor') ?? '7.2';
    if (f !== '7.2' && f !== '10.2') throw new CliUsageError(`--flavor must be 7.2 or 10.2, not ${f}`);
    flavor = f;
  } catch (err) {
    io.err(`vmig analyze: ${(err as Error).message}\n${ANALYZE_USAGE}`);
    return 2;
  }

  let report: StreamReport;
  try {
    report = analyzeStream(readInputFile(file), flavor);
  } catch (err) {
    io.err(`vmig analyze: ${file}: ${oneLine(err)}`);
    return 1;
  }

  if (device !== undefined) {
    const dev = report.devices.find((d) => d.idstr === device || d.idstr.endsWith(`/${device}`));
    if (!dev) {
      io.err(`vmig analyze: ${file}: no device named ${device}; devices: ${report.devices.map((d) => d.idstr).join(', ')}`);
      return 1;
    }
    const body = dev.net ?? { idstr: dev.idstr, instance_id: dev.instance_id, version_id: dev.version, fields: dev.fields };
    io.out(json ? JSON.stringify(body) : JSON.stringify(body, null, 2));
    return 0;
  }
  io.out(json ? JSON.stringify(toJson(report)) : toText(report));
  return 0;
}

/** One line: the message, plus the offset and expectation when the error carries them. */
export function oneLine(err: unknown): string {
  const text = describeError(err).replace(/\s*\n\s*/g, ' ');
  if (err instanceof VmigError && typeof err.details.offset === 'number') {
    const where = `at byte ${err.details.offset}`;
    const what = typeof err.details.expected === 'string' ? `, expected ${err.details.expected}` : '';
    const path = typeof err.details.path === 'string' ? ` in ${err.details.path}` : '';
    return `${where}${path}${what}: ${text}`;
  }
  return text;
}

function toJson(r: StreamReport): Record<string, unknown> {
  const devices: Record<string, unknown> = {};
  for (const d of r.devices) devices[d.key] = d.fields;
  return { size: r.size, version: r.version, machine: r.machine, configuration: r.configuration, sections: r.sections, commands: r.commands, ram: r.ram, devices, vmdesc: r.vmdesc };
}

function toText(r: StreamReport): string {
  const lines: string[] = [];
  lines.push(`stream: ${r.size} bytes, version ${r.version}, machine ${r.machine ?? '(no configuration section)'}`);
  lines.push('');
  lines.push('sections:');
  lines.push('  type   id  offset      size      version  instance  idstr');
  for (const s of r.sections) {
    lines.push(`  ${s.type.padEnd(5)} ${String(s.section_id).padStart(3)}  ${('0x' + s.offset.toString(16)).padEnd(10)}  ${String(s.size).padStart(8)}  ${String(s.version).padStart(7)}  ${String(s.instance_id).padStart(8)}  ${s.idstr}`);
  }
  if (r.commands.length) {
    lines.push('', 'commands:');
    for (const c of r.commands) lines.push(`  0x${c.offset.toString(16)}  cmd ${c.cmd}  ${c.length} bytes`);
  }
  lines.push('', `ram: ${r.ram.total_bytes} bytes in ${Object.keys(r.ram.blocks).length} blocks, page size ${r.ram.page_size}`);
  lines.push('  pages     zero      stream bytes  used length  block');
  for (const [name, b] of Object.entries(r.ram.blocks)) {
    lines.push(`  ${String(b.pages).padStart(8)}  ${String(b.zero_pages).padStart(8)}  ${String(b.bytes).padStart(12)}  ${('0x' + b.used_length.toString(16)).padStart(11)}  ${name}`);
  }
  lines.push('', 'devices:');
  for (const d of r.devices) {
    lines.push(`  ${d.key}: ${d.fields === null ? '(framed, no field names: no vmdesc)' : JSON.stringify(d.fields, null, 2).split('\n').join('\n  ')}`);
  }
  if (r.vmdesc) lines.push('', `vmdesc: ${r.vmdesc.size} bytes at 0x${r.vmdesc.offset.toString(16)}`);
  return lines.join('\n');
}
