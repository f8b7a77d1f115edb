/**
 * qemu_announce_self (net/announce.c): after a migration (and on QMP
 * `announce-self`) every NIC sends a RARP from the host side and asks its
 * guest to announce itself, in `rounds` rounds spaced by announceStepDelay.
 * The first round goes out at once, so the switch learns the guest's new port
 * within a millisecond of the switchover. After a migration its RARP leaves
 * even before the vCPUs run (`rarpSent`): the guest cannot send or receive
 * before then anyway, the source is stopped, and frames for the guest that
 * reach the destination's TAP early wait there until the NIC reads them.
 */

import { announceStepDelay } from '../devices/net/index.js';
import type { AnnounceParams, VirtioNetDevice } from '../devices/net/index.js';

export interface SelfAnnounce {
  /** Rounds sent so far. */
  readonly sent: number;
  stop(): void;
}

export function announceSelf(nic: VirtioNetDevice, params: AnnounceParams, options: { rarpSent?: boolean } = {}): SelfAnnounce {
  let round = Math.max(0, params.rounds);
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  let rarpSent = options.rarpSent === true;
  const fire = () => {
    timer = undefined;
    if (round <= 0) return;
    // The first round's RARP may have gone already; its guest half needs the vCPUs running.
    if (rarpSent) nic.guestAnnounce();
    else nic.announceSelf();
    rarpSent = false;
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
