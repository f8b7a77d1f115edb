/**
 * The ARP cache as a fixed-size table in a caller-provided byte region —
 * normally guest RAM — so it migrates with the guest like any other page and
 * the vCPU's JS heap holds none of it.
 *
 * Layout (little-endian like the rest of guest RAM; addresses in network order):
 *
 *   header, 16 bytes
 *     0  u32 le   magic "ARPC" (41 52 50 43): an all-zero region is not a cache
 *     4  u16 le   layout version (1)
 *     6  u16 le   capacity N (1..4096)
 *     8  u8[8]    reserved (0)
 *
 *   entry i at 16 + 24·i
 *     0  u32 be   IPv4 address
 *     4  u8[6]    MAC
 *    10  u8       flags: bit 0 VALID, bit 1 PERMANENT (never expires or is evicted)
 *    11  u8       reserved
 *    12  u16 le   VLAN id (0 = the untagged interface): entries are per L2 domain
 *    14  u16      reserved
 *    16  u64 le   expiry, guest-clock ns (the entry is stale from this instant)
 *
 * Operations are linear scans: N is small (tens of entries) and a scan of a
 * few hundred bytes is cheaper than keeping an index that would also have to
 * live in RAM. When the table is full, an insert evicts the non-permanent
 * entry that expires soonest — expired entries first, then the one confirmed
 * longest ago (expiry = confirmation time + timeout), an LRU approximation
 * that needs no extra state.
 *
 * The guest clock migrates (DESIGN §3), so expiries stay meaningful on the
 * destination. Not thread-safe: one vCPU (or a lock in the guest) owns it.
 */

import { VmigError, isU64 } from '../../core/index.js';
import { checkField, checkSpan, readU16le, readU32be, readU32le, writeU16le, writeU32be, writeU32le } from './byte-access.js';
import { checkIpv4 } from './ipv4-address.js';
import { checkMac, readMac, writeMac } from './mac-address.js';

export const ARP_CACHE_MAGIC = 0x4350_5241; // "ARPC" read as u32 le
export const ARP_CACHE_LAYOUT_VERSION = 1;
export const ARP_CACHE_HEADER_BYTES = 16;
export const ARP_CACHE_ENTRY_BYTES = 24;
export const ARP_CACHE_MAX_CAPACITY = 4096;
export const ARP_CACHE_F_VALID = 1;
export const ARP_CACHE_F_PERMANENT = 2;
/** `arpCacheLookup` result when there is no usable entry (MACs are ≥ 0). */
export const ARP_CACHE_MISS = -1;
/** `arpCacheInsert` result when every slot holds a permanent entry. */
export const ARP_CACHE_FULL = -1;

const E_IP = 0;
const E_MAC = 4;
const E_FLAGS = 10;
const E_VLAN = 12;
const E_EXPIRY_LO = 16;
const E_EXPIRY_HI = 20;

/** One entry, as read by `readArpCacheEntry`. */
export class ArpCacheEntry {
  ip = 0;
  mac = 0;
  vlanId = 0;
  isPermanent = false;
  expiresAtNs = 0n;
}

/** Bytes a cache of `capacity` entries occupies. */
export function arpCacheByteLength(capacity: number): number {
  return ARP_CACHE_HEADER_BYTES + capacity * ARP_CACHE_ENTRY_BYTES;
}

/**
 * Format region[base, base + arpCacheByteLength(capacity)) as an empty cache.
 * Returns the bytes written (the span to mark dirty).
 * @throws VmigError ERR_GUEST_BAD_ARGUMENT for a capacity outside 1..4096, ERR_GUEST_SPAN_OUT_OF_RANGE if it does not fit
 */
