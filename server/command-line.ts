/**
 * The command line of every wirechat command, one way: strict flags, `-h`/`--help`, and a mistyped flag answered
 * with what was wrong and where the help is (exit 2). `npm run server` parses with `parseFlags` (server/options.ts);
 * the tools use `commandLine`, which also prints, and `runAsCommand`. Node-only, so it lives at the server's level,
 * where both the server and the tools above it can import it.
 */
import { realpathSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { pathToFileURL } from 'node:url';

type Options = NonNullable<ParseArgsConfig['options']>;

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

type Values<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O & typeof HELP; strict: true }>
>['values'];

/** A command line a person mistyped: the message says what was wrong, for them. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * The flags in `args` (and the words that are not flags, where `positionals` allows them), or 'help' when -h or
 * --help is among them. Throws UsageError on a flag not in `options` or a value of the wrong type.
 */
export function parseFlags<const O extends Options>(
  args: string[],
  options: O,
  positionals = false,
): { values: Values<O>; positionals: string[] } | 'help' {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, ...HELP }, strict: true, allowPositionals: positionals });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return (parsed.values as { help?: boolean }).help
    ? 'help'
    : { values: parsed.values as Values<O>, positionals: parsed.positionals };
}

/** A flag's whole number between `min` and `max`, or `fallback` when the flag is not there. Throws UsageError. */
export function wholeNumber(
  value: string | undefined,
  flag: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} takes a whole number, not "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`${flag} must be between ${min} and ${max}, not ${n}`);
  return n;
}

/**
 * `parseFlags` for a tool: on help, prints `help` and gives exit 0; on a usage error, prints it with the way to
 * the help and gives exit 2. `command` is how a person starts the tool: a name of `npm run`, or the whole
 * command when it has none ("npx tsx tools/bench/log.ts").
 */
export function commandLine<const O extends Options>(
  command: string,
  help: string,
  options: O,
  { args = process.argv.slice(2), positionals = false }: { args?: string[]; positionals?: boolean } = {},
): { values: Values<O>; positionals: string[] } | { exit: number } {
  try {
    const parsed = parseFlags(args, options, positionals);
    if (parsed !== 'help') return parsed;
    console.log(help);
    return { exit: 0 };
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(usage(command, error.message));
    return { exit: 2 };
  }
}

/** A usage error as every tool prints it: what was wrong, then where the help is. */
export function usage(command: string, message: string): string {
  const npm = !/[\s/]/.test(command);
  const name = npm ? command : command.replace(/^.*?tools\/|\.ts$/g, '');
  return `wirechat ${name}: ${message}\n(${npm ? `npm run ${command} --` : command} --help lists the options)`;
}

/**
 * Whether the module at `moduleUrl` is the file node was started with (not one a test or another tool imports).
 * Through file URLs and real paths: a path with a space or a symbolic link in it matches too.
 */
export function isCommand(moduleUrl: string): boolean {
  const started = process.argv[1];
  if (started === undefined) return false;
  try {
    return pathToFileURL(realpathSync(started)).href === moduleUrl;
  } catch {
    return pathToFileURL(started).href === moduleUrl;
  }
}

/**
 * Runs a tool's main when its file is the command itself, and exits with its status (a main that keeps running,
 * a server, resolves once it is done); an unexpected error is printed and exits 1.
 */
export function runAsCommand(moduleUrl: string, main: () => Promise<number> | number): void {
  if (!isCommand(moduleUrl)) return;
  Promise.resolve()
    .then(main)
    .then(
      (code) => process.exit(code),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
}
