/**
 * VmConfig: everything a `vmig run` command line says, validated and typed,
 * with no side effects. The VMM assembles the VM from it; the bench formats
 * it back into argv (formatVmCommandLine) to start a matching destination.
 */

import type { GlobalProperty, PropertySource } from './global-properties.js';
import type { PropertyValue } from './device-properties.js';

export interface TapNetdevConfig {
  readonly type: 'tap';
  readonly id: string;
  /** Absent: the kernel names a new TAP device. */
  readonly ifname?: string;
  readonly queues: number;
}

export interface VhostUserNetdevConfig {
  readonly type: 'vhost-user';
  readonly id: string;
  readonly chardev: string;
  readonly queues: number;
}

export type NetdevConfig = TapNetdevConfig | VhostUserNetdevConfig;

export interface SocketChardevConfig {
  readonly backend: 'socket';
  readonly id: string;
  readonly path: string;
  /** Listen (on) or connect (off, QEMU's default). */
  readonly server: boolean;
  /** With server=on: wait for the peer before starting (QEMU's default on). */
  readonly wait: boolean;
}

export type ChardevConfig = SocketChardevConfig;

export interface DeviceConfig {
  readonly driver: 'virtio-net-pci';
  readonly id?: string;
  /** The properties given on -device, in canonical text (what formatting writes back). */
  readonly options: Readonly<Record<string, string>>;
  /** Every property after default < compat < -global < -device, unspecified ones worked out. */
  readonly properties: Readonly<Record<string, PropertyValue>>;
  /** Where each property's value came from; 'auto' for worked-out ones (mac, vectors, addr). */
  readonly sources: Readonly<Record<string, PropertySource | 'auto'>>;
}

export interface QmpEndpointConfig {
  readonly transport: 'unix';
  readonly path: string;
  /** Block startup until a client connects (QEMU's default for server sockets). */
  readonly wait: boolean;
}

export type IncomingConfig =
  | { readonly kind: 'defer' }
  | { readonly kind: 'tcp'; readonly uri: string; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly uri: string; readonly path: string }
  | { readonly kind: 'file'; readonly uri: string; readonly path: string };

export type SerialConfig = { readonly kind: 'none' | 'null' | 'stdio' } | { readonly kind: 'file'; readonly path: string };

export interface GuestConfig {
  readonly ip?: { readonly address: string; readonly prefixLength: number };
  /** UDP request/response responder port; undefined when udp-echo=off. */
  readonly udpEchoPort: number | undefined;
  readonly workload?: { readonly bytes: number; readonly dirtyRateBytesPerSec: number };
}

export interface VmConfig {
  readonly name?: string;
  /** Canonical machine type name (an alias is resolved), e.g. "pc-q35-11.1". */
  readonly machineType: string;
  readonly memoryBytes: number;
  readonly cpus: number;
  readonly chardevs: readonly ChardevConfig[];
  readonly netdevs: readonly NetdevConfig[];
  readonly devices: readonly DeviceConfig[];
  /** The user's -global options, in order. */
  readonly globals: readonly GlobalProperty[];
  readonly qmp: readonly QmpEndpointConfig[];
  readonly incoming?: IncomingConfig;
  readonly serial: SerialConfig;
  readonly guest: GuestConfig;
  /** -S: do not start the vCPUs until `cont`. */
  readonly startPaused: boolean;
  readonly nodefaults: boolean;
  /** -trace: the trace-event patterns to enable at start (core/trace.ts). */
  readonly trace: readonly string[];
  /** Accepted but worth saying (unused netdev, mq=off with several queues, clamped sizes). */
  readonly warnings: readonly string[];
}

export const DEFAULT_MEMORY_BYTES = 128 * 1024 * 1024;
export const MIN_MEMORY_BYTES = 8 * 1024 * 1024;
export const DEFAULT_UDP_ECHO_PORT = 7777;
/** Queue pairs per netdev (DESIGN §9 runs 4; 8 leaves room for sweeps). */
export const MAX_NETDEV_QUEUES = 8;
