/**
 * A rehearsal of a vhost-user session: vmig's frontend (VhostUserBackend)
 * and backend (BackendSession) in this one process, over a socketpair, on
 * scratch memfds, a dozen start/commit/stop rounds. Nothing leaves the
 * process and no real port is touched.
 *
 * Why: V8 compiles a function on its first call and optimises it only after
 * several, and what a migration asks of vhost-user — GET_VRING_BASE on a
 * source's backend, a destination's commit (or its whole start) — runs once
 * in a process's life, inside the downtime. Cold, that code cost
 * milliseconds of it (the backend-attach phase). `vmig vhost-user-net`
 * rehearses before it says it listens; a VMM with a vhost-user netdev
 * rehearses once it runs (machine/vm.ts). The same idea as the migration
 * engine's warm-ups (docs/migration.md).
 */

import { VhostUserBackend, VhostUserConnection } from '../backends/index.js';
import type { ExternalRing, NetBackend, NetBackendClient, NetOffloads } from '../backends/index.js';
import { UnixSocket } from '../host/index.vmm.js';
import { GuestMemory } from '../memory/index.js';
import { backendFeatures } from './backend-features.js';
import { BackendSession } from './session.js';

const ROUNDS = 12;
const RAM_BYTES = 64 * 1024;
/** One queue pair: RX ring 0 and TX ring 1, 64 entries each, laid out in the scratch RAM. */
const RINGS: readonly ExternalRing[] = [
  { index: 0, size: 64, desc: 0x1000, avail: 0x1400, used: 0x1600 },
  { index: 1, size: 64, desc: 0x2000, avail: 0x2400, used: 0x2600 },
];

/**
 * The rehearsal's port: it has no frames and takes every frame into nothing.
 * Not a test double: the sink of a rehearsal that must not reach a real port.
 */
class ScratchPort implements NetBackend {
  readonly kind = 'rehearsal';
  readonly queuePairs = 1;
  readonly hasVnetHdr = true;
  readonly hasUfo = false;
  attach(_client: NetBackendClient): void {}
  receive(): number {
    return -1;
  }
  send(): boolean {
    return true;
  }
  pause(): void {}
  resume(): void {}
  setOffloads(_offloads: NetOffloads): void {}
  setVnetHdrLen(): void {}
  setQueueEnabled(): void {}
  setLinkUp(): void {}
  close(): void {}
}

/** Run the rehearsal; resolves when done (errors are the caller's to ignore: it changes nothing). */
export async function rehearseVhostUser(rounds = ROUNDS): Promise<void> {
  const memory = GuestMemory.create(RAM_BYTES, 'vmig-vhost-user-rehearsal');
  const [front, back] = UnixSocket.pair();
  const port = new ScratchPort();
  const session = new BackendSession((handlers) => new VhostUserConnection(back, handlers), { tap: port, features: backendFeatures(port), log: () => undefined, ended: () => undefined });
  let frontend: VhostUserBackend | undefined;
  try {
    frontend = await VhostUserBackend.over(front, 'the rehearsal', memory, 1, { traced: false });
    const features = frontend.features;
    const bases = RINGS.map((r) => ({ index: r.index, base: 0 }));
    for (let i = 0; i < rounds; i++) {
      // An early destination's split, then a source's stop; a classic start, then a stop.
      await frontend.prepare(features, RINGS);
      await frontend.commit(bases);
      frontend.kick(1);
      await frontend.stop();
      await frontend.start(features, RINGS, bases);
      await frontend.stop();
    }
  } finally {
    frontend?.close();
    session.close();
    memory.close();
  }
}
