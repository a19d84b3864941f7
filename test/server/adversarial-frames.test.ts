/**
 * Issue 4, frames: what a hostile peer can put in a WebSocket message before any key matters. Every case runs
 * against the real server on loopback, asserts the close code the attacker gets and what the console shows,
 * and then that an honest pair on the same server still chats without losing a line.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Close } from '../../shared/errors.ts';
import { LIMITS } from '../../shared/protocol.ts';
import { assertPrintable, expectDropped, honestServer } from '../helpers/checks.ts';
import { helloFrame, RawClient, RawSocket } from '../helpers/raw-client.ts';

/** A record that parses but was never sealed: for the cases the parser or the phase must stop first. */
const FAKE_RECORD = { type: 'record', seq: 0, token: 'gAAAAA==', mac: 'AAAA' };

describe('adversarial frames', () => {
  const { server, honest } = honestServer();

  describe('before the handshake, on a fresh connection', () => {
    const cases: Array<{ name: string; frame: () => Promise<string> | string; code: number; error: string }> = [
      { name: 'malformed JSON', frame: () => '{"type":"hello",', code: Close.PROTOCOL_ERROR, error: 'PROTO_BAD_JSON' },
      { name: 'a JSON array', frame: () => '[{"type":"hello"}]', code: Close.PROTOCOL_ERROR, error: 'PROTO_BAD_SHAPE' },
      { name: 'JSON null', frame: () => 'null', code: Close.PROTOCOL_ERROR, error: 'PROTO_BAD_SHAPE' },
      { name: 'a JSON number', frame: () => '42', code: Close.PROTOCOL_ERROR, error: 'PROTO_BAD_SHAPE' },
      { name: 'a JSON string', frame: () => '"hello"', code: Close.PROTOCOL_ERROR, error: 'PROTO_BAD_SHAPE' },
      {
        name: 'an unknown frame type',
        frame: () => '{"type":"welcome"}',
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_UNKNOWN_TYPE',
      },
      {
        name: 'a frame without a type',
        frame: () => '{"seq":0}',
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_UNKNOWN_TYPE',
      },
      {
        name: 'hello with a number for its name',
        frame: async () => JSON.stringify({ ...(await helloFrame()), name: 42 }),
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_BAD_SHAPE',
      },
      {
        name: 'hello with a string for acceptPlain',
        frame: async () => JSON.stringify({ ...(await helloFrame()), acceptPlain: 'yes' }),
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_BAD_SHAPE',
      },
      {
        name: 'hello with an extra field',
        frame: async () => JSON.stringify({ ...(await helloFrame()), admin: true }),
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_BAD_SHAPE',
      },
      {
        name: 'hello without its nonce',
        frame: async () => JSON.stringify({ ...(await helloFrame()), nonce: undefined }),
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_BAD_SHAPE',
      },
      {
        name: 'hello speaking protocol version "1" (a string)',
        frame: async () => JSON.stringify({ ...(await helloFrame()), version: '1' }),
        code: Close.PROTOCOL_ERROR,
        error: 'HANDSHAKE_VERSION',
      },
      {
        name: 'a record with a string for seq',
        frame: () => JSON.stringify({ ...FAKE_RECORD, seq: '0' }),
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_BAD_SHAPE',
      },
      {
        name: 'a record with a negative seq',
        frame: () => JSON.stringify({ ...FAKE_RECORD, seq: -1 }),
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_BAD_SHAPE',
      },
      {
        name: 'a chat record before the handshake',
        frame: () => JSON.stringify(FAKE_RECORD),
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_UNEXPECTED',
      },
      {
        name: 'a plain chat line before the handshake',
        frame: () => JSON.stringify({ type: 'plain', seq: 0, body: { kind: 'line', id: 0, text: 'hi' } }),
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_UNEXPECTED',
      },
      {
        name: 'bad base64 in hello.nonce (standard alphabet)',
        frame: async () => JSON.stringify({ ...(await helloFrame()), nonce: 'ab+/cd==' }),
        code: Close.PROTOCOL_ERROR,
        error: 'BAD_BASE64',
      },
      {
        name: 'bad base64 in hello.publicKey (stray bits in the last character)',
        frame: async () => JSON.stringify({ ...(await helloFrame()), publicKey: 'AB' }),
        code: Close.PROTOCOL_ERROR,
        error: 'BAD_BASE64',
      },
      {
        name: 'hello whose nonce is 31 bytes',
        frame: async () => JSON.stringify(await helloFrame({ nonce: new Uint8Array(31) })),
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_BAD_SHAPE',
      },
    ];
    for (const c of cases) {
      it(`closes ${c.code} ${c.error} on ${c.name}`, async () => {
        const socket = await RawSocket.open(server());
        socket.send(await c.frame());
        await expectDropped(server(), socket, { code: c.code, error: c.error });
        assert.equal(socket.received.length, 0, 'the server answered a broken frame with something other than a close');
      });
    }

    const names: Array<[string, string]> = [
      ['an ANSI escape that clears the console', '\x1b[2J\x1b[Hroot'],
      ['an 8-bit CSI', 'a\u009b31mb'],
      ['a newline (a fake console line)', 'eve\n[12:00:00] * console joined'],
      ['a bidi override', 'eve\u202egnp.exe'],
      ['a NUL', 'eve\u0000'],
      ['only spaces', '   '],
      ['25 characters', 'x'.repeat(25)],
    ];
    for (const [what, name] of names) {
      it(`refuses a name with ${what} at hello (4100 NAME_REFUSED)`, async () => {
        const socket = await RawSocket.open(server());
        socket.sendJson(await helloFrame({ name }));
        await expectDropped(server(), socket, { code: Close.NAME_REFUSED, error: 'NAME_REFUSED' });
        assert.ok(!server().events.some((e) => e.name === name), 'the refused name reached the console');
      });
    }
  });

  describe('console injection: wire text quoted in a reason reaches the console escaped and short', () => {
    const ESC = '\x1b[2J\x1b[31m';
    const frames: Array<[string, () => Promise<string> | string, string]> = [
      [
        'a field named with ANSI escapes',
        async () => JSON.stringify({ ...(await helloFrame()), [`${ESC}x`]: 1 }),
        'PROTO_BAD_SHAPE',
      ],
      [
        'a 60,000-character field name',
        async () => JSON.stringify({ ...(await helloFrame()), ['k'.repeat(60_000)]: 1 }),
        'PROTO_BAD_SHAPE',
      ],
      [
        'a frame type with an OSC title escape',
        () => JSON.stringify({ type: '\x1b]0;pwned\x07' }),
        'PROTO_UNKNOWN_TYPE',
      ],
      [
        'a version with ANSI escapes',
        async () => JSON.stringify({ ...(await helloFrame()), version: ESC }),
        'HANDSHAKE_VERSION',
      ],
      // JSON.stringify of this type overflowed the stack, which closed 1011 "internal error" instead of 1002.
      [
        'a frame type nested 30,000 arrays deep',
        () => `{"type":${'['.repeat(30_000)}${']'.repeat(30_000)}}`,
        'PROTO_UNKNOWN_TYPE',
      ],
    ];
    for (const [what, frame, error] of frames) {
      it(`closes 1002 ${error} on ${what}`, async () => {
        const socket = await RawSocket.open(server());
        socket.send(await frame());
        const { closed, event } = await expectDropped(server(), socket, { code: Close.PROTOCOL_ERROR, error });
        assertPrintable(event.text, 'the console reason');
        assertPrintable(closed.reason, 'the close reason');
      });
    }

    it("escapes a tab's own close reason before the console and the other tabs see it", async () => {
      const client = await RawClient.handshake(server(), { name: 'closer' });
      client.ws.close(4000, `${ESC}you have been hacked`);
      await client.waitClosed();
      const event = await server().waitForEvent((e) => e.kind === 'left' && e.name === 'closer');
      assert.equal(event.code, 4000);
      assertPrintable(event.text, 'the console reason');
      assert.match(event.text, /\\u001b\[2J/);
      const leave = await honest().a.waitForPresence('left', 'closer');
      assertPrintable(leave.reason, 'the leave reason');
    });

    it('closes 1002 on a bye word with an ANSI escape', async () => {
      const client = await RawClient.handshake(server());
      client.sendJson(await client.channel.seal({ kind: 'bye', word: `${ESC}EXIT` }));
      await expectDropped(server(), client, {
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_BAD_SHAPE',
        name: client.name,
      });
    });
  });

  describe('WebSocket framing', () => {
    it('closes 1003 on a binary frame', async () => {
      const client = await RawClient.handshake(server());
      client.send(Buffer.from('{"type":"record"}'), { binary: true });
      await expectDropped(server(), client, { code: Close.UNSUPPORTED_DATA, error: 'PROTO_BINARY', name: client.name });
    });

    it('closes 1007 on a text frame that is not UTF-8', async () => {
      const client = await RawClient.handshake(server());
      client.send(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), { binary: false });
      await expectDropped(server(), client, {
        code: Close.INVALID_PAYLOAD,
        error: 'BAD_UTF8',
        name: client.name,
        reasonNamesError: false,
      });
    });

    it('closes 1009 on a message over maxPayload, before reading it all', async () => {
      const client = await RawClient.handshake(server());
      client.send('x'.repeat(64 * 1024 + 1));
      await expectDropped(server(), client, {
        code: Close.MESSAGE_TOO_BIG,
        error: 'PROTO_TOO_BIG',
        name: client.name,
        reasonNamesError: false,
      });
    });

    it('closes 1008 on a flood of tiny fragments that never ends its message', async () => {
      const client = await RawClient.handshake(server());
      // ws caps a message at 16384 fragments; 1-byte fragments stay far under maxPayload, so that cap is what
      // stops the flood. Bounded: at most 20,000 fragments are ever written.
      for (let i = 0; i < 20_000 && client.isOpen; i++) client.send('a', { fin: false });
      await expectDropped(server(), client, {
        code: Close.POLICY_VIOLATION,
        error: 'WS_ERR_TOO_MANY_BUFFERED_PARTS',
        name: client.name,
        reasonNamesError: false,
      });
    });
  });

  describe('after the handshake', () => {
    it('closes 1002 on a second hello', async () => {
      const client = await RawClient.handshake(server());
      client.sendJson(await helloFrame({ name: 'again' }));
      await expectDropped(server(), client, {
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_UNEXPECTED',
        name: client.name,
      });
    });

    it('closes 1002 on a plain chat line in a secure session (no downgrade)', async () => {
      const client = await RawClient.handshake(server());
      client.sendJson({ type: 'plain', seq: 0, body: { kind: 'line', id: 0, text: 'in the clear' } });
      await expectDropped(server(), client, {
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_UNEXPECTED',
        name: client.name,
      });
      assert.ok(!server().events.some((e) => e.kind === 'line' && e.text === 'in the clear'));
    });

    it('closes 1002 on bad base64 in record.mac', async () => {
      const client = await RawClient.handshake(server());
      const record = await client.line(0, 'hi');
      client.sendJson({ ...record, mac: record.mac.replace(/^./, '+') });
      await expectDropped(server(), client, { code: Close.PROTOCOL_ERROR, error: 'BAD_BASE64', name: client.name });
    });

    it(`refuses a line of ${LIMITS.maxLineBytes + 1} bytes of UTF-8 (1002), in ${LIMITS.maxLineBytes / 2 + 1} characters`, async () => {
      const client = await RawClient.handshake(server());
      client.sendJson(await client.line(0, 'é'.repeat(LIMITS.maxLineBytes / 2) + 'x'));
      await expectDropped(server(), client, {
        code: Close.PROTOCOL_ERROR,
        error: 'PROTO_BAD_SHAPE',
        name: client.name,
      });
      assert.ok(!server().events.some((e) => e.kind === 'line' && e.name === client.name));
    });

    it(`relays a line of exactly ${LIMITS.maxLineBytes} bytes of UTF-8`, async () => {
      const client = await RawClient.handshake(server());
      const text = 'é'.repeat(LIMITS.maxLineBytes / 2);
      client.sendJson(await client.line(0, text));
      await server().waitForEvent((e) => e.kind === 'line' && e.name === client.name && e.text === text);
      await honest().a.waitFor((b) => b.kind === 'line' && b.from === client.name && b.text === text);
      client.terminate();
    });

    it('relays HTML in a chat line byte for byte, as text', async () => {
      const html = '<img src=x onerror=alert(1)><script>alert("x")</script>&amp;';
      const line = await honest().say(honest().a, html);
      assert.deepEqual(line, {
        kind: 'line',
        from: 'alice',
        text: html,
        at: line.at,
        direct: false,
        n: line.n,
        late: false,
      });
      const event = await server().waitForEvent((e) => e.kind === 'line' && e.text === html);
      assert.equal(event.name, 'alice');
    });
  });
});
