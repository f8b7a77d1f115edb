/**
 * The guest's network subsystem: the virtio-net driver plus the stack
 * (src/guest/net) plus the UDP echo responder, run as a kernel task on
 * vCPU 0. State in guest RAM (at BB_NET_STATE):
 *
 *   0x000  driver state (virtio-net-driver.ts)
 *   0x500  interface configuration (src/guest/net/interface-config.ts, 80 bytes)
 *   0x560  u32 frames dropped by the stack     0x564 u32 UDP echoes sent
 *   0x568  u32 ICMP echoes sent                0x56c u32 ARP replies sent
 *   0x570  u32 announcements sent (GARP rounds) 0x574 u32 rx-mode flags (RXM_*)
 *   0x578  u32 interface config generation
 *   0x580  u32 multicast list count, then up to 32 MACs (6 bytes each)
 *   0x6f8  u64 TX flood until (guest ns; 0 = none)
 *   0x700  ARP cache (src/guest/net/arp-cache.ts, 64 entries)
 *
 * Admin ops (the host's `x-vmig-guest`): set-mac, set-rx-mode, add-mcast,
 * del-mcast, add-vlan, del-vlan, set-queues, set-rss, set-offloads — each
 * issues the control-queue command a Linux guest would; reprobe (reset and
 * re-initialise the device, optionally with smaller rings (`ring-size`) or
 * without some features (`features-off`: guest_announce, ctrl_vlan), then
 * restore the configuration — Linux's restore after freeze, ethtool -G on a
 * device without RING_RESET, or the NIC re-bound to a driver that asks for
 * fewer features; a reprobe without `features-off` asks for all of them
 * again); tx-flood (keep TX queue 0 full for `ms`, or until ms 0);
 * tx-out-of-range (a driver bug: one TX buffer past the end of RAM).
 */

import type { GuestMemory } from '../../memory/index.js';
import {
  DROP_REASON_COUNT,
  RxClassification,
  RxVerdict,
  arpCacheByteLength,
  arpCacheInsert,
  buildArpReplyFor,
  buildGratuitousArpFrame,
  buildIcmpEchoReplyFor,
  buildUdpReplyFor,
  classifyVirtioRxBuffer,
  decodeInterfaceConfig,
  encodeInterfaceConfig,
  initArpCache,
  parseIpv4Address,
  parseMac,
  formatMac,
  readMac,
  udpReplyPayloadOffset,
  vlanTciForInterface,
} from '../net/index.js';
import type { InterfaceConfig } from '../net/index.js';
import type { VcpuServices } from '../vcpu-services.js';
import type { AdminRequest, AdminResponse } from './admin-channel.js';
import type { KernelHeap } from './heap.js';
import { BB_UDP_PORT, BOOT_BLOCK } from './ram-layout.js';
import type { GuestConsole } from './console.js';
import type { KernelTask } from './kernel.js';
import { CTRL, DRIVER_STATE_BYTES, F, NET_HDR_BYTES, OPTIONAL_FEATURES, VIRTIO_NET_S_ANNOUNCE, VirtioNetDriver } from './virtio-net-driver.js';

const N_DRIVER = 0x000;
const N_IFCONFIG = 0x500;
const N_DROPS = 0x560;
const N_UDP_ECHOES = 0x564;
const N_ICMP_ECHOES = 0x568;
const N_ARP_REPLIES = 0x56c;
const N_ANNOUNCES = 0x570;
const N_RX_MODE = 0x574;
const N_IFCONFIG_GEN = 0x578;
const N_MCAST = 0x580;
const MAX_MCAST = 32;
const N_FLOOD_UNTIL = 0x6f8;
const N_ARP = 0x700;
/** The flood's frames go to a MAC no one has: the bridge floods them, nobody answers. */
const FLOOD_DST = 0x020000000001;
const ARP_ENTRIES = 64;
export const NET_STATE_BYTES = N_ARP + arpCacheByteLength(ARP_ENTRIES);

