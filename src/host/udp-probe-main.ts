/**
 * The UDP request/response probe as a long-running process (the RFC's way of
 * seeing downtime from the network): one datagram every INTERVAL ms to
 * HOST:PORT, each carrying its sequence number; the guest echoes it.
 *
 * It runs inside a namespace (`ip netns exec … node udp-probe-main.js`) and
 * is driven by lines on stdin:
 *   mark  → one JSON line for the window since the previous mark:
 *           {sent, received, lost, maxGapMs}. A probe counts in the window it
 *           was sent in; one sent in the last 250 ms is not judged yet and
 *           moves to the next window.
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
/** Sequence → send time, for probes not yet answered nor judged. */
const outstanding = new Map<number, number>();
let seq = 0;
let window = { sent: 0, received: 0, lost: 0, maxGapMs: 0 };
let lastReply = performance.now();

socket.on('message', (msg) => {
  const n = Number(msg.toString().replace(/^probe-/, ''));
  if (!outstanding.delete(n)) return;
  const now = performance.now();
  window.received++;
  window.maxGapMs = Math.max(window.maxGapMs, now - lastReply);
  lastReply = now;
});

const timer = setInterval(() => {
  const n = seq++;
  outstanding.set(n, performance.now());
  window.sent++;
  socket.send(Buffer.from(`probe-${n}`), port, host);
}, interval);

function report(judgeAll: boolean): void {
  const now = performance.now();
  for (const [n, at] of outstanding) {
    if (judgeAll || now - at > JUDGE_AFTER_MS) {
      outstanding.delete(n);
      window.lost++;
    }
  }
  // The gap still open at the mark counts too: a probe stream that stopped answering has a growing gap.
  const gap = Math.max(window.maxGapMs, now - lastReply);
  process.stdout.write(`${JSON.stringify({ ...window, maxGapMs: Math.round(gap * 10) / 10 })}\n`);
  window = { sent: 0, received: 0, lost: 0, maxGapMs: 0 };
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
