/**
 * NetState: the virtio-net device state QEMU keeps in VirtIONet (and
 * migrates in vmstate_virtio_net_device, research §4.1): MAC, status, rx-mode
 * bytes, the 64-entry MAC table split into unicast and multicast, the
 * 4096-bit VLAN filter, queue pairs, guest offloads, RSS, per-pair tx_waiting.
 *
 * Field values keep QEMU's representation on purpose: rx-mode flags are the
 * raw u8 the guest sent (PROMISC with 5 stores 5), the VLAN filter is QEMU's
 * raw buffer of u32 words (little-endian here: bit v&31 of word v>>5), so a
 * saved state round-trips byte for byte. `filter` is the boolean view the
 * receive path uses; `changed()` refreshes it after every mutation.
 */

import { MAC_TABLE_ENTRIES, MAX_VLAN, VIRTIO_NET_RSS_MAX_KEY_SIZE, VIRTIO_NET_S_ANNOUNCE, VIRTIO_NET_S_LINK_UP } from './spec-constants.js';
import type { RxFilterState } from './rx-filter.js';

export interface RssData {
  enabled: boolean;
  /** Steer by the indirection table (RSS negotiated); QEMU sets it from the features. */
  redirect: boolean;
  /** Hash reporting (HASH_REPORT): never negotiated with vmig, kept for the wire. */
  populateHash: boolean;
  hashTypes: number;
  indirectionsLen: number;
  defaultQueue: number;
  /** 40 bytes; a shorter key from the guest overwrites only its prefix (as QEMU). */
  key: Uint8Array;
  table: number[];
}

export class NetState {
  /** The MAC from the properties (reset restores it; the RARP announce uses it). */
  readonly configuredMac: Uint8Array;
  readonly maxQueuePairs: number;
  mac: Uint8Array;
  status = VIRTIO_NET_S_LINK_UP;
  promisc = 1;
  allmulti = 0;
  alluni = 0;
  nomulti = 0;
  nouni = 0;
  nobcast = 0;
  /** MAC_TABLE_ENTRIES × 6 bytes; entries [0, firstMulti) unicast, [firstMulti, inUse) multicast. */
  readonly macs = new Uint8Array(MAC_TABLE_ENTRIES * 6);
  inUse = 0;
  firstMulti = 0;
  multiOverflow = 0;
  uniOverflow = 0;
  readonly vlans = new Uint8Array(MAX_VLAN >> 3);
  currQueuePairs = 1;
  /** MQ or RSS negotiated: the queue layout has max_queue_pairs pairs (QEMU n->multiqueue). */
  multiqueue = false;
  currGuestOffloads = 0n;
  mergeableRxBufs = 0;
  readonly rss: RssData;
  /** Per queue pair: a TX flush is scheduled or was interrupted by a stop (QEMU tx_waiting). */
  readonly txWaiting: number[];
  /** The view the receive filter reads. */
  readonly filter: RxFilterState;

  constructor(mac: Uint8Array, maxQueuePairs: number) {
    this.configuredMac = mac.slice();
    this.mac = mac.slice();
    this.maxQueuePairs = maxQueuePairs;
    this.rss = { enabled: false, redirect: false, populateHash: false, hashTypes: 0, indirectionsLen: 0, defaultQueue: 0, key: new Uint8Array(VIRTIO_NET_RSS_MAX_KEY_SIZE), table: [] };
    this.txWaiting = new Array<number>(maxQueuePairs).fill(0);
    this.filter = {
      mac: this.mac,
      promisc: true,
      allmulti: false,
      alluni: false,
      nomulti: false,
      nouni: false,
      nobcast: false,
      macTable: this.macs,
      inUse: 0,
      firstMulti: 0,
      multiOverflow: false,
      uniOverflow: false,
      vlans: this.vlans,
    };
    this.changed();
  }

  /** QEMU's virtio_net_reset: back to "compatibility mode" (promiscuous), tables flushed, MAC restored. */
  reset(): void {
    this.promisc = 1;
    this.allmulti = 0;
    this.alluni = 0;
    this.nomulti = 0;
    this.nouni = 0;
    this.nobcast = 0;
    this.currQueuePairs = 1;
    this.status &= ~VIRTIO_NET_S_ANNOUNCE;
    this.inUse = 0;
    this.firstMulti = 0;
    this.multiOverflow = 0;
    this.uniOverflow = 0;
    this.macs.fill(0);
    this.mac = this.configuredMac.slice();
    this.vlans.fill(0);
    this.txWaiting.fill(0);
    this.rss.enabled = false;
    this.changed();
  }

  /** The first multicast entry of the table (QEMU recomputes mac_table.first_multi after a load). */
  recomputeFirstMulti(): void {
    let i = 0;
    while (i < this.inUse && (this.macs[i * 6]! & 1) === 0) i++;
    this.firstMulti = i;
  }

  setVlan(vid: number, on: boolean): void {
    const at = (vid >> 5) * 4 + ((vid & 31) >> 3);
    const mask = 1 << (vid & 7);
    if (on) this.vlans[at]! |= mask;
    else this.vlans[at]! &= ~mask;
  }

  /** Refresh the filter view; call after any change to the fields it mirrors. */
  changed(): void {
    const f = this.filter;
    f.mac = this.mac;
    f.promisc = this.promisc !== 0;
    f.allmulti = this.allmulti !== 0;
    f.alluni = this.alluni !== 0;
    f.nomulti = this.nomulti !== 0;
    f.nouni = this.nouni !== 0;
    f.nobcast = this.nobcast !== 0;
    f.inUse = this.inUse;
    f.firstMulti = this.firstMulti;
    f.multiOverflow = this.multiOverflow !== 0;
    f.uniOverflow = this.uniOverflow !== 0;
  }
}
