/**
 * Caps on sizes read from untrusted streams, checked before anything is
 * allocated. They are far above anything a real device sends (the largest
 * virtio-net array is 1024 entries) and far below what would hurt the VMM.
 */
export const VMSTATE_MAX_ELEMENTS = 1 << 20;
export const VMSTATE_MAX_BUFFER_BYTES = 64 << 20;
export const VMSTATE_MAX_DEPTH = 32;
