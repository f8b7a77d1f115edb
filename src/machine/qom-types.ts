/**
 * The slice of QEMU's QOM type tree that vmig's devices live in. Global
 * properties (machine compat and `-global`) name a driver, and QEMU applies
 * one to every object of that type or a subtype (object_dynamic_cast), so
 * `-global virtio-pci.vectors=…` reaches virtio-net-pci. A virtio PCI device
 * is two objects: the PCI proxy and, as its child "virtio-backend", the
 * virtio device; the proxy aliases all of the child's properties.
 *
 *   object ─ device ─┬─ pci-device ─ virtio-pci ─ virtio-net-pci-base ─ virtio-net-pci
 *                    └─ virtio-device ─ virtio-net-device
 */

export const QOM_PARENT: Readonly<Record<string, string | undefined>> = {
  object: undefined,
  device: 'object',
  'pci-device': 'device',
  'virtio-pci': 'pci-device',
  'virtio-net-pci-base': 'virtio-pci',
  'virtio-net-pci': 'virtio-net-pci-base',
  'virtio-device': 'device',
  'virtio-net-device': 'virtio-device',
};

export function isKnownQomType(type: string): boolean {
  return Object.hasOwn(QOM_PARENT, type);
}

/** `type` and its ancestors, nearest first. */
export function qomAncestry(type: string): string[] {
  const chain: string[] = [];
  for (let t: string | undefined = type; t !== undefined; t = QOM_PARENT[t]) chain.push(t);
  return chain;
}

/** object_dynamic_cast(obj of `type`, `target`) != NULL. */
export function isTypeOf(type: string, target: string): boolean {
  return qomAncestry(type).includes(target);
}
