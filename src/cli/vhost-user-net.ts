/**
 * `vmig vhost-user-net --socket PATH --ifname TAP [--queues N]`: vmig's
 * vhost-user net backend (DESIGN §4): listens on PATH for a frontend (a vmig
 * VMM with -netdev vhost-user, or QEMU), serves the TAP's queues, and runs
 * until SIGTERM/SIGINT. Prints `listening PATH` on stdout once it is ready
 * (listening, and its session code warmed by a rehearsal), so a script can
 * wait for that line.
 */

import type { Output } from './analyze.js';
import { CliUsageError, parseArgs } from './args.js';
import { VhostUserNetServer, rehearseVhostUser } from '../vhost-user-net/index.js';
import { requestThreadSlice } from '../host/index.vmm.js';

const USAGE = `usage: vmig vhost-user-net --socket PATH --ifname TAP [--queues N]
  --socket PATH   the unix socket to listen on (the frontend's -chardev socket,path=PATH)
  --ifname TAP    the TAP interface to serve (created if missing; needs CAP_NET_ADMIN)
  --queues N      queue pairs = TAP queues, 1..256 (default 1)`;

const DATAPATH_SLICE_US = 100;

export async function runVhostUserNet(argv: string[], io: Output): Promise<number> {
  let socketPath: string;
  let ifname: string;
  let queues: number;
  try {
    const args = parseArgs(argv, { flags: ['--help'], options: ['--socket', '--ifname', '--queues'] });
    if (args.flags.has('--help')) {
      io.out(USAGE);
      return 0;
    }
    if (args.positional.length > 0) throw new CliUsageError(`unexpected argument ${args.positional[0]}`);
    socketPath = args.options.get('--socket') ?? '';
    ifname = args.options.get('--ifname') ?? '';
    if (socketPath === '') throw new CliUsageError('--socket PATH is required');
    if (ifname === '') throw new CliUsageError('--ifname TAP is required');
    const q = args.options.get('--queues') ?? '1';
    queues = Number(q);
    if (!/^\d+$/.test(q) || queues < 1 || queues > 256) throw new CliUsageError(`--queues ${q}: a number of queue pairs, 1..256`);
  } catch (err) {
    if (!(err instanceof CliUsageError)) throw err;
    io.err(`vmig vhost-user-net: ${err.message}\n${USAGE}`);
    return 2;
  }
  // The datapath's thread wakes on kicks, frames and its frontend's requests
  // (a source's GET_VRING_BASE is inside the downtime): the VMM's latency
  // hint (a 100 µs slice, thread-slice.ts) lets it preempt the vCPU threads
  // when it wakes, without a larger share of the CPU.
  requestThreadSlice(DATAPATH_SLICE_US);
  const server = VhostUserNetServer.open({ socketPath, ifname, queues, log: (line) => io.err(line) });
  // Warm the session's code before saying it listens (rehearsal.ts); a frontend that connects meanwhile is served alongside.
  await rehearseVhostUser().catch((err: unknown) => io.err(`vhost-user-net: the rehearsal failed (harmless, the code is only colder): ${err instanceof Error ? err.message : String(err)}`));
  io.out(`listening ${socketPath}`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  server.close();
  return 0;
}
