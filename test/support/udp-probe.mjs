// UDP request/response probe (the RFC's method): one datagram every
// INTERVAL ms for DURATION ms to HOST:PORT from SPORTS source ports in turn;
// prints one JSON line: sent, received, lost, max gap between replies (ms).
// Usage: node udp-probe.mjs HOST PORT DURATION_MS INTERVAL_MS [SOURCE_PORTS] [BIND_IP]
import dgram from 'node:dgram';

const [host, port, duration, interval, sports = '1', bindIp] = process.argv.slice(2);
const nSockets = Number(sports);
const sockets = [];
let sent = 0;
let received = 0;
let lastReply = performance.now();
let maxGap = 0;
const seen = new Set();
for (let i = 0; i < nSockets; i++) {
  const s = dgram.createSocket('udp4');
  s.on('message', (m) => {
    const id = m.toString();
    if (seen.has(id)) return;
    seen.add(id);
    received++;
    const now = performance.now();
    maxGap = Math.max(maxGap, now - lastReply);
    lastReply = now;
  });
  sockets.push(new Promise((r) => s.bind(bindIp ? { address: bindIp } : {}, () => r(s))));
}
const socks = await Promise.all(sockets);
const start = performance.now();
lastReply = start;
const timer = setInterval(() => {
  if (performance.now() - start >= Number(duration)) {
    clearInterval(timer);
    setTimeout(() => {
      console.log(JSON.stringify({ sent, received, lost: sent - received, maxGapMs: Math.round(maxGap * 10) / 10 }));
      for (const s of socks) s.close();
    }, 300);
    return;
  }
  const s = socks[sent % socks.length];
  s.send(Buffer.from(`probe-${sent}`), Number(port), host);
  sent++;
}, Number(interval));
