/**
 * A vCPU thread's guest code, run before its guest does. A migration
 * destination's vCPU threads load the kernel and then wait, paused, while
 * RAM arrives; when the guest resumes, its first packets ran through code
 * V8 had never executed in that thread (the interpreter, then the
 * compilers): the guest's first UDP echo took 5–15 ms instead of tens of
 * microseconds (the switchover trace, docs/BENCHMARKS.md). JIT state is per
 * thread and does not migrate; a real CPU has no such warm-up.
 *
 * So the waiting thread boots a scratch guest — the same kernel, on scratch
 * RAM of its own — against a minimal virtio-net register file, and feeds it
 * UDP probes, ARP requests and config interrupts for a few hundred rounds:
 * the driver's RX and TX rings, the stack, the echo responder, the workload
 * and the kernel's slice loop all run as they will for the real guest.
 * Nothing here touches the VM: not its RAM, not its control block, not the
 * VMM (MMIO and doorbells stay in this thread).
 */

import { GuestMemory } from '../../memory/index.js';
import { VIRTIO_PCI_DEVICE_CFG, VIRTIO_PCI_ISR } from '../../virtio/index.constants.js';
import { NO_VLAN_TAG, buildArpRequestFrame, buildUdpFrame, parseIpv4Address } from '../net/index.js';
import type { VcpuServices } from '../vcpu-services.js';
import { hostMonotonicNs } from '../vcpu-protocol.js';
import type { KernelBootData } from './kernel.js';
import { F, NET_HDR_BYTES } from './virtio-net-driver.js';

const SCRATCH_RAM_BYTES = 4 << 20;
const SCRATCH_WORKLOAD_BYTES = 256 << 10;
const GUEST_IP = '10.255.0.2';
const PEER_IP = '10.255.0.1';
const GUEST_MAC = 0x52540000ff02;
const PEER_MAC = 0x52540000ff01;
const UDP_PORT = 7777;
const QUEUE_SIZE = 256;
/** The features the register file offers: one queue pair, no control queue (nothing to answer there). */
const OFFERED_LO = (1 << F.CSUM) | (1 << F.GUEST_CSUM) | (1 << F.MAC) | (1 << F.STATUS);
const OFFERED_HI = 1; // VIRTIO_F_VERSION_1 (bit 32)
/** What the peer's probes carry: a full checksum, as from a Linux socket. */
const UDP_CHECKSUM = 'full';

interface QueueRegs {
  desc: number;
  avail: number;
  used: number;
  lastAvail: number;
}

/**
 * The device side, as little as the driver needs: virtio-pci common config
 * (features, status, queue select/size/addresses), the MAC and link status
 * in device config, and for each ring the pop/push of a split virtqueue.
 */
class ScratchNic {
  readonly #mem: GuestMemory;
  readonly #queues: QueueRegs[] = [];
  #featureSelect = 0;
  #status = 0;
  #queueSelect = 0;
  echoes = 0;

  constructor(mem: GuestMemory) {
    this.#mem = mem;
  }

  services(): VcpuServices {
    return {
      index: 0,
      mmioFaults: 0,
      nowNs: () => hostMonotonicNs(),
      mmioRead: (addr: bigint, size: number) => BigInt(this.#read(Number(addr), size)),
      mmioWrite: (addr: bigint, _size: number, value: bigint) => this.#write(Number(addr), Number(BigInt.asUintN(32, value))),
      ringDoorbell: () => undefined,
      pauseRequested: () => false,
    } as unknown as VcpuServices;
  }

  #read(off: number, size: number): number {
    if (off === 0x04) return this.#featureSelect === 0 ? OFFERED_LO : OFFERED_HI;
    if (off === 0x14) return this.#status;
    if (off === 0x18) return QUEUE_SIZE;
    if (off === VIRTIO_PCI_ISR) return 0;
    if (off >= VIRTIO_PCI_DEVICE_CFG && off < VIRTIO_PCI_DEVICE_CFG + 6) return Math.floor(GUEST_MAC / 2 ** (8 * (5 - (off - VIRTIO_PCI_DEVICE_CFG)))) & 0xff;
    if (off === VIRTIO_PCI_DEVICE_CFG + 6 && size === 2) return 1; // VIRTIO_NET_S_LINK_UP
    return 0;
  }

