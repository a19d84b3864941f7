/**
 * Memory for the frames a session sends while nothing waits on its socket (server/session.ts): carved from slabs of
 * the server's own, not from Node's shared pool of small buffers.
 *
 * A frame in an array of its own costs more to make than an HMAC (it is allocated outside V8's heap and swept
 * after: docs/benchmarks.md, fourth pass), so frames share slabs. Not Node's pool: ws takes each frame's header
 * (4 bytes) from that pool, and a header waiting in a slow reader's queue keeps its whole 8 KiB pool alive. While
 * only headers came from it, a slow reader's headers shared a few pools; frames of 500 bytes moved it on every 16
 * or so, and then each line queued for a slow reader pinned a pool of its own through its header, 8 KiB for a few
 * hundred bytes that --max-buffered counts. Here the frames move only their own slabs, and Node's pool packs the
 * headers as it did.
 *
 * A frame keeps its slab alive as long as it waits to be written, so a session takes one only while its socket's
 * queue is empty: a socket then holds at most one slab frame in its queue (the first of a tick; the cork holds it,
 * and the frames after it see a queue), and a reader that does not keep up pins at most one slab beyond its own
 * bytes.
 *
 * The frames after the first that one socket is sent in the same tick (a burst: the lines of a pipelined read fanned
 * out, their receipts) come from a FrameRun of that socket's own, memory no other socket's frame shares: so they
 * pin nothing beyond their own bytes and the run's unused end, and a burst makes one allocation per run instead of
 * one per frame (in a profile of the relay at 10 senders, 98% of the frames had memory of their own).
 */

/** The size of a slab. Not Node's pool size (8 KiB), so a test can tell the two apart. */
export const FRAME_SLAB_BYTES = 16 * 1024;
/** A frame above this gets memory of its own: a slab holds at least four frames. */
const LARGEST = FRAME_SLAB_BYTES / 4;

let slab = Buffer.allocUnsafeSlow(FRAME_SLAB_BYTES);
let used = 0;

/**
 * `length` bytes for a frame, from the current slab, or a new slab when it is full. Not zeroed: the caller writes
 * every byte (shared/record.ts, sealWire's `allocate`).
 */
export function slabFrame(length: number): Uint8Array {
  if (length > LARGEST) return Buffer.allocUnsafeSlow(length);
  if (used + length > FRAME_SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(FRAME_SLAB_BYTES);
    used = 0;
  }
  const frame = slab.subarray(used, used + length);
  used += length;
  return frame;
}

/** A run's first memory: about five chat frames; later ones, when a tick sends more, a slab's size. */
export const FRAME_RUN_FIRST_BYTES = 2 * 1024;

/**
 * Memory for the frames one socket is sent after the first in one tick, side by side, shared with no other socket.
 * Made when a tick sends a socket its second frame and dropped at the end of the tick: a frame still queued then
 * keeps only its own run alive.
 */
export class FrameRun {
  #memory: Buffer | undefined;
  #used = 0;

  /** `length` bytes, not zeroed (the caller writes every byte). */
  take(length: number): Uint8Array {
    if (length > LARGEST) return Buffer.allocUnsafeSlow(length);
    let memory = this.#memory;
    if (memory === undefined || this.#used + length > memory.length) {
      memory = Buffer.allocUnsafeSlow(memory === undefined ? FRAME_RUN_FIRST_BYTES : FRAME_SLAB_BYTES);
      this.#memory = memory;
      this.#used = 0;
    }
    const frame = memory.subarray(this.#used, this.#used + length);
    this.#used += length;
    return frame;
  }
}
