/**
 * The operator's terminal. Incoming lines are printed above the prompt without garbling what the operator is
 * halfway through typing: the prompt line is cleared, the message printed, and the prompt redrawn with the
 * typed text and cursor where they were.
 */
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { Close } from '../shared/errors.ts';
import { checkLine, isEndWord } from '../shared/protocol.ts';
import { printable, shownLine } from '../shared/text.ts';
import { completeName, fold, readings, shownName } from './console-text.ts';
import type { LogEntry } from './log/log.ts';
import type { Member, Relay, RelayEvents } from './relay.ts';
import { paint, printAbovePrompt, type Colour } from './terminal.ts';

export const CONSOLE_HELP = `commands:
  /who               who is in the chat, for how long, and their session codes
  /msg NAME text     send a line to one tab only; "NAME" in quotes when it has a space
                     (\\" and \\\\ inside the quotes for a quote and a backslash)
  /kick NAME         remove a tab from the chat
  /history N         the last N lines of the chat log (default 20), as they were said
  /help              this list
  EXIT or END        end the chat for everyone and stop the server
anything else is sent to every tab`;

export interface ConsoleOptions {
  input: Readable;
  output: Writable & { isTTY?: boolean; columns?: number };
  relay: Relay;
  plain: boolean;
  color: boolean;
  /** The operator typed EXIT or END. */
  onEnd(word: string): void;
  /** Ctrl-C at the prompt (readline takes it from the terminal, so no process SIGINT arrives). */
  onInterrupt(): void;
  /** One of many relays: /who, /msg and /kick across them (server/cluster-console.ts). */
  command?(command: string, args: string): boolean;
}

