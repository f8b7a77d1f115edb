/** Caps on lengths read from an untrusted stream, checked before allocating. */

/** vmdesc JSON (QEMU's is ~100 KB for a small VM). */
export const STREAM_MAX_VMDESC_BYTES = 64 << 20;
/** A PACKAGED command's embedded stream (QEMU savevm.c MAX_VM_CMD_PACKAGED_SIZE). */
export const STREAM_MAX_PACKAGED_BYTES = 1 << 24;
/** A COMMAND's payload (be16 length on the wire: 64 KiB at most anyway). */
export const STREAM_MAX_COMMAND_BYTES = 0xffff;
/** A configuration section machine name. */
export const STREAM_MAX_MACHINE_NAME = 256;
/** RAM blocks announced in one MEM_SIZE list. */
export const STREAM_MAX_RAM_BLOCKS = 4096;
/** One RAM block's length (1 TiB). */
export const STREAM_MAX_RAM_BLOCK_BYTES = 2 ** 40;
