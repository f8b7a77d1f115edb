/**
 * host: the only layer that touches the OS. Everything here goes through the
 * native addon (native/vmig_native.cc), which only ./native.ts loads, or
 * through node's own OS modules. See docs/host.md.
 */
export { MemfdRegion, MEMFD_REGION_MAX_BYTES, hostPageSize } from './memfd-region.js';
export { lowerThreadPriority } from './thread-priority.js';
export { readInputFile, openConsoleFile, stderrSink, makeTempDir, removeTree, readTextIfExists } from './files.js';
export type { TextSink } from './files.js';
export { IoVec, IOV_MAX } from './io-vec.js';
export {
  TapDevice,
  TapQueue,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_TSO_ECN,
  TUN_F_UFO,
  TUN_F_USO4,
  TUN_F_USO6,
  IFF_TAP,
  IFF_NO_PI,
  IFF_VNET_HDR,
  IFF_MULTI_QUEUE,
  TAP_MAX_QUEUES,
  IFNAME_MAX,
  VIRTIO_NET_HDR_SIZE,
  VIRTIO_NET_HDR_MRG_RXBUF_SIZE,
} from './tap-device.js';
export type { TapOpenOptions } from './tap-device.js';
export { EventFd, EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE, EVENTFD_MAX } from './event-fd.js';
export type { EventFdOptions } from './event-fd.js';
export { FdPoller, POLL_READABLE, POLL_WRITABLE, POLL_DISCONNECT, POLL_PRIORITIZED } from './fd-poller.js';
export type { FdPollCallback } from './fd-poller.js';
export { UnixSocket, UnixListener, SCM_MAX_FD } from './unix-socket.js';
export type { UnixMessage, UnixListenOptions } from './unix-socket.js';
export { listenUnixStream, connectUnixStream, UNIX_SOCKET_PATH_MAX } from './unix-stream-server.js';
export type { StreamConnection, StreamHandlers, UnixStreamServer } from './unix-stream-server.js';
export { connectMigration, listenMigration, openMigrationFileSink, readMigrationFile } from './migration-socket.js';
export type { MigrationEndpoint, MigrationLink, MigrationLinkHandlers, MigrationListener } from './migration-socket.js';
export { NetworkNamespace, ip, netnsUnavailableReason } from './netns.js';
export { UdpProbe } from './udp-probe.js';
export type { ProbeWindow } from './udp-probe.js';
