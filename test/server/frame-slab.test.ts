/**
 * server/frame-slab.ts: frames share slabs of the server's own, never overlap, and leave Node's shared pool (where
 * ws takes each frame's header) alone; a large frame gets memory of its own. The send path's use of it (a slab
 * frame only while nothing waits on the socket) is test/server/send-cork.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FRAME_SLAB_BYTES, slabFrame } from '../../server/frame-slab.ts';

describe('slabFrame', () => {
  it('hands out frames of one slab side by side, none overlapping, then a new slab', () => {
    const frames = Array.from({ length: 40 }, (_, i) => slabFrame(500 + i));
    frames.forEach((frame, i) => frame.fill(i));
    frames.forEach((frame, i) => {
      assert.equal(frame.length, 500 + i);
      assert.ok(
        frame.every((byte) => byte === i),
        `frame ${i} intact`,
      );
    });
    const slabs = new Set(frames.map((frame) => frame.buffer));
    // 40 frames of about 520 bytes are about 20 KiB: two slabs, or three when the first was partly used.
    assert.ok(slabs.size >= 2 && slabs.size <= 3, `${slabs.size} slabs`);
    for (const slab of slabs) assert.equal(slab.byteLength, FRAME_SLAB_BYTES);
  });

  it('gives a frame above a quarter of a slab memory of its own', () => {
    const big = slabFrame(FRAME_SLAB_BYTES / 4 + 1);
    assert.equal(big.buffer.byteLength, FRAME_SLAB_BYTES / 4 + 1);
    const small = slabFrame(FRAME_SLAB_BYTES / 4);
    assert.equal(small.buffer.byteLength, FRAME_SLAB_BYTES);
  });

  it("does not move Node's shared pool on, as Buffer.allocUnsafe frames did", () => {
    // Node's current pool, seen through a 1-byte allocation after each frame: 100 frames of 500 bytes from that
    // pool would move it on about six times; the 1-byte allocations alone (800 bytes) at most once.
    const poolsSeen = (allocate: (length: number) => Uint8Array) => {
      const pools = new Set<ArrayBufferLike>();
      for (let i = 0; i < 100; i++) {
        allocate(500);
        pools.add(Buffer.allocUnsafe(1).buffer);
      }
      return pools.size;
    };
    assert.ok(poolsSeen((length) => Buffer.allocUnsafe(length)) >= 6, 'the check sees a pool move');
    assert.ok(poolsSeen(slabFrame) <= 2, "slab frames leave Node's pool to the headers");
  });
});
