/**
 * The UDP request/response probe as a long-running process (the RFC's way of
 * seeing downtime from the network): one datagram every INTERVAL ms to
 * HOST:PORT, each carrying its sequence number; the guest echoes it.
 *
 * It runs inside a namespace (`ip netns exec … node udp-probe-main.js`) and
 * is driven by lines on stdin:
 *   mark  → one JSON line for the window since the previous mark:
 *           {sent, received, lost, maxGapMs}. Counts cover the probes sent
 *           up to 250 ms before the mark (younger ones are not judged yet and
 *           belong to the next window); maxGapMs is the longest time without
 *           a reply since the previous mark, including the gap still open;
 *           gapFromMs/gapToMs place it on the host's monotonic clock.
 *   stop  → the same for the rest, after a 300 ms grace, then exit.
 *
 * Usage: node udp-probe-main.js HOST PORT INTERVAL_MS
 */

import dgram from 'node:dgram';
import { createInterface } from 'node:readline';

const [host = '', portText = '7777', intervalText = '10'] = process.argv.slice(2);
const port = Number(portText);
const interval = Number(intervalText);
const JUDGE_AFTER_MS = 250;

const socket = dgram.createSocket('udp4');
/** Probes not reported yet, in send order: sequence → {send time, answered}. */
const pending = new Map<number, { at: number; answered: boolean }>();
let seq = 0;
let maxGap = 0;
let lastReply = performance.now();
/** Where the longest gap lay, on the host's monotonic clock (ms), comparable with the VMMs' instants. */
let gapAt = { from: 0, to: 0, sent: 0 };
const monotonicMs = (perfNow: number) => Number(process.hrtime.bigint()) / 1e6 - (performance.now() - perfNow);

socket.on('message', (msg) => {
  const p = pending.get(Number(msg.toString().replace(/^probe-/, '')));
  if (!p || p.answered) return;
  p.answered = true;
  const now = performance.now();
  if (now - lastReply > maxGap) {
    maxGap = now - lastReply;
    // sent: when the probe whose reply ended the gap left (its round trip is to − sent).
    gapAt = { from: monotonicMs(lastReply), to: monotonicMs(now), sent: monotonicMs(p.at) };
  }
  lastReply = now;
});

const timer = setInterval(() => {
  const n = seq++;
  pending.set(n, { at: performance.now(), answered: false });
  socket.send(Buffer.from(`probe-${n}`), port, host);
}, interval);

function report(judgeAll: boolean): void {
  const now = performance.now();
  const cut = judgeAll ? Infinity : now - JUDGE_AFTER_MS;
  const w = { sent: 0, received: 0, lost: 0 };
  for (const [n, p] of pending) {
    if (p.at > cut) break;
    pending.delete(n);
    w.sent++;
    if (p.answered) w.received++;
    else w.lost++;
  }
  // The gap still open at the mark counts too: a probe stream that stopped answering has a growing gap.
  const open = now - lastReply;
  const gap = Math.max(maxGap, open);
  const at = open > maxGap ? { from: monotonicMs(lastReply), to: monotonicMs(now), sent: Number.NaN } : gapAt;
  maxGap = 0;
  process.stdout.write(`${JSON.stringify({ ...w, maxGapMs: Math.round(gap * 10) / 10, gapFromMs: at.from, gapToMs: at.to, gapEndProbeSentMs: at.sent })}\n`);
}

socket.bind(() => {
  lastReply = performance.now();
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === 'mark') report(false);
    else if (line.trim() === 'stop') {
      clearInterval(timer);
      setTimeout(() => {
        report(true);
        socket.close();
        rl.close();
      }, 300);
    }
  });
});
