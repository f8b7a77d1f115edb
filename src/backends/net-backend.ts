/**
 * NetBackend: what a virtio-net device talks to on the host side (DESIGN §4):
 * the TAP queues of the userspace datapath, a loopback for tests, later the
 * vhost-user frontend. One backend serves every queue pair of one device;
 * queue `q` of the backend belongs to queue pair `q` (rx vq 2q, tx vq 2q+1).
 *
 * Frames cross this interface with their virtio_net_hdr_v1 in front (12
 * bytes, VNET_HDR_LEN: the TAP runs with IFF_VNET_HDR and TUNSETVNETHDRSZ 12),
 * the same bytes the guest's driver reads and writes, so nothing is
 * translated on the way.
 *
 * The sequence (QEMU's net/queue.c model, minus its packet queue):
 *
 *   device                                  backend
 *   attach(client)             ─────────▶   remembers the client; reading paused on every queue
 *   resume(q)                  ─────────▶   watch queue q for frames
 *                              ◀─────────   client.rxReady(q)       (level-triggered: again on a
 *   receive(q, buf) → n | -1   ─────────▶                             later turn while frames wait)
 *   pause(q)                   ─────────▶   the guest has no buffers, or the VM stops: frames stay
 *                                           in the backend (the kernel queue) until resume(q)
 *   send(q, [hdr, frame…])     ─────────▶   true: taken (sent, or dropped by the backend)
 *                                           false: full, nothing taken; retry after
 *                              ◀─────────   client.txReady(q)
 *
 * Pull on RX is what makes quiesce clean and loss-free: a paused backend
 * holds its frames itself, so the device never owns a frame it cannot place
 * (QEMU stops polling the TAP fd when the NIC cannot receive, the same idea).
 * Copies: `receive` reads straight into the buffer it is given, which can be a
 * view of guest RAM (a SharedArrayBuffer), and `send` takes views of the
 * guest's buffers that a TAP backend hands to writev: no copy beyond the one
 * the kernel makes. The device reads RX into its own buffer first only when it
 * must look at the frame before choosing where it goes (filters, RSS).
 *
 * Callbacks never run inside a call the device made into the backend: a
 * backend signals from its own event-loop turn, so the device is never
 * re-entered. Methods never throw for I/O trouble once open: a failed send is
 * a dropped frame, a failed ioctl is reported through `client.backendError`.
 */

/** virtio_net_hdr_v1 (= virtio_net_hdr_mrg_rxbuf): the header in front of every frame here. */
export const VNET_HDR_LEN = 12;

/**
 * Offloads the guest accepts on receive (QEMU's qemu_set_offload arguments),
 * from its VIRTIO_NET_F_GUEST_* offloads: the backend may then hand over
 * partially checksummed or not yet segmented frames.
 */
export interface NetOffloads {
  csum: boolean;
  tso4: boolean;
  tso6: boolean;
  ecn: boolean;
  ufo: boolean;
}

export const NO_OFFLOADS: Readonly<NetOffloads> = Object.freeze({ csum: false, tso4: false, tso6: false, ecn: false, ufo: false });

/** What a backend calls on the device. */
export interface NetBackendClient {
  /** Frames wait on queue `queue` (only while reading is resumed there). */
  rxReady(queue: number): void;
  /** Queue `queue` can take frames again after `send` returned false. */
  txReady(queue: number): void;
  /** Something failed below the device (an ioctl, a poll); the backend keeps going where it can. */
  backendError(queue: number | undefined, error: unknown): void;
}

/** A ring handed to an external datapath: guest-physical addresses, as the transport holds them. */
export interface ExternalRing {
  index: number;
  size: number;
  desc: number;
  avail: number;
  used: number;
}

/**
 * A datapath outside the VMM (vhost-user): it reads and writes the guest's
 * rings itself. The device then only relays doorbells (`kick`) and turns the
 * datapath's calls into interrupts (`onCall`), keeps the control queue, and
 * starts and stops the rings around migration (QEMU vhost_dev_start/stop):
 *
 *   prepare(features, rings)   everything but the ring bases: features, memory
 *                              table, dirty log, ring sizes, addresses, kick/call
 *   commit(bases)              SET_VRING_BASE per ring, then enable: frames move
 *   stop()                     GET_VRING_BASE per ring: the next avail index of each
 *
 * Early migration's destination runs `prepare` in the setup phase and only
 * `commit` inside the downtime; a classic one runs `start` (both as one
 * batch) there.
 */
