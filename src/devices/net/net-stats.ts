/**
 * Per-queue-pair counters of the virtio-net device: what moved and what was
 * dropped, by reason. Not migrated (QEMU keeps none either); read by QMP
 * extensions and tests.
 */

export type RxDropReason = 'vlan' | 'broadcast' | 'multicast' | 'unicast' | 'link-down' | 'too-big' | 'runt' | 'rss-queue' | 'error';
export type TxDropReason = 'link-down';

export interface NetQueueStats {
  rxPackets: number;
  /** Frame bytes after the vnet header. */
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Times a frame had to wait for the guest to post receive buffers (held, not lost). */
  rxHeld: number;
  rxDropped: Record<RxDropReason, number>;
  txDropped: Record<TxDropReason, number>;
}

export function emptyQueueStats(): NetQueueStats {
  return {
    rxPackets: 0,
    rxBytes: 0,
    txPackets: 0,
    txBytes: 0,
    rxHeld: 0,
    rxDropped: { vlan: 0, broadcast: 0, multicast: 0, unicast: 0, 'link-down': 0, 'too-big': 0, runt: 0, 'rss-queue': 0, error: 0 },
    txDropped: { 'link-down': 0 },
  };
}

/** rx-filter.ts verdicts → drop reasons. */
export const FILTER_DROP: Record<string, RxDropReason> = {
  'drop-vlan': 'vlan',
  'drop-broadcast': 'broadcast',
  'drop-multicast': 'multicast',
  'drop-unicast': 'unicast',
};
