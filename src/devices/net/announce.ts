/**
 * Announcing the guest on the network after it moved (research §4.4 steps
 * 8–10; QEMU net/announce.c and virtio_net_announce*):
 *
 * - from the host side, a RARP from the NIC's MAC through the backend
 *   (qemu_announce_self: 60 bytes, ethertype 0x8035, "reverse request"),
 *   so switches learn the port at once;
 * - from the guest side, VIRTIO_NET_S_ANNOUNCE + a config interrupt, so the
 *   guest's driver sends its own gratuitous ARPs and acknowledges with
 *   VIRTIO_NET_CTRL_ANNOUNCE_ACK.
 *
 * Rounds are spaced as qemu_announce_timer_step does: initial +
 * (rounds − round − 1) × step, capped at max (defaults 50/550/5/100 ms).
 */

/** QEMU's AnnounceParameters (milliseconds, rounds). */
export interface AnnounceParams {
  initial: number;
  max: number;
  rounds: number;
  step: number;
}

export const DEFAULT_ANNOUNCE_PARAMS: Readonly<AnnounceParams> = Object.freeze({ initial: 50, max: 550, rounds: 5, step: 100 });

/** ETH_P_RARP. */
export const ETH_P_RARP = 0x8035;
/** The minimum Ethernet frame (without FCS) QEMU pads the RARP to. */
export const RARP_FRAME_LEN = 60;

/** announce_self_create: broadcast RARP "reverse request" for `mac`, padded to 60 bytes. */
export function buildRarpFrame(mac: Uint8Array): Uint8Array {
  const f = new Uint8Array(RARP_FRAME_LEN);
  f.fill(0xff, 0, 6); // destination: broadcast
  f.set(mac.subarray(0, 6), 6); // source
  f[12] = ETH_P_RARP >> 8;
  f[13] = ETH_P_RARP & 0xff;
  f[14] = 0x00; // hardware type: Ethernet (1)
  f[15] = 0x01;
  f[16] = 0x08; // protocol type: IPv4
  f[17] = 0x00;
  f[18] = 6; // hardware address length
  f[19] = 4; // protocol address length
  f[20] = 0x00; // opcode 3: reverse request
  f[21] = 0x03;
  f.set(mac.subarray(0, 6), 22); // sender hardware address; sender IP stays 0.0.0.0
  f.set(mac.subarray(0, 6), 32); // target hardware address; target IP 0.0.0.0, then padding
  return f;
}

/** Delay before the next round once `round` rounds remain (qemu_announce_timer_step). */
export function announceStepDelay(params: AnnounceParams, round: number): number {
  let step = params.initial + (params.rounds - round - 1) * params.step;
  if (step < 0 || step > params.max) step = params.max;
  return step;
}

export interface TimerHost {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: TimerHost = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // An announce timer must never keep the VMM alive on its own.
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/**
 * QEMU's AnnounceTimer on a clock that stops with the VM (virtio-net's timer
 * is QEMU_CLOCK_VIRTUAL): `pause()` keeps an armed round for `resume()`.
 */
export class AnnounceTimer {
  round = 0;
  params: AnnounceParams = { ...DEFAULT_ANNOUNCE_PARAMS };
  readonly #fire: () => void;
  readonly #timers: TimerHost;
  #handle: unknown;
  /** Delay of the armed round, kept while paused; undefined when nothing is armed. */
  #armedDelay: number | undefined;
  #paused = false;

  constructor(fire: () => void, timers: TimerHost = realTimers) {
    this.#fire = fire;
    this.#timers = timers;
  }

  get armed(): boolean {
    return this.#armedDelay !== undefined;
  }

  /** qemu_announce_timer_reset: new parameters, `rounds` to go, nothing armed. */
  reset(params: AnnounceParams): void {
    this.stop();
    this.params = { ...params };
    this.round = params.rounds;
  }

  /** Fire after `ms` (0: on the next turn, or at resume() when paused). */
  arm(ms: number): void {
    this.#cancel();
    this.#armedDelay = ms;
    if (!this.#paused) this.#start(ms);
  }

  /** After a round was acknowledged: arm the next one if rounds remain. */
  step(): void {
    if (this.round > 0) this.arm(announceStepDelay(this.params, this.round));
  }

  stop(): void {
    this.#cancel();
    this.#armedDelay = undefined;
    this.round = 0;
  }

  pause(): void {
    this.#paused = true;
    this.#cancel();
  }

  resume(): void {
    this.#paused = false;
    if (this.#armedDelay !== undefined && this.#handle === undefined) this.#start(this.#armedDelay);
  }

  #start(ms: number): void {
    this.#handle = this.#timers.setTimeout(() => {
      this.#handle = undefined;
      this.#armedDelay = undefined;
      this.#fire();
    }, ms);
  }

  #cancel(): void {
    if (this.#handle !== undefined) this.#timers.clearTimeout(this.#handle);
    this.#handle = undefined;
  }
}
