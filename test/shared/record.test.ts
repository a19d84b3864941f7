/**
 * shared/record.ts: a record verifies in exactly one place (its session, its direction, its sequence number) and
 * everywhere else is refused with its own code; and concurrent seals and opens keep their order.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromBase64Url, fromUtf8, randomBytes, toBase64Url, toHex, utf8 } from '../../shared/bytes.ts';
import { createFernet, parseToken, type Fernet } from '../../shared/fernet.ts';
import { createMac } from '../../shared/mac.ts';
import { webCryptoBackend, type CryptoBackend } from '../../shared/crypto-backend.ts';
import { nodeCryptoBackend } from '../../server/node-fernet.ts';
import { parseClientBody, type ClientBody, type RecordFrame, type ServerBody } from '../../shared/protocol.ts';
import {
  createChannel,
  EncodedBody,
  PlainChannel,
  RECORD_TTL_SECONDS,
  RecordChannel,
  recordMacInput,
  type Direction,
  type FrameCheck,
  type SessionKeys,
} from '../../shared/record.ts';
import { rejectsWith, throwsWith } from '../helpers/expect-error.ts';

const fernetKey = randomBytes(32);
const macKey = randomBytes(32);
const sessionId = randomBytes(16);
const NOW = 1767268800;

const BACKENDS = [
  ['Web Crypto', webCryptoBackend],
  ['node:crypto', nodeCryptoBackend],
] as const satisfies ReadonlyArray<readonly [string, CryptoBackend]>;

/** Keys from the session's secret; each call imports fresh copies (createFernet and createMac zero their input). */
async function keysOn(
  backend: CryptoBackend,
  fk: Uint8Array = fernetKey,
  mk: Uint8Array = macKey,
): Promise<SessionKeys> {
  return { fernet: await backend.createFernet(fk.slice()), mac: await backend.createMac(mk.slice()) };
}

async function pairOn(
  backend: CryptoBackend,
  id: Uint8Array = sessionId,
  now = NOW,
): Promise<{ page: RecordChannel; server: RecordChannel }> {
  return {
    page: new RecordChannel(await keysOn(backend), id, 'c2s', { now: () => now }),
    server: new RecordChannel(await keysOn(backend), id, 's2c', { now: () => now }),
  };
}

const keys = (fk?: Uint8Array, mk?: Uint8Array) => keysOn(webCryptoBackend, fk, mk);
const pair = (id?: Uint8Array, now?: number) => pairOn(webCryptoBackend, id, now);

/** Flips one base64url character of `text` at `index` to another valid one. */
function flip(text: string, index: number): string {
  const c = text[index]!;
  return text.slice(0, index) + (c === 'A' ? 'B' : 'A') + text.slice(index + 1);
}

/** What an attacker with the MAC key but not the Fernet key could send: any token, correctly MACed in place. */
async function macced(direction: Direction, seq: number, token: string): Promise<RecordFrame> {
  const mac = await createMac(macKey.slice());
  return {
    type: 'record',
    seq,
    token,
    mac: toBase64Url(await mac.sign(recordMacInput(direction, seq, sessionId, token))),
  };
}

