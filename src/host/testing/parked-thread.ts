/**
 * For tests of thread scheduling: a worker thread of this process that idles
 * until stopped, and its Linux thread id (what a V8 helper thread is to the
 * switchover: a thread whose policy vmig changes, not one it runs code on).
 */

import { readdirSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** This process's thread ids (Linux TIDs). */
export function processThreadIds(): number[] {
  return readdirSync('/proc/self/task').map(Number);
}

export interface ParkedThread {
  tid: number;
  stop(): Promise<void>;
}

export async function parkedThread(): Promise<ParkedThread> {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const { readlinkSync } = require('node:fs');
     parentPort.postMessage(Number(readlinkSync('/proc/thread-self').split('/').pop()));
     Atomics.wait(workerData, 0, 0);`,
    { eval: true, workerData: gate },
  );
  const tid = await new Promise<number>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  return {
    tid,
    stop: async () => {
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      await new Promise((r) => w.once('exit', r));
    },
  };
}
