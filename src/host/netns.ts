/**
 * A private network namespace for `vmig demo`, the tests and the benchmarks:
 * a bridge with an address, the place a VM's TAPs join. Traffic stays inside
 * it (only namespaces we create, to addresses we assign there).
 */

import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { randomBytes } from 'node:crypto';

export function netnsUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (network namespaces and TAP need CAP_NET_ADMIN)';
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return '/dev/net/tun is not available';
  }
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'the ip command (iproute2) is missing';
  }
  return undefined;
}

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

export class NetworkNamespace {
  readonly name: string;
  /** 10.<a>.<b>.0/24: random per namespace, never routed anywhere. */
  readonly subnet: string;

  constructor(prefix = 'vmig') {
    const r = randomBytes(2);
    this.name = `${prefix}-${r.toString('hex')}`;
    this.subnet = `10.${200 + (r[0]! % 50)}.${r[1]!}`;
    ip('netns', 'add', this.name);
    try {
      this.ip('link', 'set', 'lo', 'up');
      this.ip('link', 'add', 'br0', 'type', 'bridge');
      this.ip('addr', 'add', `${this.host}/24`, 'dev', 'br0');
      this.ip('link', 'set', 'br0', 'up');
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  get host(): string {
    return `${this.subnet}.1`;
  }

  get guest(): string {
    return `${this.subnet}.2`;
  }

  ip(...args: string[]): string {
    return ip('-n', this.name, ...args);
  }

  /** Run a command inside the namespace and return its stdout. */
  exec(cmd: string, args: string[], timeoutMs = 30_000): string {
    return execFileSync('ip', ['netns', 'exec', this.name, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
  }

  /** Start a process inside the namespace (stdout/stderr piped; stdin piped when asked). */
  /** Run `cmd` inside the namespace; `env` replaces the inherited environment. */
  spawn(cmd: string, args: string[], options: { stdin?: boolean; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, cmd, ...args], { stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], ...(options.env ? { env: options.env } : {}) });
  }

  /** Wait until interface `ifname` exists, then put it on the bridge and up. */
  async enslave(ifname: string, timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        this.ip('link', 'set', ifname, 'master', 'br0', 'up');
        return;
      } catch (err) {
        if (Date.now() > end) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  destroy(): void {
    try {
      ip('netns', 'del', this.name);
    } catch {
      // already gone
    }
  }
}
