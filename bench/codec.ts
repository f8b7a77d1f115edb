/**
 * bench:codec — decode and encode throughput of the migration-stream codec on
 * the real QEMU 7.2 fixture (70 MB, 24 k RAM records, 33 device sections).
 *
 * Alternatives compared in the same run:
 *   decode, one push          the whole stream in one buffer (a file)
 *   decode, 64 KiB pushes     as bytes arrive from a socket
 *   decode, copying pages     pages copied out instead of sliced (what slicing saves)
 *   encode                    re-encode every decoded item
 * Each figure is the median of the measured iterations after warm-up.
 */

import { join } from 'node:path';

import { analysisResolver, findVmdesc } from '../src/cli/stream-analysis.js';
import { readInputFile } from '../src/host/index.js';
import { StreamDecoder, encodeItems } from '../src/stream/index.js';
import type { StreamItem } from '../src/stream/index.js';
import { machineLine } from './machine.js';
import { qemu72PlainDir } from '../test/support/paths.js';

const WARMUP = 3;
const RUNS = 15;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function measure(name: string, bytes: number, fn: () => void): { name: string; ms: number; mbps: number } {
  for (let i = 0; i < WARMUP; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  const ms = median(times);
  return { name, ms, mbps: bytes / 1e6 / (ms / 1000) };
}

const bytes = readInputFile(join(qemu72PlainDir, 'stream.bin.gz'));
const resolve = analysisResolver(findVmdesc(bytes));
let items: StreamItem[] = [];

const decodeOne = () => {
  const d = new StreamDecoder({ resolve });
  items = d.push(bytes);
  d.end();
};
const decodeChunked = () => {
  const d = new StreamDecoder({ resolve });
  for (let at = 0; at < bytes.length; at += 65536) d.push(bytes.subarray(at, Math.min(bytes.length, at + 65536)));
  d.end();
};
const decodeCopying = () => {
  const d = new StreamDecoder({ resolve });
  const out = d.push(bytes);
  d.end();
  for (const it of out) if (it.type === 'ram-page') it.data = it.data.slice();
};

const results = [
  measure('decode, one push', bytes.length, decodeOne),
  measure('decode, 64 KiB pushes', bytes.length, decodeChunked),
  measure('decode, copying pages', bytes.length, decodeCopying),
  measure('encode (re-encode all items)', bytes.length, () => encodeItems(items, resolve)),
];

const pages = items.filter((i) => i.type === 'ram-page').length;
const zero = items.filter((i) => i.type === 'ram-zero').length;
const devices = items.filter((i) => i.type === 'device-state').length;
console.log(`bench:codec — ${machineLine()}`);
console.log(`input: QEMU 7.2 fixture, ${bytes.length} bytes: ${pages} pages, ${zero} zero pages, ${devices} device sections; median of ${RUNS} runs after ${WARMUP} warm-up`);
console.log('');
console.log('| operation | median ms | MB/s |');
console.log('|---|---:|---:|');
for (const r of results) console.log(`| ${r.name} | ${r.ms.toFixed(1)} | ${r.mbps.toFixed(0)} |`);
