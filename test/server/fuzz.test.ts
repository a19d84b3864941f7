/**
 * A bounded, time-boxed fuzz run of the real server's frame handling: valid hello and record frames mutated at
 * random (any JSON value, a field replaced, dropped or added, the text truncated or one character changed, a
 * string field cut or changed), plus raw bytes, each on a fresh connection. Asserted for every frame: the server
 * either closes with a protocol, data or policy code, or, only when the frame was valid, answers it. Asserted
 * afterwards: no unhandled rejection, no seat left taken, and the honest pair still chats.
 *
 * A failure prints fast-check's seed and path; FUZZ_SEED=<seed> replays the same run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { endCloseCode, type EndCode } from '../../shared/errors.ts';
import { parseClientFrame, parseServerFrame } from '../../shared/protocol.ts';
import { honestServer } from '../helpers/checks.ts';
import { helloFrame, RawClient, RawSocket, until, type Closed } from '../helpers/raw-client.ts';

/**
 * What a hostile frame may be closed with: protocol error, unsupported data, invalid payload, policy, too big, and
 * wirechat's own 4100 for a hello whose name breaks the name rules.
 */
const ALLOWED = new Set([1002, 1003, 1007, 1008, 1009, 4100]);
const TIME_BOX_MS = 12_000;

type Frame = Record<string, unknown>;
/** A mutation of a valid frame into the text to send; `toString` says what it did, for fast-check's report. */
type Mutation = ((frame: Frame) => string) & { toString(): string };

function mutation(what: string, apply: (frame: Frame) => string): Mutation {
  return Object.assign(apply, { toString: () => what });
}

/** `r` in [0, 1) picks one of `n` places. */
const at = (r: number, n: number) => Math.min(n - 1, Math.floor(r * n));
// Uniform in [0, 1). Not fc.double (uniform over bit patterns, so nearly always tiny) and not biased (fast-check
// leans to the bounds): either would make "the first field, the first character" most runs.
const unit = fc.noBias(fc.integer({ min: 0, max: 9999 })).map((n) => n / 10_000);
// Mostly characters that keep a frame plausible (base64url, JSON punctuation), so mutations get past the JSON
// parser to the checks behind it (base64, key import, sequence, MAC, Fernet); some of any code point.
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const oneChar = fc.oneof(
  { arbitrary: fc.constantFrom(...B64URL, '=', '"', '\\', '{', '}', ',', ':', ' ', '0'), weight: 3 },
  { arbitrary: fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }), weight: 1 },
);

/** Any JSON, with plain numbers, booleans, null and strings as likely as nested values (type confusion). */
const anyValue = fc.oneof(fc.jsonValue(), fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 16 }));

function pickKey(frame: Frame, r: number, type?: 'string' | 'number'): string {
  const keys = Object.keys(frame).filter((k) => type === undefined || typeof frame[k] === type);
  return keys[at(r, keys.length)]!;
}

