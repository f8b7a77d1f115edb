/**
 * Where the guest keeps its state in guest RAM (DESIGN §3: the guest's JS
 * heap holds nothing that must survive migration). Fixed addresses, so a
 * kernel resuming on a migration destination finds everything where the
 * source left it.
 *
 *   0x0000_0000  page 0: unused (a null guest pointer faults on purpose)
 *   0x0000_1000  boot block (below)
 *   0x0000_2000  admin channel: host → guest request, guest → host response
 *   0x0000_4000  kernel heap: driver rings, buffers, stack state (bump-allocated)
 *   workload     the last `workloadBytes` of RAM (page aligned), when enabled
 *
 * Boot block (little-endian, offsets from 0x1000):
 *   0x00 u32 magic "VMIG"     0x04 u32 layout version   0x08 u32 firmware build id
 *   0x0c u32 boot count        0x10 u32 heap next        0x14 u32 heap end
 *   0x18 u32 guest IPv4        0x1c u32 prefix length    0x20 u32 UDP echo port
 *   0x24 u32 workload base     0x28 u32 workload bytes   0x2c u32 dirty rate (bytes/s)
 *   0x30 u32 net state ptr     0x34 u32 workload state ptr  0x38 u32 console buffer
 *   0x40 u64 ready-at guest ns (0 until the network is up)
 */

export const BOOT_BLOCK = 0x1000;
export const ADMIN_CHANNEL = 0x2000;
export const ADMIN_CHANNEL_BYTES = 0x2000;
export const HEAP_BASE = 0x4000;

export const BOOT_MAGIC = 0x47494d56; // "VMIG" little-endian
export const LAYOUT_VERSION = 1;

export const BB_MAGIC = 0x00;
export const BB_LAYOUT = 0x04;
export const BB_BUILD_ID = 0x08;
export const BB_BOOT_COUNT = 0x0c;
export const BB_HEAP_NEXT = 0x10;
export const BB_HEAP_END = 0x14;
export const BB_IPV4 = 0x18;
export const BB_PREFIX = 0x1c;
export const BB_UDP_PORT = 0x20;
export const BB_WORKLOAD_BASE = 0x24;
export const BB_WORKLOAD_BYTES = 0x28;
export const BB_DIRTY_RATE = 0x2c;
export const BB_NET_STATE = 0x30;
export const BB_WORKLOAD_STATE = 0x34;
export const BB_CONSOLE_BUF = 0x38;
export const BB_READY_NS = 0x40;

/**
 * The firmware build id: the guest code must be the same on both sides of a
 * migration (like a BIOS build), so the stream carries this and the
 * destination compares. Bump it whenever the RAM layout or the meaning of any
 * guest structure changes.
 */
export const GUEST_FIRMWARE_BUILD_ID = 0x0001_0001;