export function initArpCache(region: Uint8Array, base: number, capacity: number): number {
  checkField(capacity, 1, ARP_CACHE_MAX_CAPACITY, 'ARP cache capacity');
  const byteLength = arpCacheByteLength(capacity);
  checkSpan(region, base, byteLength, 'ARP cache region');
  region.fill(0, base, base + byteLength);
  writeU32le(region, base, ARP_CACHE_MAGIC);
  writeU16le(region, base + 4, ARP_CACHE_LAYOUT_VERSION);
  writeU16le(region, base + 6, capacity);
  return byteLength;
}

/**
 * The capacity of the cache at `base`, after checking its header and that all
 * its entries lie inside `region`.
 * @throws VmigError ERR_GUEST_ARP_CACHE_LAYOUT if the region does not hold a cache
 */
export function arpCacheCapacity(region: Uint8Array, base: number): number {
  const fitsHeader = Number.isInteger(base) && base >= 0 && base + ARP_CACHE_HEADER_BYTES <= region.length;
  const magic = fitsHeader ? readU32le(region, base) : 0;
  const version = fitsHeader ? readU16le(region, base + 4) : 0;
  const capacity = fitsHeader ? readU16le(region, base + 6) : 0;
  if (magic === ARP_CACHE_MAGIC && version === ARP_CACHE_LAYOUT_VERSION && capacity >= 1 && capacity <= ARP_CACHE_MAX_CAPACITY && base + arpCacheByteLength(capacity) <= region.length) {
    return capacity;
  }
  throw new VmigError(
    'ERR_GUEST_ARP_CACHE_LAYOUT',
    `Cannot use the ARP cache at ${base}: no valid header there (magic 0x${magic.toString(16)}, version ${version}, capacity ${capacity}, region ${region.length} bytes); initialise it with initArpCache`,
    { details: { base, magic, version, capacity, regionLength: region.length } },
  );
}

/** Split a u64 guest time into u32 halves (compared without allocating per entry). */
function timeHalves(ns: bigint, what: string): [hi: number, lo: number] {
  if (typeof ns !== 'bigint' || !isU64(ns)) {
    throw new VmigError('ERR_GUEST_BAD_ARGUMENT', `Invalid ${what}: ${String(ns)} is not a u64 bigint (guest-clock ns)`, { details: { what } });
  }
  return [Number(ns >> 32n), Number(ns & 0xffff_ffffn)];
}

function isExpired(region: Uint8Array, at: number, nowHi: number, nowLo: number): boolean {
  const hi = readU32le(region, at + E_EXPIRY_HI);
  return hi < nowHi || (hi === nowHi && readU32le(region, at + E_EXPIRY_LO) <= nowLo);
}

/** Earlier-expiring comparison of two entries (true if `a` expires before `b`). */
function expiresBefore(region: Uint8Array, a: number, b: number): boolean {
  const aHi = readU32le(region, a + E_EXPIRY_HI);
  const bHi = readU32le(region, b + E_EXPIRY_HI);
  return aHi < bHi || (aHi === bHi && readU32le(region, a + E_EXPIRY_LO) < readU32le(region, b + E_EXPIRY_LO));
}

function entryAt(base: number, slot: number): number {
  return base + ARP_CACHE_HEADER_BYTES + slot * ARP_CACHE_ENTRY_BYTES;
}

/** The slot holding (vlanId, ip), or -1. */
function findSlot(region: Uint8Array, base: number, capacity: number, vlanId: number, ip: number): number {
  for (let slot = 0; slot < capacity; slot++) {
    const at = entryAt(base, slot);
    if ((region[at + E_FLAGS]! & ARP_CACHE_F_VALID) !== 0 && readU32be(region, at + E_IP) === ip && readU16le(region, at + E_VLAN) === vlanId) return slot;
  }
  return -1;
}

function checkKey(vlanId: number, ip: number): void {
  checkField(vlanId, 0, 4094, 'VLAN id');
  checkIpv4(ip, 'IPv4 address');
}

