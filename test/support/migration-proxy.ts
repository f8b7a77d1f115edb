/**
 * A man in the middle for migration fault tests: a unix-socket proxy between
 * a source and a destination VMM that forwards both directions and decodes
 * the source's stream as it passes, so a test can act at a precise point —
 * kill the destination when the stop-and-copy begins, cut the connection
 * after N bytes, or corrupt one structural byte.
 */

import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

import { StreamDecoder } from '../../src/stream/index.js';
import type { SectionHeader, StreamItem } from '../../src/stream/index.js';
import { loadState, saveState } from '../../src/vmstate/index.js';
import type { VmState, Vmsd } from '../../src/vmstate/index.js';
import { GUEST_SECTION_IDSTR, ReturnPathDecoder, VCPU_SECTION_IDSTR, encodeReturnPath, guestSectionVmsd, netDeltaVmsd, vcpuSectionVmsd } from '../../src/migration/index.js';
import type { ReturnPathMessage } from '../../src/migration/index.js';
import { netSectionVmsd } from '../../src/devices/net/index.js';

export interface ProxyActions {
  /** Called for every item of the source's stream; return 'cut' to close both sides at once (before forwarding the chunk). */
  onItem?(item: StreamItem): 'cut' | void;
  /** Rewrite a chunk before it is forwarded (offset = absolute stream offset of chunk[0]). */
  mangle?(chunk: Buffer, offset: number): Buffer;
  /** Return path: drop the destination's messages this returns false for (the rest is re-encoded unchanged). */
  keepReturn?(msg: ReturnPathMessage): boolean;
}

function codec(vmsd: Vmsd, ctx: Record<string, unknown>) {
  return {
    load: (r: Parameters<typeof loadState>[0], h: SectionHeader) => {
      const st: VmState = {};
      loadState(r, vmsd, st, h.version, ctx);
      return st;
    },
    save: (w: Parameters<typeof saveState>[0], st: VmState) => saveState(w, vmsd, st, ctx),
  };
}

export class MigrationProxy {
  readonly path: string;
  readonly #server: Server;
  readonly #sockets: Socket[] = [];
  /** Items seen so far (types only, to keep memory small). */
  readonly seen: string[] = [];

  private constructor(path: string, server: Server) {
    this.path = path;
    this.#server = server;
  }

  static async listen(path: string, target: string, actions: ProxyActions, maxQueuePairs = 4): Promise<MigrationProxy> {
    const decoder = new StreamDecoder({
      resolve: (h) => {
        if (h.idstr === GUEST_SECTION_IDSTR) return codec(guestSectionVmsd, {});
        if (h.idstr === VCPU_SECTION_IDSTR) return codec(vcpuSectionVmsd, {});
        if (h.idstr.endsWith('/virtio-net') || h.idstr.endsWith('/virtio-net-early')) return codec(netSectionVmsd('10.2'), { maxQueuePairs, inferTransport: true, lenient: true });
        if (h.idstr.endsWith('/virtio-net-delta')) return codec(netDeltaVmsd, {});
        return undefined;
      },
    });
    let proxy!: MigrationProxy;
    const server = createServer((src) => {
      const dst = createConnection({ path: target });
      proxy.#sockets.push(src, dst);
      let offset = 0;
      const cut = () => {
        src.destroy();
        dst.destroy();
      };
      src.on('data', (chunk: Buffer) => {
        try {
          for (const item of decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))) {
            proxy.seen.push(item.type === 'section' ? `section:${item.header.kind}:${item.header.idstr}` : item.type);
            if (actions.onItem?.(item) === 'cut') return cut();
          }
        } catch {
          // A mangled stream stops decoding here; forwarding goes on.
        }
        const out = actions.mangle ? actions.mangle(chunk, offset) : chunk;
        offset += chunk.length;
        dst.write(out);
      });
      const back = new ReturnPathDecoder();
      dst.on('data', (chunk: Buffer) => {
        if (!actions.keepReturn) return void src.write(chunk);
        for (const m of back.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))) if (actions.keepReturn(m)) src.write(encodeReturnPath(m));
      });
      src.on('close', () => dst.destroy());
      dst.on('close', () => src.destroy());
      src.on('error', () => undefined);
      dst.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen({ path }, resolve));
    proxy = new MigrationProxy(path, server);
    return proxy;
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
