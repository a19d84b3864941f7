/**
 * The command line of every wirechat tool, one way: strict flags, `-h`/`--help`, and a mistyped flag answered
 * with what was wrong and where the help is (exit 2), as `npm run server` does.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

/** The parsed flags, or the exit status when there is nothing to run (help shown, or a usage error). */
export function commandLine<const O extends Options>(
  name: string,
  help: string,
  options: O,
  args: string[] = process.argv.slice(2),
): { values: ReturnType<typeof parseArgs<{ args: string[]; options: O & typeof HELP; strict: true }>>['values'] } | { exit: number } {
  try {
    const { values } = parseArgs({ args, options: { ...options, ...HELP }, strict: true });
    if ((values as { help?: boolean }).help) {
      console.log(help);
      return { exit: 0 };
    }
    return { values } as never;
  } catch (error) {
    console.error(`wirechat ${name}: ${(error as Error).message}\n(npm run ${name} -- --help lists the options)`);
    return { exit: 2 };
  }
}

/**
 * Runs a tool's main when the file is the command itself (not when a test imports it), and exits with its
 * status; an unexpected error is printed and exits 1.
 */
export function runAsCommand(moduleUrl: string, main: () => Promise<number>): void {
  if (moduleUrl !== `file://${process.argv[1]}`) return;
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
