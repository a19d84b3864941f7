/**
 * The operator's terminal. Incoming lines are printed above the prompt without garbling what the operator is
 * halfway through typing: the prompt line is cleared, the message printed, and the prompt redrawn with the
 * typed text and cursor where they were.
 */
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { checkLine, isEndWord, printable } from '../shared/protocol.ts';
import type { Relay } from './relay.ts';

export const CONSOLE_HELP = `commands:
  /who               who is in the chat, for how long, and their session codes
  /msg NAME text     send a line to one tab only
  /kick NAME         remove a tab from the chat
  /help              this list
  EXIT or END        end the chat for everyone and stop the server
anything else is sent to every tab`;

const ANSI = { red: '\x1b[31m', yellow: '\x1b[33m', dim: '\x1b[2m', bold: '\x1b[1m', reset: '\x1b[0m' } as const;

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

export class Console {
  readonly #options: ConsoleOptions;
  readonly #rl: Interface;
  readonly #interactive: boolean;

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
    this.#ending = true;
    this.#rl.close();
  }

  #paint(color: keyof typeof ANSI, text: string): string {
    return this.#options.color ? `${ANSI[color]}${text}${ANSI.reset}` : text;
  }

  /** Prints one line above the prompt. In plain mode every line says so, in red. */
  print(text: string, color?: keyof typeof ANSI): void {
    const tag = this.#options.plain ? this.#paint('red', '[PLAIN] ') : '';
    const line = tag + (color ? this.#paint(color, text) : text);
    if (this.#interactive) {
      this.#options.output.write('\r\x1b[K' + line + '\n');
      this.#rl.prompt(true);
    } else {
      this.#options.output.write(line + '\n');
    }
  }

  chat(from: string, text: string, at: number): void {
    this.print(`[${clock(at)}] ${from}: ${text}`);
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
      this.alert(`internal error handling that line: ${printable(error instanceof Error ? error.message : String(error), 200)}`);
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
    relay.say(text);
    if (!this.#interactive) this.print(`[${clock()}] you: ${text}`);
    if (relay.names().length === 0) this.notice('nobody else is here yet: your line reached no one');
  }

  #command(line: string): void {
    const { relay } = this.#options;
    const [command = '', ...rest] = line.split(/\s+/);
    switch (command.toLowerCase()) {
      case '/help':
        return this.print(CONSOLE_HELP);
      case '/who': {
        const people = relay.participants();
        if (people.length === 0) return this.notice('nobody is connected');
        const rows = people.map((p) => `  ${p.name.padEnd(24)} ${duration(p.connectedMs).padStart(7)}  ${p.mode.padEnd(6)}  ${p.code}`);
        return this.print(`${people.length} in the chat:\n  ${'name'.padEnd(24)} ${'for'.padStart(7)}  mode    session code\n${rows.join('\n')}`);
      }
      case '/msg': {
        const [name, ...words] = rest;
        const text = words.join(' ');
        if (!name || !text) return this.alert('usage: /msg NAME text');
        const problem = checkLine(text);
        if (problem) return this.alert(`not sent: ${problem}`);
        if (!relay.direct(name, text)) return this.alert(`nobody is called ${name} (try /who)`);
        return this.print(`[${clock()}] you -> ${relay.find(name)?.name ?? name}: ${text}`);
      }
      case '/kick': {
        const [name] = rest;
        if (!name) return this.alert('usage: /kick NAME');
        if (!relay.kick(name)) return this.alert(`nobody is called ${name} (try /who)`);
        return;
      }
      default:
        return this.alert(`unknown command ${printable(command)} (/help lists them)`);
    }
  }
}

/** Tab completion: command names after "/", and participants' names after /msg and /kick. */
export function complete(line: string, names: string[]): [string[], string] {
  const match = /^\/(msg|kick)\s+(\S*)$/i.exec(line);
  if (match) {
    const prefix = match[2]!.toLowerCase();
    const hits = names.filter((n) => n.toLowerCase().startsWith(prefix));
    return [hits.map((n) => `${line.slice(0, line.length - prefix.length)}${n} `), line];
  }
  if (line.startsWith('/')) {
    const commands = ['/who', '/msg ', '/kick ', '/help'];
    return [commands.filter((c) => c.startsWith(line.toLowerCase())), line];
  }
  return [[], line];
}
