/**
 * qemu_announce_self (net/announce.c): after a migration (and on QMP
 * `announce-self`) every NIC sends a RARP from the host side and asks its
 * guest to announce itself, in `rounds` rounds spaced by announceStepDelay.
 * The first round goes out at once — the switch learns the guest's new port
 * before the vCPUs even resume.
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