function writeEntry(region: Uint8Array, at: number, vlanId: number, ip: number, mac: number, flags: number, expiryHi: number, expiryLo: number): void {
  writeU32be(region, at + E_IP, ip);
  writeMac(region, at + E_MAC, mac);
  region[at + E_FLAGS] = flags;
  region[at + 11] = 0;
  writeU16le(region, at + E_VLAN, vlanId);
  writeU16le(region, at + 14, 0);
  writeU32le(region, at + E_EXPIRY_LO, expiryLo);
  writeU32le(region, at + E_EXPIRY_HI, expiryHi);
}

/**
 * The MAC for `ip` on VLAN `vlanId`, or ARP_CACHE_MISS when there is no entry
 * or it has expired at `nowNs`.
 * @throws VmigError ERR_GUEST_ARP_CACHE_LAYOUT, ERR_GUEST_BAD_ARGUMENT
 */
export function arpCacheLookup(region: Uint8Array, base: number, vlanId: number, ip: number, nowNs: bigint): number {
  const capacity = arpCacheCapacity(region, base);
  checkKey(vlanId, ip);
  const [nowHi, nowLo] = timeHalves(nowNs, 'current guest time');
  const slot = findSlot(region, base, capacity, vlanId, ip);
  if (slot < 0) return ARP_CACHE_MISS;
  const at = entryAt(base, slot);
  if ((region[at + E_FLAGS]! & ARP_CACHE_F_PERMANENT) === 0 && isExpired(region, at, nowHi, nowLo)) return ARP_CACHE_MISS;
  return readMac(region, at + E_MAC);
}

/**
 * Insert or update (vlanId, ip) → mac, valid until `expiresAtNs` (ignored for
 * a permanent entry). A learned entry never replaces a permanent one (as
 * Linux keeps NUD_PERMANENT entries against received ARP); a permanent insert
 * replaces anything. Returns the slot used, or ARP_CACHE_FULL when every slot
 * is permanent. The entry's 24 bytes are the span to mark dirty.
 * @throws VmigError ERR_GUEST_ARP_CACHE_LAYOUT, ERR_GUEST_BAD_ARGUMENT
 */
export function arpCacheInsert(region: Uint8Array, base: number, vlanId: number, ip: number, mac: number, expiresAtNs: bigint, isPermanent = false): number {
  const capacity = arpCacheCapacity(region, base);
  checkKey(vlanId, ip);
  checkMac(mac, 'MAC address');
  const [expiryHi, expiryLo] = timeHalves(expiresAtNs, 'expiry');
  const flags = ARP_CACHE_F_VALID | (isPermanent ? ARP_CACHE_F_PERMANENT : 0);

  let free = -1;
  let victim = -1;
  for (let slot = 0; slot < capacity; slot++) {
    const at = entryAt(base, slot);
    const slotFlags = region[at + E_FLAGS]!;
    if ((slotFlags & ARP_CACHE_F_VALID) === 0) {
      if (free < 0) free = slot;
      continue;
    }
    if (readU32be(region, at + E_IP) === ip && readU16le(region, at + E_VLAN) === vlanId) {
      if ((slotFlags & ARP_CACHE_F_PERMANENT) !== 0 && !isPermanent) return slot;
      writeEntry(region, at, vlanId, ip, mac, flags, expiryHi, expiryLo);
      return slot;
    }
    if ((slotFlags & ARP_CACHE_F_PERMANENT) === 0 && (victim < 0 || expiresBefore(region, at, entryAt(base, victim)))) victim = slot;
  }
  const slot = free >= 0 ? free : victim;
  if (slot < 0) return ARP_CACHE_FULL;
  writeEntry(region, entryAt(base, slot), vlanId, ip, mac, flags, expiryHi, expiryLo);
  return slot;
}

/**
 * RFC 826's merge step: if (vlanId, ip) is already cached (and not
 * permanent), update its MAC and expiry; never create an entry. Returns the
 * slot updated, or -1.
 * @throws VmigError ERR_GUEST_ARP_CACHE_LAYOUT, ERR_GUEST_BAD_ARGUMENT
 */
