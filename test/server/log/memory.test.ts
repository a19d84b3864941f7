import { ephemeralChatKey } from '../../../server/log/chat-key.ts';
import { MemoryStore } from '../../../server/log/memory.ts';
import { createChatLog, createLogSealer, inProcessSealer } from '../../../server/log/sealed.ts';
import { chatLogSuite, reopening } from './suite.ts';

chatLogSuite({
  name: 'memory',
  persistent: false,
  runs: 300,
  // Each start is a new process's store: a new key too, as main would make.
  create: ({ retention, now }) =>
    reopening(async () =>
      createChatLog(new MemoryStore({ retention, now }), await createLogSealer(ephemeralChatKey())),
    ),
});

// The memory log as the server opens it (server/history.ts): its entries kept open in this process.
chatLogSuite({
  name: 'memory, entries kept open in the process',
  persistent: false,
  runs: 300,
  create: ({ retention, now }) =>
    reopening(async () => createChatLog(new MemoryStore({ retention, now }), inProcessSealer())),
});