/** Both backends run every record test: the page's Web Crypto (promises) and the server's node:crypto (none). */
for (const [label, backend] of BACKENDS) {
  describe(`records, ${label}`, () => {
    const keys = (fk: Uint8Array = fernetKey, mk: Uint8Array = macKey) => keysOn(backend, fk, mk);
    const pair = (id: Uint8Array = sessionId, now = NOW) => pairOn(backend, id, now);

    test('seal and open round-trip both ways, with sequence numbers from 0 in each direction', async () => {
      const { page, server } = await pair();
      const bodies = [
        { kind: 'line', id: 0, text: 'hi' },
        { kind: 'line', id: 1, text: 'gr\u00fc\u00dfe \u2713' },
        { kind: 'bye', word: 'EXIT' },
      ];
      for (const [i, body] of bodies.entries()) {
        const frame = await page.seal(body);
        assert.equal(frame.type, 'record');
        assert.equal(frame.seq, i);
        assert.equal(frame.token.length % 4, 0, 'the token is padded');
        assert.equal(fromBase64Url(frame.mac).length, 32);
        assert.ok(!frame.mac.includes('='), 'the mac is unpadded');
        assert.deepEqual(await server.open(frame), body);
      }
      const back = await server.seal({ kind: 'end', code: 'CHAT_ENDED', reason: 'bye' });
      assert.equal(back.seq, 0);
      assert.deepEqual(await page.open(back), { kind: 'end', code: 'CHAT_ENDED', reason: 'bye' });
      assert.equal(page.nextSendSeq, 3);
      assert.equal(page.nextReceiveSeq, 1);
      assert.equal(server.nextSendSeq, 1);
      assert.equal(server.nextReceiveSeq, 3);
    });

    test('the MAC is HMAC-SHA256 over label, direction, u64be seq, sessionId and the token text', async () => {
      const { page } = await pair();
      const frame = await page.seal({ kind: 'line', id: 0, text: 'x' });
      const input = recordMacInput('c2s', 0, sessionId, frame.token);
      assert.deepEqual(input.subarray(0, 18), utf8('wirechat-record-v1'));
      assert.deepEqual([...input.subarray(18, 27)], [1, 0, 0, 0, 0, 0, 0, 0, 0]);
      assert.deepEqual(input.subarray(27, 43), sessionId);
      assert.deepEqual(input.subarray(43), utf8(frame.token));
      assert.equal(recordMacInput('s2c', 258, sessionId, 'T')[18], 2);
      assert.deepEqual([...recordMacInput('s2c', 258, sessionId, 'T').subarray(19, 27)], [0, 0, 0, 0, 0, 0, 1, 2]);
      const mac = await createMac(macKey.slice());
      assert.equal(toBase64Url(await mac.sign(input)), frame.mac);
    });

    test('the session id is MACed as its bytes, every byte value, as they were when the channel was made', async () => {
      // A channel keeps its own copy of the id (one character per byte): the caller's array may change afterwards.
      const id = Uint8Array.from({ length: 256 }, (_, i) => i);
      const original = id.slice();
      const { page, server } = await pair(id);
      id.fill(0);
      const frame = await page.seal({ kind: 'line', id: 0, text: 'x' });
      const mac = await createMac(macKey.slice());
      assert.equal(toBase64Url(await mac.sign(recordMacInput('c2s', 0, original, frame.token))), frame.mac);
      assert.deepEqual(recordMacInput('c2s', 0, original, frame.token).subarray(27, 27 + 256), original);
      assert.deepEqual(await server.open(frame), { kind: 'line', id: 0, text: 'x' });
      const zeroed = new RecordChannel(await keys(), id, 's2c', { now: () => NOW });
      await rejectsWith(() => zeroed.open(frame), 'RECORD_BAD_MAC');
    });

    test('a replayed record is refused (RECORD_BAD_SEQUENCE)', async () => {
      const { page, server } = await pair();
      const frame = await page.seal({ kind: 'line', id: 0, text: 'once' });
      await server.open(frame);
      await rejectsWith(() => server.open(frame), 'RECORD_BAD_SEQUENCE');
    });

    test('records out of order, or after a dropped one, are refused (RECORD_BAD_SEQUENCE)', async () => {
      const { page, server } = await pair();
      await page.seal({ kind: 'line', id: 0, text: 'one' });
      const second = await page.seal({ kind: 'line', id: 1, text: 'two' });
      await rejectsWith(() => server.open(second), 'RECORD_BAD_SEQUENCE');
      const fresh = await pair();
      await fresh.page.seal({ kind: 'line', id: 0, text: 'a' }); // dropped on the way
      await fresh.page.seal({ kind: 'line', id: 1, text: 'b' });
      const c = await fresh.page.seal({ kind: 'line', id: 2, text: 'c' });
      await rejectsWith(() => fresh.server.open(c), 'RECORD_BAD_SEQUENCE');
    });

    test('a record reflected to its sender is refused (RECORD_BAD_MAC): the direction byte differs', async () => {
      const { page, server } = await pair();
      const up = await page.seal({ kind: 'line', id: 0, text: 'mine' });
      await rejectsWith(() => page.open(up), 'RECORD_BAD_MAC');
      const down = await server.seal({ kind: 'end', code: 'CHAT_ENDED', reason: 'x' });
      await rejectsWith(() => server.open(down), 'RECORD_BAD_MAC');
    });

    test('a record moved into another session with the same keys is refused (RECORD_BAD_MAC)', async () => {
      const one = await pair(sessionId);
      const other = await pair(randomBytes(16));
      const frame = await one.page.seal({ kind: 'line', id: 0, text: 'elsewhere' });
      await rejectsWith(() => other.server.open(frame), 'RECORD_BAD_MAC');
    });

    test('a record under other keys is refused (RECORD_BAD_MAC)', async () => {
      const { page } = await pair();
      const server = new RecordChannel(await keys(randomBytes(32), randomBytes(32)), sessionId, 's2c', {
        now: () => NOW,
      });
      const frame = await page.seal({ kind: 'line', id: 0, text: 'x' });
      await rejectsWith(() => server.open(frame), 'RECORD_BAD_MAC');
    });

    test('a tampered token is refused by the outer MAC, before Fernet sees it (RECORD_BAD_MAC)', async () => {
      const { page } = await pair();
      const frame = await page.seal({ kind: 'line', id: 0, text: 'tamper with me' });
      for (const index of [0, 10, 30, frame.token.length - 5]) {
        const server = new RecordChannel(await keys(), sessionId, 's2c', { now: () => NOW });
        await rejectsWith(() => server.open({ ...frame, token: flip(frame.token, index) }), 'RECORD_BAD_MAC');
      }
    });

    test("a tampered token with a valid outer MAC is still refused, by Fernet's own HMAC (FERNET_BAD_MAC)", async () => {
      const { page } = await pair();
      const frame = await page.seal({ kind: 'line', id: 0, text: 'defence in depth' });
      const server = new RecordChannel(await keys(), sessionId, 's2c', { now: () => NOW });
      const forged = await macced('c2s', 0, flip(frame.token, 40));
      await rejectsWith(() => server.open(forged), 'FERNET_BAD_MAC');
    });

    test('a tampered, truncated or malformed mac is refused (RECORD_BAD_MAC)', async () => {
      const { page } = await pair();
      const frame = await page.seal({ kind: 'line', id: 0, text: 'x' });
      for (const mac of [
        flip(frame.mac, 0),
        flip(frame.mac, 41),
        frame.mac.slice(0, 42),
        frame.mac + 'AA',
        '',
        '!!!!',
        'A',
        frame.mac.slice(0, 42) + 'F',
      ]) {
        const server = new RecordChannel(await keys(), sessionId, 's2c', { now: () => NOW });
        await rejectsWith(() => server.open({ ...frame, mac }), 'RECORD_BAD_MAC');
      }
    });

    test('a tampered seq is refused: the MAC covers it (RECORD_BAD_MAC when the number is the expected one)', async () => {
      const { page, server } = await pair();
      const f0 = await page.seal({ kind: 'line', id: 0, text: 'zero' });
      await page.seal({ kind: 'line', id: 1, text: 'one' });
      const f2 = await page.seal({ kind: 'line', id: 2, text: 'two' });
      await server.open(f0);
      // The server expects 1; frame 2 relabelled as 1 passes the sequence check and fails the MAC.
      await rejectsWith(() => server.open({ ...f2, seq: 1 }), 'RECORD_BAD_MAC');
    });

    test("a token older than the TTL or too far in the future is refused, on the channel's clock", async () => {
      const { page } = await pair(sessionId, NOW);
      const frame = await page.seal({ kind: 'line', id: 0, text: 'x' });
      const open = async (now: number) =>
        new RecordChannel(await keys(), sessionId, 's2c', { now: () => now }).open(frame);
      assert.deepEqual(await open(NOW + RECORD_TTL_SECONDS), { kind: 'line', id: 0, text: 'x' });
      await rejectsWith(open(NOW + RECORD_TTL_SECONDS + 1), 'FERNET_EXPIRED');
      assert.deepEqual(await open(NOW - 60), { kind: 'line', id: 0, text: 'x' });
      await rejectsWith(open(NOW - 61), 'FERNET_FUTURE');
      assert.equal(RECORD_TTL_SECONDS, 120);
    });

    test('a plaintext that is not UTF-8 JSON is refused (PROTO_BAD_JSON)', async () => {
      for (const plaintext of [utf8('not json'), utf8('{"kind":'), Uint8Array.of(0xff, 0xfe), new Uint8Array(0)]) {
        const fernet = await createFernet(fernetKey.slice());
        const token = await fernet.encrypt(plaintext, { time: NOW });
        const server = new RecordChannel(await keys(), sessionId, 's2c', { now: () => NOW });
        const forged = await macced('c2s', 0, token);
        await rejectsWith(() => server.open(forged), 'PROTO_BAD_JSON');
      }
    });

    test('a token that is not base64url, MACed over its UTF-8, passes the record MAC and is refused by Fernet', async () => {
      // The record MAC covers utf8(token) whatever the token holds (the synchronous open writes it after the MAC
      // input's fixed part in a reused buffer, which must grow for a long or wide token), so a MAC-key holder's
      // frame gets past it and Fernet names the token: FERNET_BAD_BASE64, never RECORD_BAD_MAC.
      const good = await (await pair()).page.seal({ kind: 'line', id: 0, text: 'x' });
      for (const token of [
        `${good.token.slice(0, 8)}\u00e9${good.token.slice(9)}`,
        `${good.token}\u2713`,
        '\u2713'.repeat(3000),
        `\ud83d${good.token.slice(1)}`,
        `${good.token.slice(0, -4)}+/==`,
        '*'.repeat(9000),
      ]) {
        const server = new RecordChannel(await keys(), sessionId, 's2c', { now: () => NOW });
        const forged = await macced('c2s', 0, token);
        const checks: string[] = [];
        await rejectsWith(() => server.open(forged, (check) => checks.push(check)), 'FERNET_BAD_BASE64');
        assert.deepEqual(checks, ['sequence', 'record-mac'], JSON.stringify(token.slice(0, 12)));
      }
    });

    test('a replay is caught at once, even while the first copy is still being decrypted', async () => {
      const { page, server } = await pair();
      const frame = await page.seal({ kind: 'line', id: 0, text: 'x' });
      const first = server.open(frame);
      await rejectsWith(() => server.open(frame), 'RECORD_BAD_SEQUENCE');
      assert.deepEqual(await first, { kind: 'line', id: 0, text: 'x' });
    });

    test('concurrent seals come out in order, even when the crypto finishes out of order', async () => {
      const real = await keys();
      // A Fernet whose encryptions take random times: a later call often finishes first.
      const slow: Fernet = {
        ...real.fernet,
        synchronous: false,
        sealToken: async (plaintext, options) => {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 8));
          return real.fernet.sealToken(plaintext, options);
        },
        openToken: async (token, options) => {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 8));
          return real.fernet.openToken(token, options);
        },
      };
      const page = new RecordChannel({ fernet: slow, mac: real.mac }, sessionId, 'c2s', { now: () => NOW });
      const server = new RecordChannel({ fernet: slow, mac: (await keys()).mac }, sessionId, 's2c', { now: () => NOW });
      const resolved: number[] = [];
      const sealing = Array.from({ length: 40 }, (_, id) =>
        Promise.resolve(page.seal({ kind: 'line', id, text: `line ${id}` })).then((frame) => {
          resolved.push(frame.seq);
          return frame;
        }),
      );
      const frames = await Promise.all(sealing);
      assert.deepEqual(
        resolved,
        Array.from({ length: 40 }, (_, i) => i),
        'resolved in sequence order',
      );
      assert.deepEqual(
        frames.map((f) => f.seq),
        resolved,
      );
      const opened: number[] = [];
      const opening = frames.map((frame) =>
        Promise.resolve(server.open(frame)).then((body) => {
          opened.push((body as { id: number }).id);
          return body;
        }),
      );
      const bodies = await Promise.all(opening);
      assert.deepEqual(opened, resolved, 'opened in sequence order');
      assert.deepEqual(
        bodies,
        frames.map((_, id) => ({ kind: 'line', id, text: `line ${id}` })),
      );
    });

    test('a seal that fails does not stop the ones after it', async () => {
      const real = await keys();
      let failNext = true;
      const flaky: Fernet = {
        ...real.fernet,
        synchronous: false,
        sealToken: (plaintext, options) => {
          if (failNext) {
            failNext = false;
            return Promise.reject(new Error('backend failure'));
          }
          return real.fernet.sealToken(plaintext, options);
        },
      };
      const page = new RecordChannel({ fernet: flaky, mac: real.mac }, sessionId, 'c2s', { now: () => NOW });
      await assert.rejects(async () => page.seal({ kind: 'line', id: 0, text: 'lost' }), /backend failure/);
      const next = await page.seal({ kind: 'line', id: 1, text: 'kept' });
      assert.equal(next.seq, 1);
    });
  });
}

