/**
 * A process for the SQLite tests to kill or to race: not a test itself.
 *
 *   append PATH KEYPATH full|normal   appends lines in bursts forever, printing "epoch E" first and then
 *                                     "ack LINEID N" for each append once it has resolved (a pipe write is
 *                                     synchronous on Linux, so an ack printed was acknowledged before the next)
 *   hold PATH                         opens the history, prints "ready", and waits to be killed
 */
import { loadChatKey } from '../../../server/log/chat-key.ts';
import { createChatLog, createLogSealer } from '../../../server/log/sealed.ts';
import { openSqliteStore, type Synchronous } from '../../../server/log/sqlite.ts';

const [mode, path, keyPath, synchronous] = process.argv.slice(2);

if (mode === 'hold') {
  await openSqliteStore(path!);
  process.stdout.write('ready\n');
  setInterval(() => {}, 60_000);
} else if (mode === 'append') {
  const log = await createChatLog(
    await openSqliteStore(path!, { synchronous: synchronous as Synchronous }),
    await createLogSealer((await loadChatKey(keyPath!)).key),
  );
  process.stdout.write(`epoch ${(await log.position()).epoch}\n`);
  let lineId = 0;
  for (;;) {
    const burst = Array.from({ length: 1 + (lineId % 7) }, () => {
      const id = ++lineId;
      return log
        .append({ kind: 'line', from: 'crash', text: `line ${id}`, origin: { identity: 'crash-tab', lineId: id } })
        .then((appended) => process.stdout.write(`ack ${id} ${appended.n}\n`));
    });
    await Promise.all(burst);
  }
} else {
  process.stderr.write('usage: append-child.ts append PATH KEYPATH full|normal | hold PATH\n');
  process.exit(2);
}
