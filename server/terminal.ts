/**
 * The terminal, one way for the server's console and the tools: ANSI colours (SGR, ECMA-48 §8.3.117) with the
 * NO_COLOR convention (no-color.org), and a line printed above a prompt that is being typed at.
 */
import type { Interface } from 'node:readline';
import type { Writable } from 'node:stream';

const SGR = {
  red: '\x1b[31m',
  yellow: '\x1b[33m',
  dim: '\x1b[2m',
  bold: '\x1b[1m',
  /** Bold bright white on red: the server's PLAIN MODE and key log warnings. */
  alarm: '\x1b[41m\x1b[97m\x1b[1m',
} as const;
const RESET = '\x1b[0m';
/** Carriage return, then erase to the end of the line (EL, ECMA-48 §8.3.41). */
const CLEAR_LINE = '\r\x1b[K';

export type Colour = keyof typeof SGR;

/** Whether to colour: not when --no-color was given or NO_COLOR is set, nor (where `tty` is given) off a terminal. */
export function wantColour(
  noColorFlag: boolean | undefined,
  env: NodeJS.ProcessEnv = process.env,
  tty?: boolean,
): boolean {
  return noColorFlag !== true && env.NO_COLOR === undefined && tty !== false;
}

/** `text` in `colour` when colours are on; as it is otherwise. */
export function paint(on: boolean, colour: Colour, text: string): string {
  return on ? `${SGR[colour]}${text}${RESET}` : text;
}

/**
 * Prints `line` above the prompt someone is typing at: the prompt's row is cleared, the line written, and the
 * prompt drawn again below with what was typed so far.
 */
export function printAbovePrompt(output: Writable, prompt: Interface, line: string): void {
  output.write(CLEAR_LINE + line + '\n');
  prompt.prompt(true);
}