export interface ExternalDatapath {
  /** The virtio features the datapath implements (device features it lacks are not offered). */
  readonly features: bigint;
  /** What the last prepare() set up, while it stands (until stop() or a failure); a step on its way is not counted yet. */
  readonly prepared: { features: bigint; rings: readonly ExternalRing[] } | undefined;
  /** Why the VM cannot migrate with this datapath (it cannot log the pages it writes), or undefined. */
  readonly migrationBlocker: string | undefined;
  /** The rings run (commit() done, no stop() since). */
  readonly running: boolean;
  prepare(features: bigint, rings: readonly ExternalRing[]): Promise<void>;
  commit(bases: readonly { index: number; base: number }[]): Promise<void>;
  /** prepare and commit at once (one round trip): a start that need not be split. */
  start(features: bigint, rings: readonly ExternalRing[], bases: readonly { index: number; base: number }[]): Promise<void>;
  /**
   * Stop every prepared ring, once any start, prepare or commit still on its
   * way has gone (they run in order); their next avail indices (ring index
   * → base), and whether they were running (committed) or only prepared.
   */
  stop(): Promise<{ running: boolean; bases: Map<number, number> }>;
  /** The guest's doorbell for ring `index` (an eventfd write: it waits in the counter if nobody polls yet). */
  kick(index: number): void;
  /** The datapath signals ring `index` (its call eventfd): the device raises the queue's interrupt. */
  onCall(handler: (index: number) => void): void;
}

export interface NetBackend {
  /** "tap", "loopback", … (for messages and query commands). */
  readonly kind: string;
  /** Set when the datapath runs outside the VMM (vhost-user); the device then moves no frames itself. */
  readonly external?: ExternalDatapath;
  /** Queue pairs the backend has (QEMU's netdev `queues`): the device's max_queue_pairs. */
  readonly queuePairs: number;
  /** Frames carry a vnet header (IFF_VNET_HDR); without it no offloads can be offered. */
  readonly hasVnetHdr: boolean;
  /** The backend takes UFO (QEMU's peer_has_ufo). */
  readonly hasUfo: boolean;

  /**
   * Give the backend its client. Reading starts paused on every queue.
   * @throws VmigError ERR_BACKEND_ATTACHED when a client is already attached
   */
  attach(client: NetBackendClient): void;

  /**
   * Read the next frame of `queue` (vnet header first) into `target`: its
   * length, or -1 when none waits. A frame longer than `target` is truncated,
   * so offer room for the largest (NET_BUFSIZE).
   */
  receive(queue: number, target: Uint8Array): number;

  /**
   * Send one frame given as pieces (vnet header first, usually views of guest
   * memory). True: taken (sent, or dropped and counted); false: the queue is
   * full and took nothing — call again after `client.txReady(queue)`.
   */
  send(queue: number, pieces: readonly Uint8Array[]): boolean;

  /** Stop watching `queue` for frames (idempotent); frames wait in the backend. */
  pause(queue: number): void;
  /** Watch `queue` for frames again (idempotent); rxReady follows if some wait. */
  resume(queue: number): void;

  /** Offloads the guest accepts on receive (TUNSETOFFLOAD for a TAP). */
  setOffloads(offloads: NetOffloads): void;
  /** The vnet header length the guest uses (TUNSETVNETHDRSZ); vmig's devices always use VNET_HDR_LEN. */
  setVnetHdrLen(len: number): void;
  /** Attach or detach queue `queue` (TUNSETQUEUE; vhost-user: vring enable) when the guest changes its queue pairs. */
  setQueueEnabled(queue: number, enabled: boolean): void;
  /** The NIC's link went up or down (QMP set_link): a backend may stop passing frames. */
  setLinkUp(up: boolean): void;
  /** Release everything (idempotent); no callback runs afterwards. */
  close(): void;
}

/**
 * Largest frame a backend hands over, header included: QEMU's NET_BUFSIZE
 * (4096 + 65536), room for a 64 KiB GSO frame and its header.
 */
export const NET_BUFSIZE = 4096 + 65536;
