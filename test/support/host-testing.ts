/**
 * Helpers for the host layer's tests (src/host/*.test.ts): typed-error
 * assertions, running a short Node script in a child process (to observe exit
 * behaviour, or inside a network namespace), and detecting whether TAP and
 * network namespaces are usable here.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';

import { VmigError } from '../../src/core/index.js';

/** Asserts `fn` throws a VmigError with `code`, and returns it for more checks. */
export function throwsCode(fn: () => unknown, code: string): VmigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof VmigError, `expected a VmigError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/** The compiled host layer, for `import` in child scripts. */
export const hostIndexUrl = new URL('../../src/host/index.js', import.meta.url).href;

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command args...`, killing it after `timeoutMs`; resolves when it
 * exits. `onStdout` sees output as it arrives (to react to "ready" lines).
 */
export function runChild(
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; onStdout?: (text: string) => void } = {},
): Promise<ChildResult> {
  const { timeoutMs = 10_000, onStdout } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      onStdout?.(stdout);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** Runs an ES module given as source text in a fresh Node process. */
export function runNodeModule(source: string, timeoutMs = 10_000): Promise<ChildResult> {
  return runChild(process.execPath, ['--input-type=module', '-e', source], { timeoutMs });
}

/**
 * Why TAP devices and network namespaces cannot be tested here, or undefined
 * when they can (root, /dev/net/tun, the `ip` tool).
 */
export function tapUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (CAP_NET_ADMIN) for TAP devices and network namespaces';
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return '/dev/net/tun is missing or not accessible';
  }
  if (!['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].some((p) => existsSync(p))) return 'the `ip` tool (iproute2) is not installed';
  return undefined;
}