describe('records between the backends, and the frame built in one buffer', () => {
  const LINE = { kind: 'line', id: 7, text: 'gr\u00fc\u00dfe \u2713 "quoted" \\ back' };

  test("what one backend seals the other opens, both ways, and each refuses the other's reflection", async () => {
    for (const [sealer, opener] of [
      [webCryptoBackend, nodeCryptoBackend],
      [nodeCryptoBackend, webCryptoBackend],
    ] as const) {
      const page = new RecordChannel(await keysOn(sealer), sessionId, 'c2s', { now: () => NOW });
      const server = new RecordChannel(await keysOn(opener), sessionId, 's2c', { now: () => NOW });
      for (let i = 0; i < 3; i++)
        assert.deepEqual(await server.open(await page.seal({ ...LINE, id: i })), { ...LINE, id: i });
      const down = await server.seal({ kind: 'end', code: 'CHAT_ENDED', reason: 'bye' });
      assert.deepEqual(await page.open(down), { kind: 'end', code: 'CHAT_ENDED', reason: 'bye' });
      const reflectedTo = new RecordChannel(await keysOn(opener), sessionId, 's2c', { now: () => NOW });
      await rejectsWith(() => reflectedTo.open(down), 'RECORD_BAD_MAC');
    }
  });

  test('sealWire and sealText are the frame exactly as JSON.stringify writes it, byte for byte, on both backends', async () => {
    // A session id of 0 bytes makes the MAC input's fixed part (27 bytes) shorter than the JSON's start, the
    // other case of the layout; 16 bytes (every real session) makes it longer.
    for (const id of [sessionId, new Uint8Array(0), randomBytes(40)]) {
      for (const [, backend] of BACKENDS) {
        const sender = new RecordChannel(await keysOn(backend), id, 's2c', { now: () => NOW });
        const receiver = new RecordChannel(await keysOn(backend), id, 'c2s', { now: () => NOW });
        for (let i = 0; i < 12; i++) {
          // Bodies of every length mod 3 and 16: each token padding and each PKCS #7 padding length.
          const body = { ...LINE, id: i, text: 'x'.repeat(i * 5) };
          const sealed = i % 2 ? new EncodedBody(body) : body;
          // The page sends the text (sealText), the server the bytes (sealWire): every third frame is text.
          const wire = i % 3 === 0 ? utf8(await sender.sealText(sealed)) : await sender.sealWire(sealed);
          const frame = JSON.parse(new TextDecoder().decode(wire)) as RecordFrame;
          assert.deepEqual(Object.keys(frame), ['type', 'seq', 'token', 'mac'], 'the wire order of record frames');
          assert.deepEqual(wire, utf8(JSON.stringify(frame)));
          assert.equal(frame.seq, i);
          const mac = await createMac(macKey.slice());
          assert.equal(frame.mac, toBase64Url(await mac.sign(recordMacInput('s2c', i, id, frame.token))));
          assert.deepEqual(await receiver.open(frame), body);
        }
      }
    }
  });

  test("sealWire lays the frame out in the caller's memory where it seals at once, writing every byte of it", async () => {
    // Memory that held something else, inside a larger buffer: as Buffer.allocUnsafe hands it out of its pool.
    const given: number[] = [];
    const allocate = (length: number) => {
      given.push(length);
      return new Uint8Array(length + 64).fill(0xaa).subarray(32, 32 + length);
    };
    const plain = new PlainChannel<unknown, unknown>();
    const plainWire = plain.sealWire(LINE, allocate);
    assert.deepEqual(plainWire, utf8(JSON.stringify({ type: 'plain', seq: 0, body: LINE })));
    assert.equal(given.length, 1);
    // Memory that the text would not fill (were the counted length ever wrong) is refused, never sent part-written.
    assert.throws(() => plain.sealWire(LINE, (length) => new Uint8Array(length + 1)), RangeError);
    for (const [name, backend] of BACKENDS) {
      given.length = 0;
      const { page, server } = await pairOn(backend);
      for (let i = 0; i < 6; i++) {
        const body = { ...LINE, id: i, text: 'x'.repeat(i * 7) };
        const wire = await page.sealWire(i % 2 ? new EncodedBody(body) : body, allocate);
        assert.ok(!wire.includes(0xaa), `${name}: no byte of the old memory is left in the frame`);
        const frame = JSON.parse(new TextDecoder().decode(wire)) as RecordFrame;
        assert.deepEqual(wire, utf8(JSON.stringify(frame)));
        assert.deepEqual(await server.open(frame), body);
      }
      // Over Web Crypto the frame is laid out after awaits, so the caller's memory is not used.
      assert.equal(given.length, page.synchronous ? 6 : 0, name);
    }
  });

  test('node:crypto: a sealed frame is its own bytes, not a reused buffer the next seal writes over', async () => {
    // The synchronous channel lays a record's plaintext, token and MAC input out in shared scratch buffers
    // (shared/bytes.ts, Scratch); a frame that pointed into one would change under the next call.
    const { page, server } = await pairOn(nodeCryptoBackend);
    const bodies = [0, 1, 2, 3].map((i) => ({ ...LINE, id: i, text: String(i).repeat(40 + i * 700) }));
    const wires = bodies.map((body) => page.sealWire(body) as Uint8Array);
    const copies = wires.map((wire) => wire.slice());
    // Opening lays out MAC inputs in a scratch too: all four are opened before any frame is compared.
    const opened = wires.map((wire) => server.open(JSON.parse(new TextDecoder().decode(wire)) as RecordFrame));
    assert.deepEqual(wires, copies, 'every frame as it was sealed');
    assert.deepEqual(opened, bodies);
  });

  test('node:crypto: seal and open answer at once (no promise), and refusals are thrown', async () => {
    const { page, server } = await pairOn(nodeCryptoBackend);
    assert.equal(page.synchronous, true);
    const frame = page.seal(LINE);
    assert.ok(!(frame instanceof Promise), 'a frame, not a promise');
    const body = server.open(frame as RecordFrame);
    assert.ok(!(body instanceof Promise), 'a body, not a promise');
    assert.deepEqual(body, LINE);
    throwsWith(() => server.open(frame as RecordFrame), 'RECORD_BAD_SEQUENCE');
    const next = page.seal(LINE) as RecordFrame;
    throwsWith(() => server.open({ ...next, mac: flip(next.mac, 2) }), 'RECORD_BAD_MAC');
    // Web Crypto's channel keeps its promises.
    const web = await pairOn(webCryptoBackend);
    assert.equal(web.page.synchronous, false);
    assert.ok(web.page.seal(LINE) instanceof Promise);
  });
});