  #write(off: number, value: number): void {
    if (off === 0x00) this.#featureSelect = value;
    else if (off === 0x14) this.#status = value;
    else if (off === 0x16) this.#queueSelect = value;
    else if (off === 0x20 || off === 0x28 || off === 0x30) {
      const q = (this.#queues[this.#queueSelect] ??= { desc: 0, avail: 0, used: 0, lastAvail: 0 });
      if (off === 0x20) q.desc = value;
      else if (off === 0x28) q.avail = value;
      else q.used = value;
    }
  }

  /** The next chain the driver made available on queue `q`: [head id, buffer address], or undefined. */
  #pop(q: QueueRegs): [number, number] | undefined {
    const m = this.#mem;
    if (q.avail === 0 || m.atomicLoadU16(q.avail + 2) === q.lastAvail) return undefined;
    const id = m.readU16(q.avail + 4 + 2 * (q.lastAvail % QUEUE_SIZE));
    q.lastAvail = (q.lastAvail + 1) & 0xffff;
    return [id, Number(m.readU64(q.desc + 16 * id))];
  }

  #push(q: QueueRegs, id: number, len: number): void {
    const m = this.#mem;
    const idx = m.atomicLoadU16(q.used + 2);
    m.writeU32(q.used + 4 + 8 * (idx % QUEUE_SIZE), id);
    m.writeU32(q.used + 8 + 8 * (idx % QUEUE_SIZE), len);
    m.atomicStoreU16(q.used + 2, (idx + 1) & 0xffff);
  }

  /** A frame from the peer into RX queue 0 (a zeroed virtio-net header first). */
  receive(build: (bytes: Uint8Array, at: number, capacity: number) => number): void {
    const q = this.#queues[0];
    const chain = q && this.#pop(q);
    if (!chain) return;
    const [id, addr] = chain;
    this.#mem.fill(addr, NET_HDR_BYTES, 0);
    const len = build(this.#mem.bytes, addr + NET_HDR_BYTES, 1500);
    this.#push(q, id, NET_HDR_BYTES + len);
  }

  /** Take what the driver sent on TX queue 1 (a UDP echo counts). */
  drainTx(): void {
    const q = this.#queues[1];
    for (let chain = q && this.#pop(q); chain; chain = this.#pop(q!)) {
      this.echoes++;
      this.#push(q!, chain[0], 0);
    }
  }
}

/**
 * Boot a scratch guest with `createKernel` and run `rounds` rounds of
 * traffic through it, or fewer when `stop()` says so (checked every round:
 * the real guest must never wait for this). Returns the echoes the scratch
 * guest sent.
 */
export function warmUpGuestCode(createKernel: (services: VcpuServices, boot: KernelBootData) => { interrupt(v: bigint, now: bigint): void; runSlice(now: bigint): unknown }, options: { rounds: number; stop: () => boolean }): number {
  const mem = GuestMemory.createAnonymous(SCRATCH_RAM_BYTES);
  const nic = new ScratchNic(mem);
  const services = nic.services();
  if (options.stop()) return 0;
  const kernel = createKernel(services, {
    ram: mem.shared,
    vcpuCount: 1,
    resume: false,
    nic: true,
    config: { ip: GUEST_IP, prefixLength: 24, udpEchoPort: UDP_PORT, workloadBytes: SCRATCH_WORKLOAD_BYTES, dirtyRateBytesPerSec: 4 << 20 },
  });
  const guestIp = parseIpv4Address(GUEST_IP);
  const peerIp = parseIpv4Address(PEER_IP);
  const payload = 16;
  for (let round = 0; round < options.rounds && !options.stop(); round++) {
    if (round % 16 === 0) {
      nic.receive((b, at, cap) => buildArpRequestFrame(b, at, cap, NO_VLAN_TAG, PEER_MAC, peerIp, guestIp));
    }
    nic.receive((b, at, cap) =>
      buildUdpFrame(b, at, cap, { dstMac: GUEST_MAC, srcMac: PEER_MAC, vlanTci: NO_VLAN_TAG, srcIp: peerIp, dstIp: guestIp, ttl: 64, identification: round & 0xffff, srcPort: 40000 + (round & 1023), dstPort: UDP_PORT, checksumMode: UDP_CHECKSUM }, payload),
    );
    const now = hostMonotonicNs();
    // Queue vectors as the device raises them; every 32 rounds the config vector too (link status read).
    kernel.interrupt(round % 32 === 0 ? 0b111n : 0b110n, now);
    kernel.runSlice(now);
    nic.drainTx();
  }
  return nic.echoes;
}
