/**
 * qemu_announce_self (net/announce.c): after a migration (and on QMP
 * `announce-self`) every NIC sends a RARP from the host side and asks its
 * guest to announce itself, in `rounds` rounds spaced by announceStepDelay.
 * The first round goes out at once (after a migration: right after the vCPUs
 * resume, as QEMU's timer-driven announce does), so the switch learns the
 * guest's new port within a millisecond of the switchover.
 */

import { announceStepDelay } from '../devices/net/index.js';
import type { AnnounceParams, VirtioNetDevice } from '../devices/net/index.js';

export interface SelfAnnounce {
  /** Rounds sent so far. */
  readonly sent: number;
  stop(): void;
}

export function announceSelf(nic: VirtioNetDevice, params: AnnounceParams): SelfAnnounce {
  let round = Math.max(0, params.rounds);
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    timer = undefined;
    if (round <= 0) return;
    nic.announceSelf();
    sent++;
    round--;
    if (round > 0) {
      timer = setTimeout(fire, announceStepDelay(params, round));
      timer.unref();
    }
  };
  fire();
  return {
    get sent() {
      return sent;
    },
    stop() {
      if (timer) clearTimeout(timer);
      round = 0;
    },
  };
}