const ARP_TTL_NS = 60_000_000_000n;
const RX_BUDGET = 64;

const RX_MODE_BITS = { promisc: CTRL.RX_PROMISC, allmulti: CTRL.RX_ALLMULTI, alluni: CTRL.RX_ALLUNI, nomulti: CTRL.RX_NOMULTI, nouni: CTRL.RX_NOUNI, nobcast: CTRL.RX_NOBCAST } as const;

function ok(result: unknown = {}): AdminResponse {
  return { ok: true, result };
}

function fail(error: string): AdminResponse {
  return { ok: false, error };
}

function parseIpv4(text: string): number | undefined {
  try {
    return parseIpv4Address(text);
  } catch {
    return undefined;
  }
}

export class NetTask implements KernelTask {
  readonly #mem: GuestMemory;
  readonly #svc: VcpuServices;
  readonly #s: number;
  readonly driver: VirtioNetDriver;
  readonly #rx = new RxClassification();
  #config: InterfaceConfig | undefined;
  #configGen = -1;
  #configChanged = false;

  readonly #console: GuestConsole | undefined;

  constructor(mem: GuestMemory, services: VcpuServices, statePtr: number, console?: GuestConsole) {
    this.#console = console;
    this.#mem = mem;
    this.#svc = services;
    this.#s = statePtr;
    this.driver = new VirtioNetDriver(mem, services, statePtr + N_DRIVER);
  }

  static stateBytes(): number {
    return Math.max(NET_STATE_BYTES, DRIVER_STATE_BYTES);
  }

  /** First boot: probe the NIC and configure the untagged interface. */
  boot(heap: KernelHeap, ip: number, prefixLength: number): boolean {
    if (!this.driver.probe(heap)) return false;
    initArpCache(this.#mem.bytes, this.#s + N_ARP, ARP_ENTRIES);
    const mac = readMac(this.driver.mac, 0);
    this.#writeConfig({ mac, flags: 0, interfaces: ip ? [{ vlanId: 0, ip, prefixLength }] : [] });
    this.#console?.log(`eth0: virtio-net up, mac ${formatMac(mac)}, ${this.driver.currPairs}/${this.driver.maxPairs} queue pairs, link ${this.driver.linkStatus & 1 ? 'up' : 'down'}`);
    if (ip) this.#console?.log(`eth0: inet ${[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.')}/${prefixLength}`);
    return true;
  }

  #writeConfig(cfg: InterfaceConfig): void {
    const tmp = new Uint8Array(96);
    const n = encodeInterfaceConfig(cfg, tmp, 0);
    this.#mem.write(this.#s + N_IFCONFIG, tmp.subarray(0, n));
    this.#bump(N_IFCONFIG_GEN);
  }

