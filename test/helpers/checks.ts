/**
 * What every adversarial case asserts besides its own close code: the console names the failure, and an honest
 * pair of tabs on the same server keeps chatting without losing a line.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before } from 'node:test';
import WebSocket from 'ws';
import type { ServerOptions } from '../../server/options.ts';
import type { ServerBody, ServerLine } from '../../shared/protocol.ts';
import { ScriptedClient } from '../../tools/client.ts';
import type { Closed, RawSocket } from './raw-client.ts';
import { startTestServer, testKeyPair, type ConsoleEvent, type TestServer } from './server.ts';

export interface Dropped {
  /** The close code the attacker's socket gets (RFC 6455 §7.4.1). */
  code: number;
  /** The wirechat error code (or ws's, for framing errors ws catches itself) the console's reason names. */
  error: string;
  /** The console names the session this way; a connection that never finished the handshake by its number. */
  name?: string | RegExp;
  /** Whether the close reason the attacker reads names the error too (ws's own framing closes carry none). */
  reasonNamesError?: boolean;
}

/**
 * Asserts that the server closed `socket` with `expected.code` and that the console showed it leave with that
 * code and a reason naming the error. Returns both, for cases that check more.
 */
export async function expectDropped(
  server: TestServer,
  socket: RawSocket,
  expected: Dropped,
): Promise<{ closed: Closed; event: ConsoleEvent }> {
  const closed = await socket.waitClosed();
  assert.equal(closed.code, expected.code, `close code (reason "${closed.reason}")`);
  if (expected.reasonNamesError ?? true)
    assert.ok(closed.reason.startsWith(`${expected.error}:`), `close reason "${closed.reason}"`);
  const event = await server.waitForEvent(
    (e) => e.kind === 'left' && server.events.indexOf(e) >= socket.eventMark && e.text.includes(expected.error),
  );
  assert.equal(event.code, expected.code, `console event ${JSON.stringify(event)}`);
  const name = expected.name ?? /^connection #\d+$/;
  if (typeof name === 'string') assert.equal(event.name, name);
  else assert.match(event.name, name);
  return { closed, event };
}

// What shared/text.ts's printable escapes, written out independently: what must never reach the console's terminal
// raw in a reason (ANSI escapes, bidi controls and marks, zero-width and other format characters).
const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/** Asserts that `text`, which reaches the operator's terminal, carries no control character and no flood. */
export function assertPrintable(text: string, what: string): void {
  assert.ok(!CONTROL.test(text), `${what} carries a raw control character: ${JSON.stringify(text)}`);
  assert.ok(text.length <= 300, `${what} is ${text.length} characters long`);
}

const lineFrom =
  (from: string) =>
  (b: ServerBody): b is ServerLine =>
    b.kind === 'line' && b.from === from;

/**
 * Two honest tabs kept connected across a suite's cases. `check()` sends a line each way and asserts that it
 * arrived, with a delivered receipt, and that every line either has sent so far arrived exactly once, in order.
 */
export class HonestPair {
  readonly a: ScriptedClient;
  readonly b: ScriptedClient;
  readonly #sent = new Map<ScriptedClient, string[]>();
  readonly #names = new Map<ScriptedClient, string>();

  private constructor(a: ScriptedClient, b: ScriptedClient) {
    this.a = a;
    this.b = b;
    for (const c of [a, b]) this.#sent.set(c, []);
  }

  static async connect(server: TestServer, names: [string, string] = ['alice', 'bob']): Promise<HonestPair> {
    const pair = new HonestPair(await server.connect({ name: names[0] }), await server.connect({ name: names[1] }));
    pair.#names.set(pair.a, pair.a.session.identity!.name);
    pair.#names.set(pair.b, pair.b.session.identity!.name);
    return pair;
  }

  /** One line each way, each checked as `say` checks it. */
  async check(): Promise<void> {
    await this.say(this.a, `${this.#names.get(this.a)} says ${this.#sent.get(this.a)!.length} <still here>`);
    await this.say(this.b, `${this.#names.get(this.b)} says ${this.#sent.get(this.b)!.length} <still here>`);
  }

  /**
   * Sends `text` from one tab of the pair to the other and asserts: it arrived exactly as typed, with a
   * delivered receipt, and every line that tab has sent so far arrived exactly once, in order. Returns the line
   * the other tab received.
   */
  async say(from: ScriptedClient, text: string): Promise<ServerLine> {
    const to = from === this.a ? this.b : this.a;
    assert.equal(from.ws.readyState, WebSocket.OPEN, 'an honest tab was disconnected');
    assert.deepEqual(from.errors, [], 'an honest tab saw a protocol error');
    const sent = this.#sent.get(from)!;
    sent.push(text);
    const id = await from.send(text);
    const line = await to.waitFor((b): b is ServerLine => b.kind === 'line' && b.text === text);
    const receipt = await from.waitFor((b) => b.kind === 'receipt' && b.id === id);
    assert.deepEqual(receipt, { kind: 'receipt', id, status: 'delivered', reason: '', n: line.n });
    const arrived = to.bodies.filter(lineFrom(this.#names.get(from)!)).map((l) => l.text);
    assert.deepEqual(arrived, sent, 'lines lost, duplicated or reordered between honest tabs');
    assert.ok(!to.bodies.some((b) => b.kind === 'end'), 'an honest tab was told the chat ended');
    return line;
  }

  async close(): Promise<void> {
    await Promise.all([this.a.bye(), this.b.bye()]);
  }
}

/**
 * For the cases of the calling describe block: a server with `overrides`, started before them with an honest
 * pair on it; the pair is checked after every case, and both are stopped after the block. Getters, because
 * the values exist only once `before` has run.
 */
export function honestServer(overrides: Partial<ServerOptions> = {}): { server(): TestServer; honest(): HonestPair } {
  let server: TestServer;
  let honest: HonestPair;
  before(async () => {
    server = await startTestServer(overrides);
    honest = await HonestPair.connect(server);
  });
  afterEach(() => honest.check());
  after(async () => {
    await honest.close();
    await server.stop();
  });
  return { server: () => server, honest: () => honest };
}

/**
 * Two fresh tabs join the server at `url` (its ws:// address) and a line crosses from one to the other with a
 * delivered receipt: after whatever a test threw at it, the server is still serving.
 */
export async function assertServesFreshTabs(url: string, name = 'fresh'): Promise<void> {
  const a = await ScriptedClient.connect({ url, keyPair: testKeyPair(), name: `${name}-a` });
  const b = await ScriptedClient.connect({ url, keyPair: testKeyPair(), name: `${name}-b` });
  const text = `${name}: still serving`;
  const id = await a.send(text);
  const line = await b.waitFor((body): body is ServerLine => body.kind === 'line' && body.text === text);
  const receipt = await a.waitFor((body) => body.kind === 'receipt' && body.id === id);
  assert.deepEqual(receipt, { kind: 'receipt', id, status: 'delivered', reason: '', n: line.n });
  await Promise.all([a.bye(), b.bye()]);
}
