/**
 * `vmig` entry point: dispatches subcommands. Each subcommand's module is
 * imported when it is chosen, so `vmig run` does not load the stream codec
 * and `vmig analyze` does not load the VMM (start-up time, docs/BENCHMARKS.md).
 */

import type { Output } from './analyze.js';
import { stdio } from './stdio.js';

const USAGE = `usage: vmig <command> [args]

commands:
  run [QEMU-style options] -guest …       start a VM (vmig run --help)
  analyze FILE [--json] [--device NAME]   decode a QEMU or vmig migration stream
  demo [--migrations N]                    live-migrate a VM back and forth in a private
                                           network namespace and print the figures (root)
  vhost-user-net --socket PATH --ifname TAP [--queues N]
                                           a vhost-user net backend serving a TAP (root)`;


export async function main(argv: string[], io: Output = stdio): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'analyze':
      return (await import('./analyze.js')).runAnalyze(rest, io);
    case 'run':
      return (await import('./run.js')).runVm(rest, io);
    case 'demo':
      return (await import('./demo.js')).runDemo(rest, io);
    case 'vhost-user-net':
      return (await import('./vhost-user-net.js')).runVhostUserNet(rest, io);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      io.out(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      io.err(`vmig: unknown command ${cmd}\n${USAGE}`);
      return 2;
  }
}
