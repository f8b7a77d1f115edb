/**
 * `vmig run …`: start one VM from a QEMU-shaped command line (DESIGN §7) and
 * keep it running until `quit`, SIGINT or SIGTERM. A bad option is one line
 * naming it, exit 1.
 */

import { describeError } from '../core/index.js';
import { Vm, parseVmCommandLine } from '../machine/index.js';
import type { VmConfig } from '../machine/index.js';
import type { Output } from './analyze.js';

export const RUN_USAGE = `usage: vmig run [QEMU-style options] -guest ip=A.B.C.D/N[,udp-echo=PORT][,workload=SIZE,dirty-rate=BYTES_PER_SEC]

  -machine q35|pc-q35-10.0…11.1   -m 256M   -smp 2
  -netdev tap,id=n0,ifname=TAP,queues=N
  -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,mq=on[,vectors=…][,early-mig=on|off]
  -global driver.prop=value   -qmp unix:PATH,server=on,wait=off   -S   -serial none|stdio|file:PATH
  -incoming tcp:HOST:PORT|unix:PATH|file:PATH|defer   (a migration destination: the guest arrives, it does not boot)`;

export async function runVm(argv: string[], io: Output): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(RUN_USAGE);
    return 0;
  }
  let config: VmConfig;
  try {
    config = parseVmCommandLine(argv);
  } catch (err) {
    io.err(`vmig run: ${describeError(err)}`);
    return 1;
  }
  let vm: Vm;
  try {
    vm = await Vm.start(config, { log: (line) => io.err(`vmig: ${line}`) });
  } catch (err) {
    io.err(`vmig run: ${describeError(err)}`);
    return 1;
  }
  const stop = (reason: string) => void vm.shutdown(reason);
  process.once('SIGINT', () => stop('host-signal'));
  process.once('SIGTERM', () => stop('host-signal'));
  await new Promise<void>((resolve) => vm.onExit(resolve));
  return vm.exitCode;
}