const mutations: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.jsonValue().map((v) => mutation(`any JSON ${JSON.stringify(v)}`, () => JSON.stringify(v) ?? 'null')),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(unit, anyValue)
      .map(([r, v]) =>
        mutation(`field #${r} := ${JSON.stringify(v)}`, (f) => JSON.stringify({ ...f, [pickKey(f, r)]: v })),
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(unit, fc.oneof(fc.integer({ min: -2, max: 3 }), fc.double(), fc.constant(2 ** 53)))
      .map(([r, n]) =>
        mutation(`number field #${r} := ${n}`, (f) => JSON.stringify({ ...f, [pickKey(f, r, 'number')]: n })),
      ),
  },
  {
    weight: 1,
    arbitrary: unit.map((r) =>
      mutation(`field #${r} dropped`, (f) => {
        const { [pickKey(f, r)]: _dropped, ...rest } = f;
        return JSON.stringify(rest);
      }),
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.string({ maxLength: 8 }), anyValue)
      .map(([k, v]) =>
        mutation(`field ${JSON.stringify(k)} := ${JSON.stringify(v)}`, (f) => JSON.stringify({ ...f, [k]: v })),
      ),
  },
  {
    weight: 1,
    arbitrary: unit.map((r) =>
      mutation(`text cut at ${r}`, (f) => {
        const text = JSON.stringify(f);
        return text.slice(0, at(r, text.length));
      }),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(unit, oneChar).map(([r, c]) =>
      mutation(`text[${r}] := ${JSON.stringify(c)}`, (f) => {
        const text = JSON.stringify(f);
        const i = at(r, text.length);
        return text.slice(0, i) + c + text.slice(i + 1);
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(unit, unit).map(([r, s]) =>
      mutation(`string field #${r} cut at ${s}`, (f) => {
        const key = pickKey(f, r, 'string');
        const value = f[key] as string;
        return JSON.stringify({ ...f, [key]: value.slice(0, at(s, value.length + 1)) });
      }),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(unit, unit, oneChar).map(([r, s, c]) =>
      mutation(`string field #${r}[${s}] := ${JSON.stringify(c)}`, (f) => {
        const key = pickKey(f, r, 'string');
        const value = f[key] as string;
        const i = at(s, value.length);
        return JSON.stringify({ ...f, [key]: value.slice(0, i) + c + value.slice(i + 1) });
      }),
    ),
  },
);

function assertAllowedClose(closed: Closed, sent: string | Buffer): void {
  assert.ok(
    ALLOWED.has(closed.code),
    `closed ${closed.code} "${closed.reason}" for ${JSON.stringify(String(sent).slice(0, 200))}`,
  );
}

function fuzzOptions(numRuns: number) {
  const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
  return { numRuns, seed, endOnFailure: true, plugins: [fc.interruptAfterTimeLimit(TIME_BOX_MS)] };
}

describe('fuzzing the server with mutated frames', () => {
  const { server, honest } = honestServer();
  let hello: Frame;
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);

  before(async () => {
    process.on('unhandledRejection', onRejection);
    hello = { ...(await helloFrame({ name: 'fuzz' })) };
  });
  after(() => {
    process.off('unhandledRejection', onRejection);
  });

  /** After each fuzzed connection: it is gone from the server too (nothing held), before the next one opens. */
  function settled(): Promise<void> {
    return until(() => server().relay.size === 2, 'a fuzzed connection to give up its seat', 5000);
  }

  it('closes or answers every mutated hello on a fresh connection (300 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(mutations, async (mutate) => {
        const data = mutate(hello);
        const socket = await RawSocket.open(server());
        socket.send(data);
        const answer = await socket.answer(0);
        if ('closed' in answer) {
          assertAllowedClose(answer.closed, data);
        } else {
          // Open and answered: only a hello that is valid may get that far, and only a welcome is the answer.
          assert.equal(parseClientFrame(data).type, 'hello');
          assert.equal(parseServerFrame(answer.frame).type, 'welcome');
          socket.ws.close(1000);
          await socket.waitClosed();
        }
        await settled();
      }),
      fuzzOptions(300),
    );
  });

  it('closes or answers every mutated record in a secure session (150 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(mutations, async (mutate) => {
        const client = await RawClient.handshake(server(), { name: 'fuzz' });
        const record = await client.line(0, 'a fuzzed line');
        const data = mutate({ ...record });
        client.send(data);
        const answer = await client.answer(1);
        if ('closed' in answer) {
          assertAllowedClose(answer.closed, data);
        } else {
          // Opened in order, after the seat that came before it.
          const body = (await client.bodies()).at(-1)!;
          if (body.kind === 'end') {
            // Refused with keys in hand: the authenticated end comes first, naming the error, then its close.
            const closed = await client.waitClosed();
            assertAllowedClose(closed, data);
            assert.equal(closed.code, endCloseCode(body.code as EndCode));
            assert.ok(closed.reason.startsWith(`${body.code}: `), closed.reason);
          } else {
            // Without the keys, the only record that opens is the one that was sealed.
            assert.deepEqual(JSON.parse(data), record);
            assert.ok(body.kind === 'receipt' && body.n >= 1, JSON.stringify(body));
            assert.deepEqual(body, { kind: 'receipt', id: 0, status: 'delivered', reason: '', n: body.n });
            client.ws.close(1000);
            await client.waitClosed();
          }
        }
        await settled();
      }),
      fuzzOptions(150),
    );
  });

  it('closes on raw bytes, as text or binary frames (50 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.boolean(), async (bytes, binary) => {
        const data = Buffer.from(bytes);
        const socket = await RawSocket.open(server());
        socket.send(data, { binary });
        const answer = await socket.answer(0);
        assert.ok('closed' in answer, `answered raw bytes ${data.toString('hex')}`);
        assertAllowedClose(answer.closed, data);
        if (binary) assert.equal(answer.closed.code, 1003);
        await settled();
      }),
      fuzzOptions(50),
    );
  });

  it('is still up afterwards: no unhandled rejection, a new tab joins, the honest pair chats', async () => {
    assert.deepEqual(rejections, []);
    const late = await server().connect({ name: 'late' });
    await honest().say(honest().a, 'after the fuzz');
    await late.waitFor((b) => b.kind === 'line' && b.text === 'after the fuzz');
    await late.bye();
  });
});
