import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createFernet, generateFernetKey } from '../../shared/fernet.ts';
import { createMac, generateMacKey } from '../../shared/mac.ts';
import { RecordChannel } from '../../shared/record.ts';
import { describeFrame, describeToken } from '../../tools/wire-format.ts';
import { reasonCode } from '../../tools/mitm.ts';
import { flipBit } from '../../tools/mitm/attacks.ts';

async function sealedRecord(): Promise<string> {
  const keys = { fernet: await createFernet(generateFernetKey()), mac: await createMac(generateMacKey()) };
  const channel = new RecordChannel(keys, new Uint8Array(16), 'c2s', { now: () => 1_800_000_000 });
  return JSON.stringify(await channel.seal({ kind: 'line', id: 0, text: 'not visible from outside' }));
}

describe('describing frames', () => {
  it("shows what a record reveals (its token's header and lengths) and not the line inside", async () => {
    const record = await sealedRecord();
    const full = describeFrame(record);
    assert.equal(full.type, 'record');
    assert.equal(full.seq, 0);
    assert.match(full.text, /^record seq 0: token gAAAAAB.{3}…/);
    assert.match(
      full.text,
      /Fernet v0x80, stamped 08:00:00 UTC, IV [0-9a-f]{8}…, 64 B of AES-CBC ciphertext, HMAC\), mac /,
    );
    assert.doesNotMatch(full.text, /visible/); // 54 bytes of JSON, padded to 4 AES blocks: the length shows, the words do not
    assert.match(describeFrame(record, true).text, /^record seq 0: token \S+ \(\d+ chars\), mac \S+$/);
  });

  it('shows plain bodies, hellos and welcomes as they are', () => {
    const plain = JSON.stringify({
      type: 'plain',
      seq: 2,
      body: { kind: 'line', from: 'bob', text: 'hi there', at: 1, direct: true },
    });
    assert.equal(describeFrame(plain).text, 'plain seq 2: line from "bob" (direct): "hi there"');
    const hello = JSON.stringify({
      type: 'hello',
      version: 1,
      name: 'alice',
      publicKey: 'AAEC',
      nonce: 'AAEC',
      acceptPlain: false,
    });
    assert.match(
      describeFrame(hello).text,
      /^hello name "alice", publicKey 3 B sha256 ae4b3280, nonce 3 B, acceptPlain false$/,
    );
    assert.equal(describeFrame(hello, true).text, 'hello name "alice", publicKey 3 B, acceptPlain false');
  });

  it('shows a presence body: each change named, then the counted ones, leniently', () => {
    const presence = (body: object) =>
      JSON.stringify({ type: 'plain', seq: 3, body: { kind: 'presence', at: 1, ...body } });
    assert.equal(
      describeFrame(
        presence({
          changes: [
            { change: 'left', name: 'bob', reason: 'left (EXIT)' },
            { change: 'joined', name: 'carol' },
          ],
          moreJoined: 40,
          moreLeft: 0,
        }),
      ).text,
      'plain seq 3: presence -"bob" "left (EXIT)", +"carol", +40 more joined',
    );
    assert.equal(
      describeFrame(presence({ changes: 'junk', moreJoined: 0, moreLeft: 2 })).text,
      'plain seq 3: presence -2 more left',
    );
    assert.equal(
      describeFrame(presence({ changes: [7, { change: 'x\u001b', name: 'a' }] })).text,
      'plain seq 3: presence 7, "x\\u001b" "a"',
    );
  });

  it('never trusts the wire: control characters are escaped, junk is named, bad tokens are described', () => {
    assert.equal(
      describeFrame('{"type":"plain","seq":0,"body":{"kind":"bye","word":"\\u001b[2J"}}').text,
      'plain seq 0: bye "\\u001b[2J"',
    );
    assert.equal(describeFrame('not json').text, 'not JSON: not json');
    assert.equal(describeFrame('[1]').type, '?');
    assert.match(describeToken('gAAA!!'), /unreadable: FERNET_BAD_BASE64/);
  });
});

describe("the mitm's tampering helpers", () => {
  it('flips one bit and keeps the frame well formed', async () => {
    const frame = JSON.parse(await sealedRecord()) as Record<string, unknown>;
    const token = frame.token as string;
    const note = flipBit(frame, 'token');
    assert.match(note, /^FLIP: bit 0 of byte 25 \(the first ciphertext byte\) of record seq 0's token/);
    assert.notEqual(frame.token, token);
    assert.equal((frame.token as string).length, token.length);
    assert.match(frame.token as string, /^[A-Za-z0-9_-]+={0,2}$/);
    const mac = frame.mac as string;
    flipBit(frame, 'mac');
    assert.equal((frame.mac as string).length, 43);
    assert.notEqual(frame.mac, mac);
  });

  it('reads the error code out of a close reason from the server or from a browser', () => {
    assert.equal(reasonCode('RECORD_BAD_MAC: record 0 failed'), 'RECORD_BAD_MAC');
    assert.equal(reasonCode('1008 HANDSHAKE_BAD_SIGNATURE: the handshake'), 'HANDSHAKE_BAD_SIGNATURE');
    assert.equal(reasonCode('RECORD_BAD_MAC'), 'RECORD_BAD_MAC');
    assert.equal(reasonCode('alice left'), undefined);
  });
});
