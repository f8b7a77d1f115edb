/**
 * machine: machine types and their compat properties, typed device
 * properties, QEMU-shaped command-line parsing into a VmConfig, the runtime
 * property store behind qom-get/qom-set, and the machine's QMP commands.
 */
export { parseVmCommandLine } from './command-line.js';
export { formatVmCommandLine } from './command-line-format.js';
export type { VmConfig, DeviceConfig, NetdevConfig, TapNetdevConfig, VhostUserNetdevConfig, ChardevConfig, SocketChardevConfig, QmpEndpointConfig, IncomingConfig, SerialConfig, GuestConfig } from './vm-config.js';
export { DEFAULT_MEMORY_BYTES, MIN_MEMORY_BYTES, DEFAULT_UDP_ECHO_PORT, MAX_NETDEV_QUEUES } from './vm-config.js';
export { MACHINE_TYPES, DEFAULT_MACHINE_TYPE, HW_COMPAT, MAX_VCPUS, findMachineType, queryMachinesData } from './machine-types.js';
export type { MachineType, MachineVersion } from './machine-types.js';
export { VIRTIO_NET_PCI, VIRTIO_NET_F_GSO, MAX_MSIX_VECTORS, findProperty, propertyFeatureBits, parsePropertyText, parsePropertyJson, formatPropertyValue, parsePciDevfn, formatPciDevfn } from './device-properties.js';
export type { DeviceModel, PropertySpec, PropertyKind, PropertyValue, ParsedProperty } from './device-properties.js';
export { resolveDeviceProperties, checkGlobalProperty } from './global-properties.js';
export type { GlobalProperty, GlobalPropertyProblem, PropertySource, ResolvedProperties } from './global-properties.js';
export { QOM_PARENT, isTypeOf, qomAncestry, isKnownQomType } from './qom-types.js';
export { splitOptionString, splitJsonOption, escapeOptionValue, parseOnOff, parseSize, formatSize, isWellFormedId } from './qemu-option-syntax.js';
export type { OptionPair } from './qemu-option-syntax.js';
export { checkFeatureDependencies } from './device-options.js';
export { DevicePropertyStore } from './device-property-store.js';
export type { PropertyChange } from './device-property-store.js';
export { registerMachineQmpCommands } from './machine-qmp-commands.js';
export { Vm } from './vm.js';
export type { VmRunState, VmOptions } from './vm.js';
