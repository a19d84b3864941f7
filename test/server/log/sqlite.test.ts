import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ephemeralChatKey } from '../../../server/log/chat-key.ts';
import { openSqliteStore } from '../../../server/log/sqlite.ts';
import { createChatLog, createLogSealer } from '../../../server/log/sealed.ts';
import { chatLogSuite, reopening } from './suite.ts';

chatLogSuite({
  name: 'SQLite (WAL, synchronous=FULL)',
  persistent: true,
  runs: 60,
  async create({ retention, now }) {
    const dir = await mkdtemp(join(tmpdir(), 'wirechat-log-'));
    const path = join(dir, 'history.db');
    const key = ephemeralChatKey();
    return reopening(
      async () => createChatLog(await openSqliteStore(path, { retention, now }), await createLogSealer(key.slice())),
      () => rm(dir, { recursive: true, force: true }),
    );
  },
});
