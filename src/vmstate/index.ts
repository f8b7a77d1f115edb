/** vmstate: declarative device-state descriptions, the one interpreter, vmdesc JSON. */
export type { Vmsd, Field, FieldType, IntType, SizeSpec, CustomCodec, VmState, VmstateContext } from './description.js';
export { vmdescTypeName, intWidth } from './description.js';
export { saveState, loadState, encodeState, decodeState, getPath, setPath, QEMU_VM_SUBSECTION } from './interpreter.js';
export type { JsonObject } from './interpreter.js';
export { formatQemuJson, vmsdFromVmdesc, saveWithVmdesc } from './vmdesc.js';
export type { VmdescNode, VmdescField } from './vmdesc.js';
export { VMSTATE_MAX_BUFFER_BYTES, VMSTATE_MAX_ELEMENTS, VMSTATE_MAX_DEPTH } from './limits.js';
