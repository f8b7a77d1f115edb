/**
 * query-rx-filter (QEMU qapi/net.json RxFilterInfo, built by
 * virtio_net_query_rxfilter): one element per NIC, member order as QAPI
 * defines it. Lists are built by prepending (QAPI_LIST_PREPEND), so they come
 * out reversed: the last MAC table entry first, the highest VLAN first.
 */

import { formatMac } from './net-summary.js';
import type { NetState } from './net-state.js';
import { MAX_VLAN } from './spec-constants.js';

export type RxState = 'normal' | 'none' | 'all';

export interface RxFilterInfo {
  name: string;
  promiscuous: boolean;
  multicast: RxState;
  unicast: RxState;
  vlan: RxState;
  'broadcast-allowed': boolean;
  'multicast-overflow': boolean;
  'unicast-overflow': boolean;
  'main-mac': string;
  'vlan-table': number[];
  'unicast-table': string[];
  'multicast-table': string[];
}

export function queryRxFilter(name: string, s: NetState, ctrlVlanNegotiated: boolean): RxFilterInfo {
  const vlanTable: number[] = [];
  const view = new DataView(s.vlans.buffer, s.vlans.byteOffset, s.vlans.byteLength);
  for (let w = 0; w < MAX_VLAN >> 5; w++) {
    const word = view.getUint32(w * 4, true);
    if (word === 0) continue;
    for (let b = 0; b < 32; b++) if (word & (1 << b)) vlanTable.unshift(w * 32 + b);
  }
  const unicastTable: string[] = [];
  for (let i = 0; i < s.firstMulti; i++) unicastTable.unshift(formatMac(s.macs, i * 6));
  const multicastTable: string[] = [];
  for (let i = s.firstMulti; i < s.inUse; i++) multicastTable.unshift(formatMac(s.macs, i * 6));
  return {
    name,
    promiscuous: s.promisc !== 0,
    multicast: s.nomulti ? 'none' : s.allmulti ? 'all' : 'normal',
    unicast: s.nouni ? 'none' : s.alluni ? 'all' : 'normal',
    vlan: !ctrlVlanNegotiated ? 'all' : vlanTable.length === 0 ? 'none' : 'normal',
    // QEMU quirk kept on purpose: it reports n->nobcast here, so the member
    // is true when broadcast is *blocked*. Clients comparing with QEMU expect it.
    'broadcast-allowed': s.nobcast !== 0,
    'multicast-overflow': s.multiOverflow !== 0,
    'unicast-overflow': s.uniOverflow !== 0,
    'main-mac': formatMac(s.mac),
    'vlan-table': vlanTable,
    'unicast-table': unicastTable,
    'multicast-table': multicastTable,
  };
}
