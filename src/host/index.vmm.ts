/**
 * host, narrow entry: what a running VMM needs — guest RAM, TAP, fd polling,
 * eventfds, the QMP socket, console files — without the migration channels
 * (loaded with the migration engine) and the test/bench helpers (network
 * namespaces, the UDP probe, and node:child_process with them). Every export
 * here is also exported by index.ts.
 */
export { MemfdRegion, MEMFD_REGION_MAX_BYTES, hostPageSize } from './memfd-region.js';
export { bitIndices, harvestBits } from './bit-words.js';
export { copyBytes, NATIVE_COPY_MIN_BYTES } from './copy-bytes.js';
export { CpuLatencyRequest, CPU_LATENCY_MAX_US } from './cpu-latency.js';
export { currentThreadId } from './thread-id.js';
export { raiseThreadPriority, requestThreadSlice, setThreadNice } from './thread-slice.js';
export { idleHelperThreads, setHelperThreads, helperThreads, threadPolicy, SCHED_OTHER, SCHED_BATCH, SCHED_IDLE } from './helper-threads.js';
export { keepCompiledCode } from './code-retention.js';
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
export { UnixSocket, UnixListener, SCM_MAX_FD, closeFds } from './unix-socket.js';
export type { UnixMessage, UnixListenOptions } from './unix-socket.js';
export { listenUnixStream, connectUnixStream, UNIX_SOCKET_PATH_MAX } from './unix-stream-server.js';
export type { StreamConnection, StreamHandlers, UnixStreamServer } from './unix-stream-server.js';
