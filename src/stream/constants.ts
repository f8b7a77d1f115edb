/**
 * QEMU migration stream constants (migration/savevm.h, migration/ram.c;
 * research/qemu-wire-format.md §1.2, §1.4, §1.9, §1.10). Names are QEMU's.
 */

export const QEMU_VM_FILE_MAGIC = 0x5145564d; // "QEVM"
export const QEMU_VM_FILE_VERSION_COMPAT = 0x00000002;
export const QEMU_VM_FILE_VERSION = 0x00000003;

/** Section type bytes. */
export const QEMU_VM_EOF = 0x00;
export const QEMU_VM_SECTION_START = 0x01;
export const QEMU_VM_SECTION_PART = 0x02;
export const QEMU_VM_SECTION_END = 0x03;
export const QEMU_VM_SECTION_FULL = 0x04;
export const QEMU_VM_SUBSECTION = 0x05;
export const QEMU_VM_VMDESCRIPTION = 0x06;
export const QEMU_VM_CONFIGURATION = 0x07;
export const QEMU_VM_COMMAND = 0x08;
export const QEMU_VM_SECTION_FOOTER = 0x7e;

/** QEMU_VM_COMMAND values (MIG_CMD_*), with their fixed data length or -1 when variable. */
export const MIG_CMD_INVALID = 0;
export const MIG_CMD_OPEN_RETURN_PATH = 1;
export const MIG_CMD_PING = 2;
export const MIG_CMD_POSTCOPY_ADVISE = 3;
export const MIG_CMD_POSTCOPY_LISTEN = 4;
export const MIG_CMD_POSTCOPY_RUN = 5;
export const MIG_CMD_POSTCOPY_RAM_DISCARD = 6;
export const MIG_CMD_PACKAGED = 7;
export const MIG_CMD_ENABLE_COLO = 8;
export const MIG_CMD_POSTCOPY_RESUME = 9;
export const MIG_CMD_RECV_BITMAP = 10;
export const MIG_CMD_SWITCHOVER_START = 11; // QEMU 10.x
export const MIG_CMD_MAX = 12;

export const MIG_CMD_NAMES: Record<number, string> = {
  1: 'OPEN_RETURN_PATH',
  2: 'PING',
  3: 'POSTCOPY_ADVISE',
  4: 'POSTCOPY_LISTEN',
  5: 'POSTCOPY_RUN',
  6: 'POSTCOPY_RAM_DISCARD',
  7: 'PACKAGED',
  8: 'ENABLE_COLO',
  9: 'POSTCOPY_RESUME',
  10: 'RECV_BITMAP',
  11: 'SWITCHOVER_START',
};

/** Fixed lengths QEMU's loadvm_process_command checks; -1 = variable. ADVISE is 0 or 16. */
export const MIG_CMD_LENGTHS: Record<number, number> = {
  1: 0,
  2: 4,
  3: -1,
  4: 0,
  5: 0,
  6: -1,
  7: 4,
  8: 0,
  9: 0,
  10: -1,
  11: 0,
};

/** The "ram" live section (ram.c): idstr, version. */
export const RAM_SECTION_IDSTR = 'ram';
export const RAM_SECTION_VERSION = 4;

/** RAM record flags, in the low bits of each record's be64 header word. */
export const RAM_SAVE_FLAG_FULL = 0x01; // obsolete, never sent
export const RAM_SAVE_FLAG_ZERO = 0x02;
export const RAM_SAVE_FLAG_MEM_SIZE = 0x04;
export const RAM_SAVE_FLAG_PAGE = 0x08;
export const RAM_SAVE_FLAG_EOS = 0x10;
export const RAM_SAVE_FLAG_CONTINUE = 0x20;
export const RAM_SAVE_FLAG_XBZRLE = 0x40;
export const RAM_SAVE_FLAG_HOOK = 0x80; // RDMA only
export const RAM_SAVE_FLAG_COMPRESS_PAGE = 0x100; // QEMU ≤ 9.0
export const RAM_SAVE_FLAG_MULTIFD_FLUSH = 0x200; // QEMU ≥ 8.x

export const ENCODING_FLAG_XBZRLE = 0x01;
export const TARGET_PAGE_SIZE = 4096;
