import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ScriptedClient } from '../../tools/client.ts';
import { startTestServer, testKeyPair, type TestServer } from '../helpers/server.ts';

describe('the scripted client', () => {
  let server: TestServer;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  before(async () => {
    server = await startTestServer();
    process.on('unhandledRejection', onUnhandled);
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await server.stop();
  });

  it('rejects connect() with the HTTP status of a refused upgrade, leaving no unhandled rejection', async () => {
    await assert.rejects(
      ScriptedClient.connect({ url: server.wsUrl.replace('/ws', '/nope'), keyPair: testKeyPair() }),
      /Unexpected server response: 404/,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(unhandled, []);
  });

  it('rejects connect() with HANDSHAKE_BAD_KEY when its trust callback refuses the server', async () => {
    await assert.rejects(
      ScriptedClient.connect({ url: server.wsUrl, keyPair: testKeyPair(), trust: async () => false }),
      (error: unknown) => (error as { code?: string }).code === 'HANDSHAKE_BAD_KEY',
    );
    assert.deepEqual(unhandled, []);
  });
});