  #ifconfig(): InterfaceConfig {
    const gen = this.#mem.readU32(this.#s + N_IFCONFIG_GEN);
    if (!this.#config || gen !== this.#configGen) {
      this.#config = decodeInterfaceConfig(this.#mem.bytes, this.#s + N_IFCONFIG);
      this.#configGen = gen;
    }
    return this.#config;
  }

  #bump(off: number): void {
    this.#mem.writeU32(this.#s + off, (this.#mem.readU32(this.#s + off) + 1) >>> 0);
  }

  // ------------------------------------------------------------ task

  interrupt(vectors: bigint): void {
    // Vector 0 is the config vector: link status and announce requests.
    if (vectors & 1n) this.#configChanged = true;
  }

  run(nowNs: bigint): boolean {
    if (!this.driver.up) return false;
    if (this.#configChanged) {
      this.#configChanged = false;
      const before = this.driver.linkStatus;
      const status = this.driver.readConfigStatus();
      if ((before ^ status) & 1) this.#console?.log(`eth0: link ${status & 1 ? 'up' : 'down'}`);
      if (status & VIRTIO_NET_S_ANNOUNCE) this.#announce();
    }
    const cfg = this.#ifconfig();
    const flooding = this.#flood(cfg, nowNs);
    return this.driver.poll((pair, bytes, offset, length) => this.#receive(pair, bytes, offset, length, cfg, nowNs), RX_BUDGET) || flooding;
  }

  /** While a flood lasts: fill TX queue 0 to the brim (the device drains it at its own pace). */
  #flood(cfg: InterfaceConfig, nowNs: bigint): boolean {
    const until = this.#mem.readU64(this.#s + N_FLOOD_UNTIL);
    if (until === 0n) return false;
    if (nowNs >= until) {
      this.#mem.writeU64(this.#s + N_FLOOD_UNTIL, 0n);
      return false;
    }
    const frame = (ram: Uint8Array, at: number): number => {
      for (let b = 0; b < 6; b++) ram[at + b] = Math.floor(FLOOD_DST / 2 ** (8 * (5 - b))) & 0xff;
      for (let b = 0; b < 6; b++) ram[at + 6 + b] = Math.floor(cfg.mac / 2 ** (8 * (5 - b))) & 0xff;
      ram[at + 12] = 0x88;
      ram[at + 13] = 0xb5; // IEEE local experimental ethertype
      ram.fill(0, at + 14, at + 60);
      return 60;
    };
    for (let i = 0; i < 256 && this.driver.send(0, frame); i++);
    return true;
  }

  #receive(pair: number, bytes: Uint8Array, offset: number, length: number, cfg: InterfaceConfig, nowNs: bigint): void {
    const rx = this.#rx;
    // The buffer starts with the virtio-net header: the classifier completes a
    // partial checksum (NEEDS_CSUM, we negotiated GUEST_CSUM) in place.
    const verdict = classifyVirtioRxBuffer(bytes, offset - NET_HDR_BYTES, length + NET_HDR_BYTES, cfg, rx);
    if (rx.patchedChecksumAt >= 0) this.#mem.markDirty(rx.patchedChecksumAt, 2);
    switch (verdict) {
      case RxVerdict.ArpRequest:
        if (rx.arp.senderIp !== 0) this.#learn(rx.vlanId, rx.arp.senderIp, rx.arp.senderMac, nowNs);
        if (this.driver.send(pair, (ram, at, cap) => buildArpReplyFor(rx, cfg, ram, at, cap))) this.#bump(N_ARP_REPLIES);
        return;
      case RxVerdict.ArpReply:
        this.#learn(rx.vlanId, rx.arp.senderIp, rx.arp.senderMac, nowNs);
        return;
      case RxVerdict.IcmpEchoRequest:
        if (this.driver.send(pair, (ram, at, cap) => buildIcmpEchoReplyFor(rx, bytes, cfg, ram, at, cap))) this.#bump(N_ICMP_ECHOES);
        return;
      case RxVerdict.Udp: {
        const port = this.#mem.readU32(BOOT_BLOCK + BB_UDP_PORT);
        if (rx.udp.dstPort !== port) return;
        const sent = this.driver.send(pair, (ram, at, cap) => {
          const payloadAt = at + udpReplyPayloadOffset(rx);
          const n = Math.min(rx.udp.payloadLength, cap - udpReplyPayloadOffset(rx));
          ram.copyWithin(payloadAt, rx.udp.payloadOffset, rx.udp.payloadOffset + n);
          return buildUdpReplyFor(rx, cfg, ram, at, cap, n);
        });
        if (sent) this.#bump(N_UDP_ECHOES);
        return;
      }
      case RxVerdict.ArpRefresh:
        return;
      default:
        this.#bump(N_DROPS);
    }
  }

  #learn(vlanId: number, ip: number, mac: number, nowNs: bigint): void {
    try {
      arpCacheInsert(this.#mem.bytes, this.#s + N_ARP, vlanId, ip, mac, nowNs + ARP_TTL_NS);
      this.#mem.markDirty(this.#s + N_ARP, arpCacheByteLength(ARP_ENTRIES));
    } catch {
      // A hostile sender (multicast MAC…): not learned.
    }
  }

  /** VIRTIO_NET_S_ANNOUNCE: a gratuitous ARP per interface, then ANNOUNCE_ACK (virtio 1.2 §5.1.6.5.4). */
  #announce(): void {
    const cfg = this.#ifconfig();
    for (const iface of cfg.interfaces) this.driver.send(0, (ram, at, cap) => buildGratuitousArpFrame(ram, at, cap, vlanTciForInterface(iface.vlanId), cfg.mac, iface.ip));
    this.driver.control(CTRL.ANNOUNCE, CTRL.ANNOUNCE_ACK, new Uint8Array(0));
    this.#bump(N_ANNOUNCES);
  }

  // ------------------------------------------------------------ admin

  admin(req: AdminRequest): AdminResponse | undefined {
    switch (req.op) {
      case 'set-mac':
        return this.#setMac(String(req.mac ?? ''));
      case 'set-rx-mode':
        return this.#setRxMode(req);
      case 'add-mcast':
      case 'del-mcast':
        return this.#mcast(req.op === 'add-mcast', String(req.mac ?? ''));
      case 'add-vlan':
      case 'del-vlan':
        return this.#vlan(req.op === 'add-vlan', req.id, req.ip);
      case 'set-queues':
        return this.#setQueues(req.pairs);
      case 'set-rss':
        return this.#setRss(req);
      case 'set-offloads':
        return this.#setOffloads(req);
      case 'reprobe':
        return this.#reprobe(req['ring-size'], req['features-off']);
      case 'tx-flood': {
        // ms 0 ends a flood that is running.
        const ms = Number(req.ms);
        if (!Number.isInteger(ms) || ms < 0 || ms > 60_000) return fail('ms must be 0..60000');
        this.#mem.writeU64(this.#s + N_FLOOD_UNTIL, ms === 0 ? 0n : this.#svc.nowNs() + BigInt(ms) * 1_000_000n);
        return ok({ ms });
      }
      case 'tx-out-of-range':
        return this.driver.sendOutOfRange(0) ? ok() : fail('no TX descriptor free');
      default:
        return undefined;
    }
  }

  /**
   * Reset and re-initialise the device, then restore what the guest had
   * configured: MAC, rx mode, multicast list, VLANs (the filter only with
   * CTRL_VLAN, as Linux), queue pairs. (RSS and guest offloads are back to
   * their defaults, as after Linux's restore until ethtool sets them again.)
   */
  #reprobe(sizeArg: unknown, offArg: unknown): AdminResponse {
    const ringSize = sizeArg === undefined ? undefined : Number(sizeArg);
    if (ringSize !== undefined && (!Number.isInteger(ringSize) || ringSize < 1 || ringSize > 256 || (ringSize & (ringSize - 1)) !== 0)) return fail('ring-size must be a power of two 1..256');
    const offNames = offArg === undefined ? [] : offArg;
    if (!Array.isArray(offNames)) return fail('features-off must be a list of feature names');
    const featuresOff: number[] = [];
    for (const name of offNames) {
      const bit = typeof name === 'string' && Object.hasOwn(OPTIONAL_FEATURES, name) ? OPTIONAL_FEATURES[name] : undefined;
      if (bit === undefined) return fail(`features-off: ${JSON.stringify(name)} is not a feature this driver can do without (${Object.keys(OPTIONAL_FEATURES).join(', ')})`);
      featuresOff.push(bit);
    }
    if (!this.driver.up) return fail('the NIC is not up');
    const pairs = this.driver.currPairs;
    const cfg = this.#ifconfig();
    if (!this.driver.reinit({ ...(ringSize === undefined ? {} : { ringSize }), featuresOff })) return fail('the device refused the re-initialisation');
    const steps: [string, number][] = [];
    const mac = new Uint8Array(6);
    for (let i = 0; i < 6; i++) mac[i] = Math.floor(cfg.mac / 2 ** (8 * (5 - i))) & 0xff;
    if (readMac(this.driver.mac, 0) !== cfg.mac) {
      steps.push(['MAC_ADDR_SET', this.driver.control(CTRL.MAC, CTRL.MAC_ADDR_SET, mac)]);
      this.driver.setMacCopy(mac);
    }
    const flags = this.#mem.readU32(this.#s + N_RX_MODE);
    for (const cmd of Object.values(RX_MODE_BITS)) if (flags & (1 << cmd)) steps.push([`rx-mode ${cmd}`, this.driver.control(CTRL.RX, cmd, Uint8Array.of(1))]);
    const list = this.#mcastList();
    if (list.length > 0) {
      const data = new Uint8Array(8 + 6 * list.length);
      new DataView(data.buffer).setUint32(4, list.length, true);
      list.forEach((m, i) => {
        for (let b = 0; b < 6; b++) data[8 + 6 * i + b] = Math.floor(m / 2 ** (8 * (5 - b))) & 0xff;
      });
      steps.push(['MAC_TABLE_SET', this.driver.control(CTRL.MAC, CTRL.MAC_TABLE_SET, data)]);
    }
    if (this.driver.hasFeature(F.CTRL_VLAN)) {
      for (const i of cfg.interfaces) if (i.vlanId) steps.push([`VLAN_ADD ${i.vlanId}`, this.driver.control(CTRL.VLAN, CTRL.VLAN_ADD, Uint8Array.of(i.vlanId & 0xff, i.vlanId >> 8))]);
    }
    if (pairs !== this.driver.currPairs) steps.push(['MQ_VQ_PAIRS_SET', this.driver.setQueuePairs(pairs)]);
    const refused = steps.filter(([, a]) => a !== 0).map(([w]) => w);
    return refused.length > 0 ? fail(`the device refused ${refused.join(', ')}`) : ok({ 'ring-size': ringSize ?? 'unchanged', 'features-off': offNames, restored: steps.map(([w]) => w) });
  }

  #ack(ack: number, what: string, result: unknown = {}): AdminResponse {
    return ack === 0 ? ok(result) : fail(`the device refused ${what}`);
  }

  #setMac(text: string): AdminResponse {
    let mac: number;
    try {
      mac = parseMac(text);
    } catch {
      return fail(`invalid MAC ${JSON.stringify(text)}`);
    }
    const bytes = new Uint8Array(6);
    for (let i = 0; i < 6; i++) bytes[i] = Math.floor(mac / 2 ** (8 * (5 - i))) & 0xff;
    const ack = this.driver.control(CTRL.MAC, CTRL.MAC_ADDR_SET, bytes);
    if (ack === 0) {
      this.driver.setMacCopy(bytes);
      this.#writeConfig({ ...this.#ifconfig(), mac });
    }
    return this.#ack(ack, 'MAC_ADDR_SET', { mac: formatMac(mac) });
  }

  #setRxMode(req: AdminRequest): AdminResponse {
    let flags = this.#mem.readU32(this.#s + N_RX_MODE);
    for (const [name, cmd] of Object.entries(RX_MODE_BITS)) {
      const v = req[name];
      if (v === undefined) continue;
      if (typeof v !== 'boolean') return fail(`${name} must be a boolean`);
      const ack = this.driver.control(CTRL.RX, cmd, Uint8Array.of(v ? 1 : 0));
      if (ack !== 0) return fail(`the device refused rx-mode ${name}`);
      flags = v ? flags | (1 << cmd) : flags & ~(1 << cmd);
    }
    this.#mem.writeU32(this.#s + N_RX_MODE, flags);
    const mode: Record<string, boolean> = {};
    for (const [name, cmd] of Object.entries(RX_MODE_BITS)) mode[name] = (flags & (1 << cmd)) !== 0;
    return ok(mode);
  }

  #mcastList(): number[] {
    const n = Math.min(MAX_MCAST, this.#mem.readU32(this.#s + N_MCAST));
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(readMac(this.#mem.bytes, this.#s + N_MCAST + 4 + 6 * i));
    return out;
  }

  #mcast(add: boolean, text: string): AdminResponse {
    let mac: number;
    try {
      mac = parseMac(text);
    } catch {
      return fail(`invalid MAC ${JSON.stringify(text)}`);
    }
    if (Math.floor(mac / 2 ** 40) % 2 === 0) return fail(`${text} is not a multicast address`);
    let list = this.#mcastList();
    if (add && !list.includes(mac)) {
      if (list.length >= MAX_MCAST) return fail(`at most ${MAX_MCAST} multicast addresses`);
      list.push(mac);
    }
    if (!add) list = list.filter((m) => m !== mac);
    // MAC_TABLE_SET: an empty unicast table, then the multicast table.
    const data = new Uint8Array(8 + 6 * list.length);
    const dv = new DataView(data.buffer);
    dv.setUint32(0, 0, true);
    dv.setUint32(4, list.length, true);
    list.forEach((m, i) => {
      for (let b = 0; b < 6; b++) data[8 + 6 * i + b] = Math.floor(m / 2 ** (8 * (5 - b))) & 0xff;
    });
    const ack = this.driver.control(CTRL.MAC, CTRL.MAC_TABLE_SET, data);
    if (ack === 0) {
      this.#mem.writeU32(this.#s + N_MCAST, list.length);
      this.#mem.write(this.#s + N_MCAST + 4, data.subarray(8));
    }
    return this.#ack(ack, 'MAC_TABLE_SET', { multicast: list.map(formatMac) });
  }

  #vlan(add: boolean, idArg: unknown, ipArg: unknown): AdminResponse {
    const id = Number(idArg);
    if (!Number.isInteger(id) || id < 1 || id > 4094) return fail('id must be a VLAN id 1..4094');
    const cfg = this.#ifconfig();
    let ip: number | undefined;
    let prefixLength = 24;
    if (add && ipArg !== undefined) {
      const [addr, prefix] = String(ipArg).split('/');
      ip = parseIpv4(addr ?? '');
      if (ip === undefined) return fail(`invalid IPv4 address ${JSON.stringify(ipArg)}`);
      if (prefix !== undefined) prefixLength = Number(prefix);
      if (!Number.isInteger(prefixLength) || prefixLength < 1 || prefixLength > 32) return fail('invalid prefix length');
    }
    // Without CTRL_VLAN there is no filter to program (every VLAN passes): Linux only adds the interface.
    const ack = this.driver.hasFeature(F.CTRL_VLAN) ? this.driver.control(CTRL.VLAN, add ? CTRL.VLAN_ADD : CTRL.VLAN_DEL, Uint8Array.of(id & 0xff, id >> 8)) : 0;
    if (ack !== 0) return fail(`the device refused VLAN_${add ? 'ADD' : 'DEL'} ${id}`);
    const interfaces = cfg.interfaces.filter((i) => i.vlanId !== id);
    if (add && ip !== undefined) interfaces.push({ vlanId: id, ip, prefixLength });
    try {
      this.#writeConfig({ ...cfg, interfaces });
    } catch (err) {
      return fail((err as Error).message);
    }
    return ok({ vlan: id, interfaces: interfaces.length });
  }

  #setQueues(pairsArg: unknown): AdminResponse {
    const pairs = Number(pairsArg);
    if (!Number.isInteger(pairs) || pairs < 1 || pairs > this.driver.maxPairs) return fail(`pairs must be 1..${this.driver.maxPairs}`);
    return this.#ack(this.driver.setQueuePairs(pairs), 'MQ_VQ_PAIRS_SET', { pairs: this.driver.currPairs });
  }

  #setRss(req: AdminRequest): AdminResponse {
    const hashTypes = req['hash-types'] === undefined ? 0x3f : Number(req['hash-types']);
    const table = Array.isArray(req.indirection) ? (req.indirection as unknown[]).map(Number) : Array.from({ length: 8 }, (_, i) => i % this.driver.currPairs);
    const n = table.length;
    if (n === 0 || (n & (n - 1)) !== 0 || n > 128 || table.some((q) => !Number.isInteger(q) || q < 0 || q >= this.driver.maxPairs)) return fail('indirection must be a power-of-two list (≤ 128) of queue indices');
    const key = typeof req.key === 'string' ? Uint8Array.from((req.key.match(/[0-9a-f]{2}/gi) ?? []).map((h) => parseInt(h, 16))) : Uint8Array.from({ length: 40 }, (_, i) => (i * 37 + 11) & 0xff);
    if (key.length === 0 || key.length > 40) return fail('key must be 1..40 bytes of hex');
    // struct virtio_net_rss_config (virtio 1.2 §5.1.6.5.7.1)
    const data = new Uint8Array(4 + 2 + 2 + 2 * n + 2 + 1 + key.length);
    const dv = new DataView(data.buffer);
    dv.setUint32(0, hashTypes >>> 0, true);
    dv.setUint16(4, n - 1, true);
    dv.setUint16(6, 0, true);
    table.forEach((q, i) => dv.setUint16(8 + 2 * i, q, true));
    dv.setUint16(8 + 2 * n, this.driver.currPairs, true);
    data[10 + 2 * n] = key.length;
    data.set(key, 11 + 2 * n);
    return this.#ack(this.driver.control(CTRL.MQ, CTRL.MQ_RSS_CONFIG, data), 'MQ_RSS_CONFIG', { 'hash-types': hashTypes, indirection: table });
  }

  #setOffloads(req: AdminRequest): AdminResponse {
    // Offload bits are guest feature bit numbers (virtio 1.2 §5.1.6.5.6.1).
    const names: Record<string, number> = { csum: 1, tso4: 7, tso6: 8, ecn: 9, ufo: 10 };
    let offloads = 0n;
    for (const [name, bit] of Object.entries(names)) if (req[name] === true) offloads |= 1n << BigInt(bit);
    const data = new Uint8Array(8);
    new DataView(data.buffer).setBigUint64(0, offloads, true);
    return this.#ack(this.driver.control(CTRL.GUEST_OFFLOADS, CTRL.GUEST_OFFLOADS_SET, data), 'GUEST_OFFLOADS_SET', { offloads: `0x${offloads.toString(16)}` });
  }

  status(): Record<string, unknown> {
    const m = this.#mem;
    const s = this.#s;
    const cfg = this.driver.up ? this.#ifconfig() : undefined;
    return {
      net: {
        up: this.driver.up,
        mac: cfg ? formatMac(cfg.mac) : null,
        link: (this.driver.linkStatus & 1) === 1,
        pairs: this.driver.up ? this.driver.currPairs : 0,
        max_pairs: this.driver.up ? this.driver.maxPairs : 0,
        interfaces: cfg?.interfaces.map((i) => ({ vlan: i.vlanId, ip: [i.ip >>> 24, (i.ip >>> 16) & 255, (i.ip >>> 8) & 255, i.ip & 255].join('.'), prefix: i.prefixLength })) ?? [],
        queues: this.driver.up ? this.driver.counters() : [],
        dropped: m.readU32(s + N_DROPS),
        udp_echoes: m.readU32(s + N_UDP_ECHOES),
        icmp_echoes: m.readU32(s + N_ICMP_ECHOES),
        arp_replies: m.readU32(s + N_ARP_REPLIES),
        announcements: m.readU32(s + N_ANNOUNCES),
        multicast: this.#mcastList().map(formatMac),
        drop_reasons_known: DROP_REASON_COUNT,
      },
    };
  }
}
