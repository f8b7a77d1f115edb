/**
 * Drives udp-probe-main.js inside a namespace: start it, mark windows around
 * each migration, stop it. Used by `vmig demo`, bench:migrate and the tests.
 */

import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { VmigError } from '../core/index.js';
import type { NetworkNamespace } from './netns.js';

export interface ProbeWindow {
  sent: number;
  received: number;
  lost: number;
  /** Longest time without a reply in the window (ms). */
  maxGapMs: number;
  /** Where that gap began and ended, host monotonic clock (ms; the VMMs report instants on the same clock). */
  gapFromMs: number;
  gapToMs: number;
  /** When the probe whose reply ended the gap was sent (NaN if the gap was still open). */
  gapEndProbeSentMs: number;
}

export class UdpProbe {
  readonly #child: ChildProcess;
  #waiter: ((line: string) => void) | undefined;
  #exited = false;

  private constructor(child: ChildProcess) {
    this.#child = child;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const w = this.#waiter;
      this.#waiter = undefined;
      w?.(line);
    });
    child.once('exit', () => {
      this.#exited = true;
      this.#waiter?.('');
    });
  }

  /** Probe host:port every intervalMs from inside `ns`. */
  static start(ns: NetworkNamespace, host: string, port: number, intervalMs = 10): UdpProbe {
    const script = fileURLToPath(new URL('./udp-probe-main.js', import.meta.url));
    return new UdpProbe(ns.spawn(process.execPath, [script, host, String(port), String(intervalMs)], { stdin: true }));
  }

  /** The window since the previous mark. */
  mark(): Promise<ProbeWindow> {
    return this.#ask('mark');
  }

  /** The last window; the probe exits. */
  stop(): Promise<ProbeWindow> {
    return this.#ask('stop');
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }

  async #ask(cmd: string): Promise<ProbeWindow> {
    if (this.#exited) throw new VmigError('ERR_HOST_PROBE_GONE', 'the UDP probe process has exited');
    const line = await new Promise<string>((resolve) => {
      this.#waiter = resolve;
      this.#child.stdin!.write(`${cmd}\n`);
    });
    if (!line) throw new VmigError('ERR_HOST_PROBE_GONE', 'the UDP probe process has exited');
    return JSON.parse(line) as ProbeWindow;
  }
}