export function clock(at: number = Date.now()): string {
  return new Date(at).toTimeString().slice(0, 8);
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

export class Console implements RelayEvents {
  readonly #options: ConsoleOptions;
  readonly #rl: Interface;
  readonly #interactive: boolean;
  /** Tabs' lines not printed yet, flat: from, text, at, from, text, at, ...; undefined when there are none. */
  #waiting: Array<string | number> | undefined;

  constructor(options: ConsoleOptions) {
    this.#options = options;
    this.#interactive = options.output.isTTY === true && (options.input as { isTTY?: boolean }).isTTY === true;
    this.#rl = createInterface({
      input: options.input,
      output: options.output,
      terminal: this.#interactive,
      completer: (line: string) => complete(line, options.relay.names()),
      historySize: 100,
    });
    this.#rl.setPrompt(this.#paint(options.plain ? 'red' : 'bold', options.plain ? 'PLAIN> ' : '> '));
    this.#rl.on('line', (line) => this.#guarded(line));
    this.#rl.on('SIGINT', () => options.onInterrupt());
    this.#rl.on('close', () => {
      if (!this.#ending) this.print('console input closed; the server keeps running (Ctrl-C or SIGTERM stops it)');
    });
  }

  #ending = false;

  start(): void {
    if (this.#interactive) this.#rl.prompt();
  }

  close(): void {
    this.#printWaiting();
    this.#ending = true;
    this.#rl.close();
  }

  #paint(color: Colour, text: string): string {
    return paint(this.#options.color, color, text);
  }

  /**
   * Prints above the prompt. In plain mode every row says so, in red. On a terminal each line is folded to its
   * width with the continuation rows marked (console-text.ts fold): a tab's line padded to the width must not wrap
   * into a row that passes for a line of its own.
   */
  print(text: string, color?: Colour): void {
    // Whatever came before it is printed before it.
    if (this.#waiting !== undefined) this.#printWaiting();
    const tag = this.#options.plain ? '[PLAIN] ' : '';
    const columns = this.#options.output.columns;
    const width = typeof columns === 'number' && columns > 0 ? columns - 1 - tag.length : undefined;
    const rows = text.split('\n').flatMap((row) => fold(row, width));
    const line = rows
      .map((row) => (tag ? this.#paint('red', tag) : '') + (color ? this.#paint(color, row) : row))
      .join('\n');
    if (this.#interactive) {
      printAbovePrompt(this.#options.output, this.#rl, line);
    } else {
      this.#options.output.write(line + '\n');
    }
  }

  /**
   * A tab's line. Its name is shown so that it cannot be misread (quoted when it holds a space or a colon).
   *
   * The relay calls this as it fans the line out, before the other tabs' frames have left: their sockets are
   * corked until the end of the tick (server/session.ts), and the sender's receipt goes out in a tick callback
   * after that. The terminal write (synchronous on a TTY, and a fold and a prompt redraw) is not on that way out:
   * the line waits here, with the lines of the same read, until setImmediate, after the tick's frames are written.
   * Anything printed meanwhile (a notice, a close) prints the waiting lines first, so the order is kept.
   */
  line(from: string, text: string, at: number): void {
    const waiting = this.#waiting;
    if (waiting !== undefined) {
      waiting.push(from, text, at);
      return;
    }
    this.#waiting = [from, text, at];
    setImmediate(Console.#printWaitingOf, this);
  }

  /** Static, with the console as argument: no closure per batch of lines. */
  static #printWaitingOf(console: Console): void {
    console.#printWaiting();
  }

  #printWaiting(): void {
    const waiting = this.#waiting;
    if (waiting === undefined) return;
    this.#waiting = undefined;
    for (let i = 0; i < waiting.length; i += 3) {
      this.print(
        `[${clock(waiting[i + 2] as number)}] ${shownName(waiting[i] as string)}: ${shownLine(waiting[i + 1] as string)}`,
      );
    }
  }

  joined(member: Pick<Member, 'name' | 'code' | 'phase'>): void {
    this.notice(`${shownName(member.name)} joined (${member.phase}, session code ${member.code})`);
  }

  /** `tab`: `name` is a tab's name; else it is a connection's label ("connection #3"), shown as it is. */
  left(name: string, code: number, reason: string, tab = true): void {
    const who = tab ? shownName(name) : name;
    if (code === Close.NORMAL || code === Close.GOING_AWAY) this.notice(`${who} ${reason}`);
    else this.alert(`${who} ${reason}`);
  }

  notice(text: string, at: number = Date.now()): void {
    this.print(`[${clock(at)}] * ${text}`, 'dim');
  }

  alert(text: string, at: number = Date.now()): void {
    this.print(`[${clock(at)}] ! ${text}`, 'yellow');
  }

  /**
   * Whatever is typed or pasted (control characters, a line of megabytes), nothing it leads to may throw out of
   * readline's 'line' event: that would end the server, and every tab's chat with it.
   */
  #guarded(raw: string): void {
    try {
      this.#line(raw);
    } catch (error) {
      this.alert(
        `internal error handling that line: ${printable(error instanceof Error ? error.message : String(error), 200)}`,
      );
      this.#reprompt();
    }
  }

  #line(raw: string): void {
    const line = raw.trim();
    if (line === '') return this.#reprompt();
    if (isEndWord(line)) {
      this.#ending = true;
      this.#options.onEnd(line.toUpperCase());
      return;
    }
    if (line.startsWith('/')) this.#command(line);
    else this.#say(line);
    this.#reprompt();
  }

  #reprompt(): void {
    if (this.#interactive && !this.#ending) this.#rl.prompt();
  }

  #say(text: string): void {
    const problem = checkLine(text);
    if (problem) return this.alert(`not sent: ${problem}`);
    const { relay } = this.#options;
    // Stored in the chat log before any tab gets it; a log that fails says so here, and no tab has it.
    relay.say(text).then(
      (n) => {
        if (n === undefined) this.alert(`not sent: the chat log could not store it: ${printable(text, 40)}`);
      },
      (error: unknown) =>
        this.alert(`not sent: ${printable(error instanceof Error ? error.message : String(error), 200)}`),
    );
    if (!this.#interactive) this.print(`[${clock()}] you: ${text}`);
    if (relay.names().length === 0) this.notice('nobody else is here yet: your line reached no one');
  }

  /** Says which store keeps the chat log and how much it holds (at start). */
  async describeHistory(): Promise<void> {
    const { relay } = this.#options;
    const held = await relay.held();
    const lines = held.lines === 1 ? '1 entry' : `${held.lines} entries`;
    const range = held.lines > 0 ? ` (lines ${held.first} to ${held.last}; /history N shows the last N)` : '';
    this.notice(`chat log: ${relay.historyDescription}, holding ${lines}${range}`);
  }

  /** /history: the log's lines printed as the chat printed them, each with its number. */
  #history(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return this.notice('the chat log holds no lines');
    this.notice(
      entries.length === 1 ? 'the last line of the chat log:' : `the last ${entries.length} lines of the chat log:`,
    );
    for (const entry of entries) {
      const to = entry.kind === 'direct' ? ' (direct message)' : '';
      this.print(`[${clock(entry.at)}] #${entry.n} ${shownName(entry.from)}${to}: ${entry.text}`);
    }
  }

  /**
   * The tab the words after /msg or /kick name, and the text after the name. Every reading of the words is tried
   * (a quoted name, or one to all the words joined: console-text.ts readings); when they could name more than
   * one tab, or one tab with different texts, nothing is sent and the candidates are listed: never a guess.
   */
  #target(args: string, textNeeded: boolean, usage: string): { session: Member; rest: string } | undefined {
    const read = readings(args, textNeeded);
    if ('error' in read) return void this.alert(`${read.error} (${usage})`);
    if (read.length === 0 || (textNeeded && read.every((r) => r.rest === ''))) return void this.alert(usage);
    if (!textNeeded && read[0]!.rest !== '') return void this.alert(`${usage}: nothing may follow the name`);
    const found: Array<{ session: Member; rest: string }> = [];
    for (const reading of read) {
      for (const session of this.#options.relay.matches(reading.name)) found.push({ session, rest: reading.rest });
    }
    const quotedOne = read.length === 1 && args.startsWith('"');
    if (found.length === 0) {
      const name = quotedOne || !textNeeded ? read[0]!.name : args.split(/\s+/u)[0]!;
      return void this.alert(`nobody is called ${shownName(name)} (try /who)`);
    }
    if (found.length > 1) {
      const names = [...new Set(found.map((f) => shownName(f.session.name)))];
      const list =
        names.length === 1 ? `${names[0]} (read two ways)` : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
      const quoted = names.at(-1)!.startsWith('"') ? names.at(-1)! : `"${names.at(-1)!}"`;
      const command = usage.split(' ')[1]!;
      return void this.alert(
        `${textNeeded ? 'not sent' : 'nobody removed'}: the words could name ${list}; ` +
          `put the name in quotes, e.g. ${command} ${quoted}${textNeeded ? ' text' : ''}`,
      );
    }
    if (textNeeded && found[0]!.rest === '') return void this.alert(usage);
    return found[0];
  }

  #command(line: string): void {
    const { relay } = this.#options;
    const command = /^\S*/.exec(line)![0];
    const args = line.slice(command.length).trim();
    if (this.#options.command?.(command.toLowerCase(), args)) return;
    switch (command.toLowerCase()) {
      case '/help':
        return this.print(CONSOLE_HELP);
      case '/who': {
        const people = relay.participants();
        if (people.length === 0) return this.notice('nobody is connected');
        const rows = people.map(
          (p) =>
            `  ${shownName(p.name).padEnd(26)} ${duration(p.connectedMs).padStart(7)}  ${p.mode.padEnd(6)}  ${p.code}`,
        );
        return this.print(
          `${people.length} in the chat:\n  ${'name'.padEnd(26)} ${'for'.padStart(7)}  mode    session code\n${rows.join('\n')}`,
        );
      }
      case '/msg': {
        const target = this.#target(args, true, 'usage: /msg NAME text');
        if (target === undefined) return;
        const problem = checkLine(target.rest);
        if (problem) return this.alert(`not sent: ${problem}`);
        relay.direct(target.session.name, target.rest);
        return this.print(`[${clock()}] you -> ${shownName(target.session.name)}: ${target.rest}`);
      }
      case '/history': {
        if (args !== '' && !/^\d{1,6}$/.test(args))
          return this.alert('usage: /history N (a number of lines, default 20)');
        const count = args === '' ? 20 : Number(args);
        if (count === 0) return;
        relay.recent(count).then(
          (entries) => this.#history(entries),
          (error: unknown) =>
            this.alert(
              `the chat log could not be read: ${printable(error instanceof Error ? error.message : String(error), 200)}`,
            ),
        );
        return;
      }
      case '/kick': {
        const target = this.#target(args, false, 'usage: /kick NAME');
        if (target === undefined) return;
        relay.kick(target.session.name);
        return;
      }
      default:
        return this.alert(`unknown command ${printable(command)} (/help lists them)`);
    }
  }
}

/**
 * Tab completion: command names after "/", and participants' names after /msg and /kick, quoted when they hold a
 * space (console-text.ts completeName).
 */
export function complete(line: string, names: string[]): [string[], string] {
  const match = /^(\/(?:msg|kick)\s+)(.*)$/isu.exec(line);
  if (match) return [completeName(match[1]!, match[2]!, names), line];
  if (line.startsWith('/')) {
    const commands = ['/who', '/msg ', '/kick ', '/history ', '/help'];
    return [commands.filter((c) => c.startsWith(line.toLowerCase())), line];
  }
  return [[], line];
}
