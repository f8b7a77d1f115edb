/**
 * `-chardev socket,...` and `-netdev tap|vhost-user,...` (DESIGN §7): the
 * backends a virtio-net device is wired to. vmig runs no ifup scripts and has
 * no kernel vhost-net (the datapath outside the VMM is vhost-user), so those
 * QEMU parameters are accepted only with the values that mean "none".
 */

import { OptionBag, optionError, splitOption } from './option-bag.js';
import { isWellFormedId } from './qemu-option-syntax.js';
import { MAX_NETDEV_QUEUES } from './vm-config.js';
import type { ChardevConfig, NetdevConfig } from './vm-config.js';

/** The id parameter, required and well-formed (QEMU's id_wellformed). */
export function requiredId(bag: OptionBag): string {
  const id = bag.requiredString('id');
  if (!isWellFormedId(id)) throw optionError(bag.label, `id '${id}' is not well-formed (a letter, then letters, digits, '-', '.', '_')`);
  return id;
}

/** Parse one -chardev. */
export function parseChardev(text: string): ChardevConfig {
  const pairs = splitOption('-chardev', text, 'backend');
  const backend = pairs.find((p) => p.key === 'backend')?.value;
  const bag = new OptionBag(`-chardev ${backend ?? ''}`.trimEnd(), pairs);
  bag.take('backend');
  if (backend !== 'socket') throw optionError(bag.label, `backend '${backend ?? ''}' is not supported (vmig supports: socket)`);
  const id = requiredId(bag);
  const path = bag.requiredString('path', ' (vmig supports unix sockets only)');
  const server = bag.bool('server', false);
  const wait = bag.bool('wait', true);
  bag.finish(['id', 'path', 'server', 'wait']);
  return { backend: 'socket', id, path, server, wait };
}

/** Parse one -netdev (the chardevs must already be parsed, for vhost-user). */
export function parseNetdev(text: string, chardevs: readonly ChardevConfig[]): NetdevConfig {
  const pairs = splitOption('-netdev', text, 'type', true);
  const type = pairs.find((p) => p.key === 'type')?.value;
  const bag = new OptionBag(`-netdev ${type ?? ''}`.trimEnd(), pairs);
  bag.take('type');
  if (type === 'tap') {
    const id = requiredId(bag);
    const ifname = bag.string('ifname');
    if (ifname !== undefined && (ifname.length > 15 || /[/\s]/.test(ifname))) throw optionError(bag.label, `ifname '${ifname}' is not a valid interface name (at most 15 characters, no '/' or spaces)`);
    const queues = bag.uint('queues', 1, MAX_NETDEV_QUEUES, 1);
    for (const key of ['script', 'downscript']) {
      const v = bag.string(key);
      if (v !== undefined && v !== 'no') throw optionError(bag.label, `${key}=${v}: vmig runs no interface scripts; configure the TAP beforehand and use ${key}=no`);
    }
    if (bag.bool('vhost', false)) throw optionError(bag.label, 'vhost=on needs the kernel vhost-net, which vmig does not use; use -netdev vhost-user');
    bag.finish(['id', 'ifname', 'queues', 'script', 'downscript', 'vhost']);
    return { type: 'tap', id, ...(ifname === undefined ? {} : { ifname }), queues };
  }
  if (type === 'vhost-user') {
    const id = requiredId(bag);
    const chardev = bag.requiredString('chardev');
    if (!chardevs.some((c) => c.id === chardev)) throw optionError(bag.label, `chardev '${chardev}' is not defined (add -chardev socket,id=${chardev},path=...)`, 'ERR_MACHINE_BAD_REFERENCE');
    const queues = bag.uint('queues', 1, MAX_NETDEV_QUEUES, 1);
    bag.finish(['id', 'chardev', 'queues']);
    return { type: 'vhost-user', id, chardev, queues };
  }
  throw optionError(bag.label, `type '${type ?? ''}' is not supported (vmig supports: tap, vhost-user)`);
}

/** Ids unique per kind, and a chardev feeds at most one vhost-user netdev. */
export function checkBackendReferences(chardevs: readonly ChardevConfig[], netdevs: readonly NetdevConfig[]): void {
  const seenChardev = new Set<string>();
  for (const c of chardevs) {
    if (seenChardev.has(c.id)) throw optionError('-chardev socket', `id '${c.id}' is already used by another -chardev`, 'ERR_MACHINE_DUPLICATE_ID');
    seenChardev.add(c.id);
  }
  const seenNetdev = new Set<string>();
  const chardevUser = new Map<string, string>();
  for (const n of netdevs) {
    if (seenNetdev.has(n.id)) throw optionError(`-netdev ${n.type}`, `id '${n.id}' is already used by another -netdev`, 'ERR_MACHINE_DUPLICATE_ID');
    seenNetdev.add(n.id);
    if (n.type === 'vhost-user') {
      const other = chardevUser.get(n.chardev);
      if (other !== undefined) throw optionError('-netdev vhost-user', `chardev '${n.chardev}' is already used by netdev '${other}'`, 'ERR_MACHINE_BAD_REFERENCE');
      chardevUser.set(n.chardev, n.id);
    }
  }
}
