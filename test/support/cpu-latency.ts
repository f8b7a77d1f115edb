/**
 * What the migration tests check of x-vmig-cpu-latency (host/cpu-latency.ts):
 * whether this machine lets a VMM make the request, and whether a process
 * still holds one (an open /dev/cpu_dma_latency: the request lives as long
 * as its file descriptor, so a leaked one would keep every CPU polling).
 */

import { accessSync, constants, readdirSync, readlinkSync } from 'node:fs';

import { CPU_LATENCY_DEVICE } from '../../src/host/cpu-latency.js';

/** Root with PM QoS: the VMMs' requests are granted here. */
export function cpuLatencyGrantable(): boolean {
  try {
    accessSync(CPU_LATENCY_DEVICE, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether process `pid` has the PM QoS device open (false once it has exited). */
export function holdsCpuLatencyRequest(pid: number): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === CPU_LATENCY_DEVICE;
    } catch {
      return false;
    }
  });
}