describe('the seal laid out in one buffer (seventh pass) against the reference, built piece by piece', () => {
  /**
   * What a record frame must be, built the long way from its token with none of the seal's code: the MAC by Web
   * Crypto over recordMacInput, the frame by JSON.stringify; the token opened by Web Crypto's Fernet.
   */
  async function checkAgainstReference(
    wire: Uint8Array,
    seq: number,
    id: Uint8Array,
    body: unknown,
    ivs: Set<string>,
  ): Promise<void> {
    const frame = JSON.parse(new TextDecoder().decode(wire)) as RecordFrame;
    const mac = await createMac(macKey.slice());
    const reference = {
      type: 'record',
      seq,
      token: frame.token,
      mac: toBase64Url(await mac.sign(recordMacInput('s2c', seq, id, frame.token))),
    };
    assert.deepEqual(wire, utf8(JSON.stringify(reference)), 'byte for byte the reference frame');
    const fernet = await createFernet(fernetKey.slice());
    assert.equal(fromUtf8(await fernet.decrypt(frame.token)), JSON.stringify(body));
    const iv = toHex(parseToken(frame.token).iv);
    assert.ok(!ivs.has(iv), 'a fresh IV for every token');
    ivs.add(iv);
  }

  const bodies = fc.record({
    kind: fc.constant('line'),
    id: fc.nat(),
    text: fc.oneof(fc.string({ maxLength: 700 }), fc.string({ unit: 'grapheme', maxLength: 300 })),
  });

  for (const [name, backend] of BACKENDS) {
    test(`${name}: every frame sealed equals the reference, for any body, session id and memory (property)`, async () => {
      const ivs = new Set<string>();
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(bodies, fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 12 }),
          // 16 bytes is every real session; 0 and 40 put the MAC input's fixed part shorter and longer.
          fc.constantFrom(16, 0, 1, 40),
          async (records, idLength) => {
            const id = randomBytes(idLength);
            const channel = new RecordChannel(await keysOn(backend), id, 's2c', { now: () => NOW });
            for (const [seq, [body, encoded, slab]] of records.entries()) {
              // Memory that held something else, as a slab hands it out; or the channel's own.
              const allocate = slab
                ? (length: number) => new Uint8Array(length + 9).fill(0xaa).subarray(5, 5 + length)
                : undefined;
              const wire = await channel.sealWire(encoded ? new EncodedBody(body) : body, allocate);
              await checkAgainstReference(wire, seq, id, body, ivs);
            }
          },
        ),
        { numRuns: name === 'node:crypto' ? 150 : 40 },
      );
    });
  }

  test('node:crypto: the sequence number as JSON writes it, from 1 digit to 4 (every carry from 9 to 1,000)', async () => {
    const channel = new RecordChannel(await keysOn(nodeCryptoBackend), sessionId, 's2c', { now: () => NOW });
    const ivs = new Set<string>();
    const body = { kind: 'line', id: 1, text: 'x'.repeat(40) };
    for (let seq = 0; seq < 1100; seq++) {
      const wire = channel.sealWire(seq % 2 ? new EncodedBody(body) : body) as Uint8Array;
      if (seq < 12 || (seq > 95 && seq < 102) || seq > 995)
        await checkAgainstReference(wire, seq, sessionId, body, ivs);
      else assert.equal((JSON.parse(new TextDecoder().decode(wire)) as RecordFrame).seq, seq);
    }
  });

  test('node:crypto: a fan-out seals one body for many channels, each frame its own keys, IV and MAC', async () => {
    const body = { kind: 'line', id: 3, text: 'to everyone' };
    const encoded = new EncodedBody(body);
    const otherMacKey = randomBytes(32);
    const channels = [];
    for (let i = 0; i < 20; i++) {
      const keys = {
        fernet: await nodeCryptoBackend.createFernet(fernetKey.slice()),
        mac: await nodeCryptoBackend.createMac((i % 2 ? otherMacKey : macKey).slice()),
      };
      channels.push(new RecordChannel(keys, sessionId, 's2c', { now: () => NOW }));
    }
    const wires = channels.map((channel) => channel.sealWire(encoded) as Uint8Array);
    const tokens = new Set(wires.map((wire) => (JSON.parse(new TextDecoder().decode(wire)) as RecordFrame).token));
    assert.equal(tokens.size, channels.length, 'every token its own (a fresh IV each)');
    for (const [i, wire] of wires.entries()) {
      const frame = JSON.parse(new TextDecoder().decode(wire)) as RecordFrame;
      const mac = await createMac((i % 2 ? otherMacKey : macKey).slice());
      assert.equal(frame.mac, toBase64Url(await mac.sign(recordMacInput('s2c', 0, sessionId, frame.token))));
    }
  });
});

