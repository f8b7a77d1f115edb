/**
 * Global properties and the order QEMU applies property values in
 * (research §6; hw/core/qdev.c device_post_init, qom/object.c):
 *
 *   property default < machine compat < -global < -device option
 *
 * A global names a driver and applies to every object of that type or a
 * subtype. A virtio PCI device is two objects, and QEMU initialises the child
 * (virtio-net-device) inside the proxy's instance_init, so the exact sequence
 * is: child's compat, child's -globals, proxy's compat, proxy's -globals
 * (through the aliases of the child's properties), then the -device options.
 */

import { findProperty, parsePropertyText } from './device-properties.js';
import type { DeviceModel, PropertySpec, PropertyValue } from './device-properties.js';
import { isKnownQomType, isTypeOf, qomAncestry } from './qom-types.js';

/** One (driver, property, value) triple, as QEMU's GlobalProperty. */
export interface GlobalProperty {
  readonly driver: string;
  readonly property: string;
  readonly value: string;
}

export type PropertySource = 'default' | 'compat' | 'global' | 'device';

export interface ResolvedProperties {
  readonly values: Record<string, PropertyValue | undefined>;
  /** Where each value came from (for qom and for tests). */
  readonly sources: Record<string, PropertySource>;
}

/** The properties an object of `objectType` has: the child sees its own, the proxy sees all (aliases). */
function visibleOn(model: DeviceModel, objectType: string, name: string): PropertySpec | undefined {
  const spec = findProperty(model, name);
  if (!spec) return undefined;
  if (objectType === model.type) return spec;
  return qomAncestry(objectType).includes(spec.owner) ? spec : undefined;
}

/** Why a global cannot apply: the error code it deserves and the reason in words. */
export interface GlobalPropertyProblem {
  readonly code: 'ERR_MACHINE_UNKNOWN_DEVICE' | 'ERR_MACHINE_UNKNOWN_PROPERTY' | 'ERR_MACHINE_BAD_PROPERTY';
  readonly reason: string;
}

/**
 * Check that a global applies cleanly to this model's objects. Like QEMU, a
 * global whose driver matches an object lacking the property is an error
 * ("Property 'virtio-net-device.vectors' not found"), not a silent no-op.
 */
export function checkGlobalProperty(model: DeviceModel, global: GlobalProperty): GlobalPropertyProblem | undefined {
  if (!isKnownQomType(global.driver)) return { code: 'ERR_MACHINE_UNKNOWN_DEVICE', reason: `unknown driver '${global.driver}'` };
  const targets = [model.childType, model.type].filter((t) => isTypeOf(t, global.driver));
  if (targets.length === 0) return { code: 'ERR_MACHINE_UNKNOWN_DEVICE', reason: `driver '${global.driver}' matches no device vmig creates` };
  for (const t of targets) {
    const spec = visibleOn(model, t, global.property);
    if (!spec) return { code: 'ERR_MACHINE_UNKNOWN_PROPERTY', reason: `property '${global.property}' does not exist on ${t}` };
    const parsed = parsePropertyText(spec, global.value);
    if (!parsed.ok) return { code: 'ERR_MACHINE_BAD_PROPERTY', reason: parsed.reason };
  }
  return undefined;
}

function applyGlobals(model: DeviceModel, objectType: string, globals: readonly GlobalProperty[], source: PropertySource, out: { values: Record<string, PropertyValue | undefined>; sources: Record<string, PropertySource> }): void {
  for (const g of globals) {
    if (!isTypeOf(objectType, g.driver)) continue;
    const spec = visibleOn(model, objectType, g.property);
    if (!spec) throw new Error(`global ${g.driver}.${g.property} does not apply to ${objectType} (it should have been checked)`);
    const parsed = parsePropertyText(spec, g.value);
    if (!parsed.ok) throw new Error(`global ${g.driver}.${g.property}=${g.value}: ${parsed.reason} (it should have been checked)`);
    out.values[spec.name] = parsed.value;
    out.sources[spec.name] = source;
  }
}

/**
 * Work out every property of one device. `compat` and `globals` must have
 * passed checkGlobalProperty; `options` are the -device values, already parsed.
 */
export function resolveDeviceProperties(model: DeviceModel, compat: readonly GlobalProperty[], globals: readonly GlobalProperty[], options: Readonly<Record<string, PropertyValue>>): ResolvedProperties {
  const out = { values: {} as Record<string, PropertyValue | undefined>, sources: {} as Record<string, PropertySource> };
  for (const p of model.properties) {
    out.values[p.name] = p.default;
    out.sources[p.name] = 'default';
  }
  for (const objectType of [model.childType, model.type]) {
    applyGlobals(model, objectType, compat, 'compat', out);
    applyGlobals(model, objectType, globals, 'global', out);
  }
  for (const [name, value] of Object.entries(options)) {
    out.values[name] = value;
    out.sources[name] = 'device';
  }
  return out;
}