export function arpCacheRefresh(region: Uint8Array, base: number, vlanId: number, ip: number, mac: number, expiresAtNs: bigint): number {
  const capacity = arpCacheCapacity(region, base);
  checkKey(vlanId, ip);
  checkMac(mac, 'MAC address');
  const [expiryHi, expiryLo] = timeHalves(expiresAtNs, 'expiry');
  const slot = findSlot(region, base, capacity, vlanId, ip);
  if (slot < 0) return -1;
  const at = entryAt(base, slot);
  if ((region[at + E_FLAGS]! & ARP_CACHE_F_PERMANENT) !== 0) return -1;
  writeEntry(region, at, vlanId, ip, mac, ARP_CACHE_F_VALID, expiryHi, expiryLo);
  return slot;
}

/**
 * Remove (vlanId, ip), permanent or not. Returns the slot freed, or -1.
 * @throws VmigError ERR_GUEST_ARP_CACHE_LAYOUT, ERR_GUEST_BAD_ARGUMENT
 */
export function arpCacheEvict(region: Uint8Array, base: number, vlanId: number, ip: number): number {
  const capacity = arpCacheCapacity(region, base);
  checkKey(vlanId, ip);
  const slot = findSlot(region, base, capacity, vlanId, ip);
  if (slot >= 0) region.fill(0, entryAt(base, slot), entryAt(base, slot) + ARP_CACHE_ENTRY_BYTES);
  return slot;
}

/**
 * Remove every non-permanent entry expired at `nowNs` (the periodic sweep).
 * Returns how many were removed.
 * @throws VmigError ERR_GUEST_ARP_CACHE_LAYOUT, ERR_GUEST_BAD_ARGUMENT
 */
export function arpCacheEvictExpired(region: Uint8Array, base: number, nowNs: bigint): number {
  const capacity = arpCacheCapacity(region, base);
  const [nowHi, nowLo] = timeHalves(nowNs, 'current guest time');
  let removed = 0;
  for (let slot = 0; slot < capacity; slot++) {
    const at = entryAt(base, slot);
    const flags = region[at + E_FLAGS]!;
    if ((flags & ARP_CACHE_F_VALID) !== 0 && (flags & ARP_CACHE_F_PERMANENT) === 0 && isExpired(region, at, nowHi, nowLo)) {
      region.fill(0, at, at + ARP_CACHE_ENTRY_BYTES);
      removed++;
    }
  }
  return removed;
}

/**
 * Read slot `slot` into `out`. Returns false (leaving `out` alone) for an empty slot.
 * @throws VmigError ERR_GUEST_ARP_CACHE_LAYOUT, ERR_GUEST_BAD_ARGUMENT for a slot outside the cache
 */
export function readArpCacheEntry(region: Uint8Array, base: number, slot: number, out: ArpCacheEntry): boolean {
  const capacity = arpCacheCapacity(region, base);
  checkField(slot, 0, capacity - 1, 'ARP cache slot');
  const at = entryAt(base, slot);
  const flags = region[at + E_FLAGS]!;
  if ((flags & ARP_CACHE_F_VALID) === 0) return false;
  out.ip = readU32be(region, at + E_IP);
  out.mac = readMac(region, at + E_MAC);
  out.vlanId = readU16le(region, at + E_VLAN);
  out.isPermanent = (flags & ARP_CACHE_F_PERMANENT) !== 0;
  out.expiresAtNs = (BigInt(readU32le(region, at + E_EXPIRY_HI)) << 32n) | BigInt(readU32le(region, at + E_EXPIRY_LO));
  return true;
}

/** Number of valid entries. @throws VmigError ERR_GUEST_ARP_CACHE_LAYOUT */
export function arpCacheCount(region: Uint8Array, base: number): number {
  const capacity = arpCacheCapacity(region, base);
  let count = 0;
  for (let slot = 0; slot < capacity; slot++) if ((region[entryAt(base, slot) + E_FLAGS]! & ARP_CACHE_F_VALID) !== 0) count++;
  return count;
}