describe('the channel: one interface for secure and plain mode', () => {
  const LINE: ClientBody = { kind: 'line', id: 0, text: 'hi' };

  test('plain: frames in the clear with their sequence numbers, values at once (no promise)', () => {
    const page = new PlainChannel<ClientBody, ServerBody>();
    const server = new PlainChannel<ServerBody, ClientBody>();
    assert.equal(page.mode, 'plain');
    const first = page.seal(LINE);
    assert.deepEqual(first, { type: 'plain', seq: 0, body: LINE });
    assert.deepEqual(Object.keys(first), ['type', 'seq', 'body'], 'the wire order of plain frames');
    assert.deepEqual(page.seal({ kind: 'bye', word: 'EXIT' }), {
      type: 'plain',
      seq: 1,
      body: { kind: 'bye', word: 'EXIT' },
    });
    const checks: FrameCheck[] = [];
    assert.deepEqual(
      server.open(first, (check) => checks.push(check)),
      LINE,
    );
    assert.deepEqual(checks, ['sequence']);
    // A body serialized once for many recipients goes out as the body itself.
    const shared = new EncodedBody<ServerBody>({ kind: 'end', code: 'CHAT_ENDED', reason: 'bye' });
    assert.deepEqual(server.seal(shared), { type: 'plain', seq: 0, body: shared.body });
    // The text and the bytes are the frame's JSON, each taking the next number.
    assert.equal(page.sealText(LINE), JSON.stringify({ type: 'plain', seq: 2, body: LINE }));
    assert.deepEqual(page.sealWire(LINE), utf8(JSON.stringify({ type: 'plain', seq: 3, body: LINE })));
  });

  test('plain: a replayed, skipped or early frame is refused (RECORD_BAD_SEQUENCE), and nothing is reported passed', () => {
    const page = new PlainChannel<ClientBody, ServerBody>();
    const server = new PlainChannel<ServerBody, ClientBody>();
    const first = page.seal(LINE);
    server.open(first);
    const checks: FrameCheck[] = [];
    throwsWith(() => server.open(first, (check) => checks.push(check)), 'RECORD_BAD_SEQUENCE');
    throwsWith(() => server.open({ ...first, seq: 5 }, (check) => checks.push(check)), 'RECORD_BAD_SEQUENCE');
    assert.deepEqual(checks, []);
    assert.deepEqual(server.open({ ...first, seq: 1 }), LINE, 'the next number is still the one expected');
  });

  test("each mode refuses the other's frames (PROTO_UNEXPECTED): no downgrade, no upgrade", async () => {
    const { page } = await pair();
    const record = await page.seal(LINE);
    throwsWith(() => new PlainChannel<ServerBody, ClientBody>().open(record), 'PROTO_UNEXPECTED');
    const server = new RecordChannel(await keys(), sessionId, 's2c', { now: () => NOW });
    await rejectsWith(() => server.open({ type: 'plain', seq: 0, body: LINE }), 'PROTO_UNEXPECTED');
    assert.equal(server.nextReceiveSeq, 0, 'and it does not use up a sequence number');
  });

  test('secure: each check is reported as it passes, and the ones after a failure are not', async () => {
    const opened = async (frame: RecordFrame, channel?: RecordChannel) => {
      const checks: FrameCheck[] = [];
      const server = channel ?? new RecordChannel(await keys(), sessionId, 's2c', { now: () => NOW });
      await Promise.resolve()
        .then(() => server.open(frame, (check) => checks.push(check)))
        .catch(() => undefined);
      return checks;
    };
    const { page } = await pair();
    const frame = await page.seal(LINE);
    assert.deepEqual(await opened(frame), ['sequence', 'record-mac', 'fernet-mac']);
    assert.deepEqual(await opened({ ...frame, seq: 1 }), [], 'the wrong number: nothing passed');
    assert.deepEqual(await opened({ ...frame, mac: flip(frame.mac, 3) }), ['sequence'], 'the record HMAC failed');
    assert.deepEqual(
      await opened(await macced('c2s', 0, flip(frame.token, 40))),
      ['sequence', 'record-mac'],
      'the Fernet HMAC failed',
    );
    // A body of the wrong shape failed after every HMAC passed: both were verified, and it was decrypted.
    const typed = new RecordChannel<ServerBody, ClientBody>(await keys(), sessionId, 's2c', {
      now: () => NOW,
      parse: parseClientBody,
    });
    const odd = await (await pair()).page.seal({ kind: 'wave' });
    const checks: FrameCheck[] = [];
    await rejectsWith(() => typed.open(odd, (check) => checks.push(check)), 'PROTO_BAD_SHAPE');
    assert.deepEqual(checks, ['sequence', 'record-mac', 'fernet-mac']);
  });

  test('a typed channel hands out bodies through its parser', async () => {
    const { page } = await pair();
    const server = new RecordChannel<ServerBody, ClientBody>(await keys(), sessionId, 's2c', {
      now: () => NOW,
      parse: parseClientBody,
    });
    const body: ClientBody = await server.open(await page.seal(LINE));
    assert.deepEqual(body, LINE);
  });

  test("createChannel: records under the secret's keys (zeroed once imported) in secure mode, plain frames in plain mode", async () => {
    const secret = { fernetKey: fernetKey.slice(), macKey: macKey.slice() };
    const server = await createChannel<ServerBody, ClientBody>({
      mode: 'secure',
      secret,
      sessionId,
      send: 's2c',
      backend: webCryptoBackend,
      parse: parseClientBody,
      now: () => NOW,
    });
    assert.equal(server.mode, 'secure');
    assert.ok(server instanceof RecordChannel);
    assert.ok(secret.fernetKey.every((b) => b === 0) && secret.macKey.every((b) => b === 0), 'the raw keys are zeroed');
    const { page } = await pair();
    assert.deepEqual(await server.open(await page.seal(LINE)), LINE);
    const plain = await createChannel<ServerBody, ClientBody>({
      mode: 'plain',
      secret: undefined,
      sessionId,
      send: 's2c',
      backend: webCryptoBackend,
      parse: parseClientBody,
    });
    assert.ok(plain instanceof PlainChannel);
    await rejectsWith(
      createChannel({
        mode: 'secure',
        secret: undefined,
        sessionId,
        send: 's2c',
        backend: webCryptoBackend,
        parse: parseClientBody,
      }),
      'PROTO_BAD_SHAPE',
    );
  });
});
