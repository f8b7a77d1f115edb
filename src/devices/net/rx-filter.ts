/**
 * Which received frames reach the guest: QEMU's receive_filter
 * (hw/net/virtio-net.c), the semantics a virtio-net driver programs through
 * the control queue (virtio 1.2 §5.1.6.5): promiscuous mode, the VLAN filter,
 * broadcast, multicast (all / none / table / overflow) and unicast (all /
 * none / own MAC / table / overflow).
 *
 * The MAC table is one array: unicast entries first, multicast from
 * `firstMulti` on (QEMU's mac_table.first_multi).
 */

export interface RxFilterState {
  mac: Uint8Array;
  promisc: boolean;
  allmulti: boolean;
  alluni: boolean;
  nomulti: boolean;
  nouni: boolean;
  nobcast: boolean;
  /** in_use × 6 bytes. */
  macTable: Uint8Array;
  inUse: number;
  firstMulti: number;
  multiOverflow: boolean;
  uniOverflow: boolean;
  /** 4096-bit VLAN filter, QEMU's raw layout: bit (v & 31) of little-endian u32 word (v >> 5). */
  vlans: Uint8Array;
}

export type RxVerdict = 'accept' | 'drop-vlan' | 'drop-broadcast' | 'drop-multicast' | 'drop-unicast';

function macAt(frame: Uint8Array, at: number, table: Uint8Array, entry: number): boolean {
  const t = entry * 6;
  for (let i = 0; i < 6; i++) if (frame[at + i] !== table[t + i]) return false;
  return true;
}

export function vlanAllowed(vlans: Uint8Array, vid: number): boolean {
  const word = vid >> 5;
  const bit = vid & 31;
  return (vlans[word * 4 + (bit >> 3)]! & (1 << (bit & 7))) !== 0;
}

/**
 * Decide for one Ethernet frame starting at `at` (after any virtio-net header).
 * Frames shorter than an Ethernet header are dropped as unicast misses.
 */
export function rxFilter(s: RxFilterState, frame: Uint8Array, at = 0): RxVerdict {
  if (s.promisc) return 'accept';
  if (frame.length - at < 14) return 'drop-unicast';
  if (frame[at + 12] === 0x81 && frame[at + 13] === 0x00 && frame.length - at >= 16) {
    const vid = ((frame[at + 14]! << 8) | frame[at + 15]!) & 0xfff;
    if (!vlanAllowed(s.vlans, vid)) return 'drop-vlan';
  }
  if (frame[at]! & 1) {
    let bcast = true;
    for (let i = 0; i < 6; i++) if (frame[at + i] !== 0xff) bcast = false;
    if (bcast) return s.nobcast ? 'drop-broadcast' : 'accept';
    if (s.nomulti) return 'drop-multicast';
    if (s.allmulti || s.multiOverflow) return 'accept';
    for (let i = s.firstMulti; i < s.inUse; i++) if (macAt(frame, at, s.macTable, i)) return 'accept';
    return 'drop-multicast';
  }
  if (s.nouni) return 'drop-unicast';
  if (s.alluni || s.uniOverflow) return 'accept';
  let own = true;
  for (let i = 0; i < 6; i++) if (frame[at + i] !== s.mac[i]) own = false;
  if (own) return 'accept';
  for (let i = 0; i < s.firstMulti; i++) if (macAt(frame, at, s.macTable, i)) return 'accept';
  return 'drop-unicast';
}
