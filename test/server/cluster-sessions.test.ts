/**
 * server/cluster-sessions.ts: whether a join or leave entry of the log is news, from the entries before it. The
 * races that put entries in these orders are in test/server/cluster/leaves.test.ts; here each order alone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { leaveOrigin, Sessions } from '../../server/cluster-sessions.ts';
import type { LogEntry } from '../../server/log/log.ts';

let n = 0;
const join = (id: string, from = 'ann'): LogEntry => ({
  kind: 'join',
  from,
  text: '',
  origin: { identity: `join:${id}`, lineId: 0 },
  n: ++n,
  at: 0,
});
const seat = (id: string, serial: number, kind: 'join' | 'leave' = 'join'): LogEntry => ({
  kind,
  from: 'ann',
  text: '',
  origin: { identity: `seat:${id}`, lineId: serial },
  n: ++n,
  at: 0,
});
const leave = (id: string, serial: number): LogEntry => ({
  kind: 'leave',
  from: 'ann',
  text: 'disconnected',
  origin: leaveOrigin(id, serial),
  n: ++n,
  at: 0,
});

/** What `read` answers for each entry, in order. */
function news(...entries: LogEntry[]): boolean[] {
  const sessions = new Sessions();
  return entries.map((entry) => sessions.read(entry));
}

describe('which leaves are news', () => {
  it('a leave of each session, once: after a join, and after each resume', () => {
    assert.deepEqual(news(join('p'), leave('p', 1), seat('p', 1), leave('p', 2), seat('p', 2), leave('p', 3)), [
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
  });

  it('not a leave of a session a resume ended (its seat entry came first), nor a second leave of one session', () => {
    assert.deepEqual(news(join('p'), seat('p', 1), leave('p', 1), leave('p', 2), leave('p', 2)), [
      true,
      true,
      false,
      true,
      false,
    ]);
  });

  it('a seat given up (EXIT, kick) begins no session: the leave after it is news', () => {
    assert.deepEqual(news(join('p'), seat('p', 1, 'leave'), leave('p', 1)), [true, true, true]);
  });

  it('a leave of a participant it never read of: news once; a later one of the same session not', () => {
    assert.deepEqual(news(leave('p', 4), leave('p', 4), leave('p', 3)), [true, false, false]);
  });

  it('a leave without a session (older entries, a reaper that read none) ends the newest, whichever it is, once', () => {
    assert.deepEqual(news(join('p'), seat('p', 1), leave('p', 0), leave('p', 2), leave('p', 0)), [
      true,
      true,
      true,
      false,
      false,
    ]);
    // Read of nothing else: a relay's own leave of that session after the reaper's, and then a new session's.
    assert.deepEqual(news(leave('q', 0), leave('q', 5), seat('q', 5), leave('q', 6)), [true, false, true, true]);
  });

  it('a leave past the newest session read (the entries between were missed) is news', () => {
    assert.deepEqual(news(join('p'), leave('p', 3)), [true, true]);
  });

  it('gives the serial of the newest session read, 0 for a participant it never read of', () => {
    const sessions = new Sessions();
    for (const entry of [join('p'), seat('p', 1), seat('p', 2)]) sessions.read(entry);
    assert.equal(sessions.serial('p'), 3);
    assert.equal(sessions.serial('nobody'), 0);
  });

  it('every other entry is news, as before', () => {
    const line: LogEntry = { kind: 'line', from: 'ann', text: 'hi', origin: { identity: 'p', lineId: 1 }, n: 1, at: 0 };
    const unnamed: LogEntry = { kind: 'leave', from: 'ann', text: 'was lost', n: 2, at: 0 };
    assert.deepEqual(news(line, unnamed), [true, true]);
  });
});
