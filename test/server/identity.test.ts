import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIdentity } from '../../server/identity.ts';
import { fingerprint, signTranscript, verifyTranscript } from '../../shared/handshake.ts';

describe('the server identity key', () => {
  it('is made on first run in a file only its owner can read, and is the same key on the next run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wirechat-identity-'));
    try {
      const path = join(dir, 'nested', 'identity.jwk');
      const first = await loadIdentity(path);
      assert.equal(first.created, true);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.equal((await stat(join(dir, 'nested'))).mode & 0o777, 0o700);
      const second = await loadIdentity(path);
      assert.equal(second.created, false);
      assert.equal(second.fingerprint, first.fingerprint);
      assert.equal(first.fingerprint, await fingerprint(first.publicKey));
      assert.equal(first.signingKey.extractable, false);
      assert.deepEqual(first.signingKey.usages, ['sign']);
      const data = new TextEncoder().encode('transcript');
      await verifyTranscript(second.publicKey, data, await signTranscript(first.signingKey, data));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('tightens a key file that others could read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wirechat-identity-'));
    try {
      const path = join(dir, 'identity.jwk');
      await loadIdentity(path);
      const { chmod } = await import('node:fs/promises');
      await chmod(path, 0o644);
      await loadIdentity(path);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file that is not an ECDSA P-256 private key, naming the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wirechat-identity-'));
    try {
      const path = join(dir, 'identity.jwk');
      await writeFile(path, JSON.stringify({ kty: 'oct', k: 'AAAA' }), { mode: 0o600 });
      await assert.rejects(loadIdentity(path), new RegExp(`${path} is not an ECDSA P-256 private key`));
      await writeFile(path, 'not json', { mode: 0o600 });
      await assert.rejects(loadIdentity(path), /cannot read the identity key/);
      assert.equal(await readFile(path, 'utf8'), 'not json', 'a bad key file is never overwritten');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
