/**
 * Recycled buffers for the migration stream. Each batch of pages the source
 * sends would otherwise be a fresh 128 KiB+ ArrayBuffer: a 256 MiB guest
 * allocates hundreds of them, and V8 answers that much external memory with
 * major collections, each a multi-millisecond stop of the thread that also
 * runs the guest's NIC (probe gaps in pre-copy, or a stall inside the
 * downtime). A buffer goes back to the pool once the socket has handed its
 * bytes to the kernel, so the steady state allocates nothing.
 */

export class SendBufferPool {
  readonly #free: ArrayBuffer[] = [];

  /** `size`: bytes per buffer (a batch must fit, or the writer grows past it); `keep`: how many idle buffers to hold on to. */
  constructor(
    readonly size: number,
    readonly keep: number,
  ) {}

  /** A buffer to encode into: a recycled one, or a new one. */
  get(): Uint8Array {
    return new Uint8Array(this.#free.pop() ?? new ArrayBuffer(this.size));
  }

  /** The bytes of `view` have been sent: its buffer can be reused (a buffer smaller than `size` is left to the GC). */
  release(view: Uint8Array): void {
    const ab = view.buffer;
    if (ab instanceof ArrayBuffer && ab.byteLength >= this.size && this.#free.length < this.keep && !this.#free.includes(ab)) this.#free.push(ab);
  }

  get idle(): number {
    return this.#free.length;
  }
}
