/**
 * Issue 4, crypto: hostile keys at hello, and records that are tampered with, replayed, reordered, reflected,
 * moved between sessions or stamped with the wrong time. The records come from RawClient, which holds its
 * session's keys, so each case changes exactly one thing about an otherwise valid frame.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { fromBase64Url, toBase64Url } from '../../shared/bytes.ts';
import { Close } from '../../shared/errors.ts';
import type { RecordFrame } from '../../shared/protocol.ts';
import { RECORD_TTL_SECONDS } from '../../shared/record.ts';
import { expectDropped, honestServer } from '../helpers/checks.ts';
import { helloFrame, RawClient, RawSocket, rsaSpki } from '../helpers/raw-client.ts';

function flipBit(base64url: string, bit: number): string {
  const bytes = fromBase64Url(base64url);
  bytes[bit >> 3]! ^= 1 << (bit & 7);
  return toBase64Url(bytes, base64url.endsWith('='));
}

describe('adversarial crypto', () => {
  const { server, honest } = honestServer();

  describe('public keys at hello (1008 HANDSHAKE_BAD_KEY)', () => {
    const keys: Array<[string, () => Uint8Array]> = [
      ['bytes that are not an SPKI', () => randomBytes(294)],
      [
        'an EC P-256 key',
        () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }),
      ],
      [
        'a 1024-bit RSA key (too weak)',
        () => generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'der' }),
      ],
      ['a 16384-bit RSA key (a CPU sink)', () => rsaSpki(16384)],
      ['an RSA key with exponent 1 (encrypts to the plaintext)', () => rsaSpki(2048, 'AQ')],
      ['an RSA key with exponent 3', () => rsaSpki(2048, 'Aw')],
    ];
    for (const [what, spki] of keys) {
      it(`refuses ${what}`, async () => {
        const socket = await RawSocket.open(server());
        socket.sendJson(await helloFrame({ publicKey: spki() }));
        await expectDropped(server(), socket, { code: Close.POLICY_VIOLATION, error: 'HANDSHAKE_BAD_KEY' });
        assert.equal(socket.received.length, 0, 'no welcome (and no wrapped keys) for a refused key');
      });
    }
  });

  describe('records', () => {
    /** Sends one record and asserts the session is dropped for `error` and the line never reached anyone. */
    async function refused(client: RawClient, frame: RecordFrame, error: string, text: string): Promise<void> {
      client.sendJson(frame);
      await expectDropped(server(), client, { code: Close.POLICY_VIOLATION, error, name: client.name });
      assert.ok(
        !server().events.some((e) => e.kind === 'line' && e.text === text),
        'a refused line reached the console',
      );
      assert.ok(!honest().a.bodies.some((b) => b.kind === 'line' && b.text === text), 'a refused line reached a tab');
    }

    const tampered: Array<[string, (record: RecordFrame) => RecordFrame]> = [
      ['one bit of its HMAC flipped', (r) => ({ ...r, mac: flipBit(r.mac, 77) })],
      ['an HMAC of 31 bytes', (r) => ({ ...r, mac: toBase64Url(fromBase64Url(r.mac).subarray(0, 31)) })],
      ['an HMAC of 33 bytes', (r) => ({ ...r, mac: toBase64Url(Uint8Array.of(...fromBase64Url(r.mac), 0)) })],
      ['an empty HMAC', (r) => ({ ...r, mac: '' })],
      ['its token truncated by one block', (r) => ({ ...r, token: r.token.slice(0, -24) })],
      ['one bit of its token flipped', (r) => ({ ...r, token: flipBit(r.token, 200) })],
    ];
    for (const [what, tamper] of tampered) {
      it(`closes 1008 RECORD_BAD_MAC on a record with ${what} (as anyone on the path could)`, async () => {
        const client = await RawClient.handshake(server());
        const text = `tampered: ${what}`;
        await refused(client, tamper(await client.line(0, text)), 'RECORD_BAD_MAC', text);
      });
    }

    // A page holding the session keys (or a buggy one) gets past the outer MAC: Fernet's own checks stop it.
    const forged: Array<[string, (token: string) => string, string]> = [
      ['truncated by one character', (t) => t.slice(0, -1), 'FERNET_BAD_BASE64'],
      ['truncated to its first 60 characters', (t) => t.slice(0, 60), 'FERNET_TOO_SHORT'],
      ['with one bit of its ciphertext flipped', (t) => flipBit(t, 8 * 40), 'FERNET_BAD_MAC'],
      ['of version 0x81', (t) => flipBit(t, 0), 'FERNET_BAD_VERSION'],
    ];
    for (const [what, change, error] of forged) {
      it(`closes 1008 ${error} on a token ${what} under a valid outer MAC`, async () => {
        const client = await RawClient.handshake(server());
        const text = `forged: ${what}`;
        const record = await client.line(0, text);
        await refused(client, await client.withValidMac(0, change(record.token)), error, text);
      });
    }

    it('closes 1008 RECORD_BAD_SEQUENCE on a replayed record, and delivers the first copy once', async () => {
      const client = await RawClient.handshake(server());
      const record = await client.line(0, 'only once');
      client.sendJson(record);
      client.sendJson(record);
      await expectDropped(server(), client, {
        code: Close.POLICY_VIOLATION,
        error: 'RECORD_BAD_SEQUENCE',
        name: client.name,
      });
      await honest().a.waitFor((b) => b.kind === 'line' && b.text === 'only once');
      assert.equal(server().events.filter((e) => e.kind === 'line' && e.text === 'only once').length, 1);
      assert.equal(honest().a.bodies.filter((b) => b.kind === 'line' && b.text === 'only once').length, 1);
    });

    it('closes 1008 RECORD_BAD_SEQUENCE on reordered records', async () => {
      const client = await RawClient.handshake(server());
      await client.line(0, 'first, never sent');
      const second = await client.line(1, 'second, sent first');
      await refused(client, second, 'RECORD_BAD_SEQUENCE', 'second, sent first');
    });

    it('closes 1008 RECORD_BAD_MAC on a record the server sent, reflected back to it', async () => {
      const client = await RawClient.handshake(server());
      // The server's record 0 (this tab's resume seat) lands exactly where the client's record 0 would: only the
      // direction byte differs.
      const reflected = client.seatFrame!;
      assert.equal(JSON.parse(reflected).seq, client.channel.nextSendSeq);
      client.send(reflected);
      await expectDropped(server(), client, {
        code: Close.POLICY_VIOLATION,
        error: 'RECORD_BAD_MAC',
        name: client.name,
      });
    });

    it("closes 1008 RECORD_BAD_MAC on a record taken from another session's socket", async () => {
      const victim = await RawClient.handshake(server(), { name: 'victim' });
      const thief = await RawClient.handshake(server(), { name: 'thief' });
      const stolen = await victim.line(0, 'from the victim');
      await refused(thief, stolen, 'RECORD_BAD_MAC', 'from the victim');
      // The victim's session is untouched: its record still opens where it belongs.
      victim.sendJson(stolen);
      await server().waitForEvent((e) => e.kind === 'line' && e.name === 'victim' && e.text === 'from the victim');
      victim.terminate();
    });

    it(`closes 1008 FERNET_EXPIRED on a token stamped ${RECORD_TTL_SECONDS + 80} s ago (held back past its TTL)`, async () => {
      const client = await RawClient.handshake(server(), { now: () => Date.now() / 1000 - RECORD_TTL_SECONDS - 80 });
      await refused(client, await client.line(0, 'stale'), 'FERNET_EXPIRED', 'stale');
    });

    it('closes 1008 FERNET_FUTURE on a token stamped an hour ahead', async () => {
      const client = await RawClient.handshake(server(), { now: () => Date.now() / 1000 + 3600 });
      await refused(client, await client.line(0, 'from the future'), 'FERNET_FUTURE', 'from the future');
    });

    it('accepts a token stamped 30 s ahead or 100 s ago (clock skew and TTL allow them)', async () => {
      for (const skew of [30, -100]) {
        const client = await RawClient.handshake(server(), { now: () => Date.now() / 1000 + skew });
        client.sendJson(await client.line(0, `skewed ${skew}`));
        await server().waitForEvent((e) => e.kind === 'line' && e.name === client.name && e.text === `skewed ${skew}`);
        client.terminate();
      }
    });
  });
});
