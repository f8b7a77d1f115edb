// UDP echo round trips: COUNT sequential request/response exchanges with
// HOST:PORT; prints JSON {count, p50Us, p99Us, maxUs, lost}. Then a flood
// phase: WINDOW requests in flight for FLOOD_MS; prints replies per second.
// Usage: node udp-rtt.mjs HOST PORT COUNT FLOOD_MS WINDOW
import dgram from 'node:dgram';

const [host, port, count, floodMs, window] = process.argv.slice(2).map((v, i) => (i === 0 ? v : Number(v)));
const s = dgram.createSocket('udp4');
await new Promise((r) => s.bind(r));
const rtts = [];
let lost = 0;
for (let i = 0; i < count; i++) {
  const t0 = process.hrtime.bigint();
  const ok = await new Promise((resolve) => {
    const timer = setTimeout(() => { s.off('message', on); resolve(false); }, 200);
    const on = () => { clearTimeout(timer); s.off('message', on); resolve(true); };
    s.on('message', on);
    s.send(Buffer.from(`rtt-${i}`), port, host);
  });
  if (ok) rtts.push(Number(process.hrtime.bigint() - t0) / 1000);
  else lost++;
}
rtts.sort((a, b) => a - b);
const pct = (p) => Math.round(rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))] ?? -1);
let replies = 0;
let sent = 0;
s.on('message', () => { replies++; if (sent - replies < window) { s.send(Buffer.from('f'), port, host); sent++; } });
const start = performance.now();
for (let i = 0; i < window; i++) { s.send(Buffer.from('f'), port, host); sent++; }
// Refill the window if replies were lost.
const refill = setInterval(() => { while (sent - replies < window) { s.send(Buffer.from('f'), port, host); sent++; } }, 50);
await new Promise((r) => setTimeout(r, floodMs));
clearInterval(refill);
const secs = (performance.now() - start) / 1000;
console.log(JSON.stringify({ count, p50Us: pct(0.5), p99Us: pct(0.99), maxUs: Math.round(rtts.at(-1) ?? -1), lost, floodRepliesPerSec: Math.round(replies / secs) }));
s.close();
