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
