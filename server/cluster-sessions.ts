/**
 * Which session of each participant the chat's log says is its newest, and so whether a leave entry is news: the
 * one rule for it, for every relay of a chat (server/cluster-relay.ts; docs/cluster.md "Joins and leaves in the
 * log").
 *
 * A participant's sessions are numbered by their seat's serial (server/resume.ts): 1 when it joins (a `join` entry,
 * origin `join:ID`), s + 1 when a resume spends its seat s (a `join` entry, origin `seat:ID` s). A relay's leave
 * entry for one of its tabs names the session it ends (origin `leave:ID` s), and so does the leave the reaper of a
 * dead relay writes, as far as the reaper knows it. A leave is news when it ends the newest session this relay
 * knows of that participant, and that session has not ended already. It is not when:
 *
 * - a later session of the participant began (a resume, here or on another relay, whose seat entry came first):
 *   a relay that heard the old connection drop late, or while the resume was under way, says nothing true;
 * - that session ended already: a second leave (the participant's relay was reaped, and heard the drop after).
 *
 * A leave without a session (serial 0: written before leaves named it) ends the newest session, whichever it is, as
 * it always did, unless that one has ended. Joins are always news. What a relay never read (it started later,
 * retention dropped it) it cannot hold against a leave: a leave of a participant it knows nothing of is news.
 */
import type { LogEntry, Origin } from './log/log.ts';

/** How many participants are remembered; past it the oldest go (a late leave of one of those is news again). */
const REMEMBERED = 65_536;

interface Newest {
  /** The serial of the newest session; 0 when only a leave without one was read. */
  serial: number;
  ended: boolean;
}

/**
 * What a join or leave entry's origin says: its kind (`join`, `seat`, `leave`) and the participant's id, from
 * `KIND:ID`; undefined for an origin of no such shape. The one reader of that shape (the writers: the relays'
 * appends, and leaveOrigin below).
 */
export function originParts(origin: Origin | undefined): { kind: string; id: string; lineId: number } | undefined {
  const colon = origin?.identity.indexOf(':') ?? -1;
  if (origin === undefined || colon < 0) return undefined;
  return { kind: origin.identity.slice(0, colon), id: origin.identity.slice(colon + 1), lineId: origin.lineId };
}

/** The origin of a leave entry that ends participant `id`'s session `serial` (0: not known). */
export function leaveOrigin(id: string, serial: number): Origin {
  return { identity: `leave:${id}`, lineId: serial };
}

export class Sessions {
  readonly #newest = new Map<string, Newest>();

  /**
   * Reads one entry of the log, in the log's order (its own relay's included): whether it is news to announce. Only
   * a leave of a session that is not the participant's newest, or has ended, is not.
   */
  read(entry: LogEntry): boolean {
    const parts = originParts(entry.origin);
    if (parts === undefined || (entry.kind !== 'join' && entry.kind !== 'leave')) return true;
    const { kind, id, lineId } = parts;
    const known = this.#newest.get(id);
    if (entry.kind === 'join') {
      const serial = kind === 'join' ? 1 : kind === 'seat' ? lineId + 1 : 0;
      if (serial > (known?.serial ?? 0)) this.#note(id, { serial, ended: false });
      return true;
    }
    if (kind !== 'leave') return true;
    const serial = lineId;
    // Past the newest this relay read (it missed the entry that began it): news. Not past one only a leave without
    // a serial told of: that leave ended the session this one names (a reaper that knew no serial, then the relay).
    if (known === undefined || (known.serial !== 0 && serial > known.serial)) {
      this.#note(id, { serial, ended: true });
      return true;
    }
    if (known.ended || (serial !== 0 && serial < known.serial)) return false;
    known.ended = true;
    return true;
  }

  /** The serial of participant `id`'s newest session as the log told this relay; 0 when it told nothing. */
  serial(id: string): number {
    return this.#newest.get(id)?.serial ?? 0;
  }

  #note(id: string, newest: Newest): void {
    this.#newest.delete(id);
    this.#newest.set(id, newest);
    if (this.#newest.size > REMEMBERED) this.#newest.delete(this.#newest.keys().next().value!);
  }
}
