/**
 * The console's commands across relays (docs/cluster.md): `/who` lists every relay's tabs, each under its relay;
 * `/msg` and `/kick` reach a tab on another relay when no tab here has that name. The console (server/console.ts)
 * hands a command here first; what this does not take, the console does as for one relay.
 */
import { checkLine } from '../shared/protocol.ts';
import { printable } from '../shared/text.ts';
import type { ClusterRelay, Found } from './cluster-relay.ts';
import { readings, shownName } from './console-text.ts';

export interface ConsoleOut {
  print(text: string): void;
  notice(text: string): void;
  alert(text: string): void;
}

/**
 * Takes `/who` always, and `/msg` or `/kick` whose name means no tab of this relay; false for the rest. `primary`:
 * this console is a `--workers` primary's, which serves no tab itself (server/workers.ts).
 */
export function clusterCommand(
  relay: ClusterRelay,
  out: ConsoleOut,
  command: string,
  args: string,
  primary = false,
): boolean {
  const failed = (error: unknown) =>
    out.alert(`${command}: ${printable(error instanceof Error ? error.message : String(error), 200)}`);
  switch (command) {
    case '/who':
      relay.who().then(
        (who) => out.print(whoText(who)),
        (error: unknown) => {
          failed(error);
          if (primary)
            return out.print("the workers' tabs can be listed once Redis is back (this console serves no tab itself)");
          out.print(
            `this relay only:\n${
              relay
                .participants()
                .map((p) => `  ${shownName(p.name)}`)
                .join('\n') || '  nobody'
            }`,
          );
        },
      );
      return true;
    case '/msg':
    case '/kick': {
      const textNeeded = command === '/msg';
      const read = readings(args, textNeeded);
      // Malformed, or a name a tab here answers to: the console's own handling says what it says for one relay.
      if ('error' in read || read.length === 0 || read.some((r) => relay.matches(r.name).length > 0)) return false;
      if (!textNeeded && read[0]!.rest !== '') return false;
      void elsewhere(relay, read, textNeeded)
        .then((hit) => {
          if (hit === null) return out.alert(`nobody is called ${shownName(read[0]!.name)} on any relay (try /who)`);
          if (textNeeded) {
            const problem = checkLine(hit.rest);
            if (hit.rest === '') return out.alert('usage: /msg NAME text');
            if (problem) return out.alert(`not sent: ${problem}`);
            relay.directTo(hit.found.id, hit.rest);
            return out.print(`you -> ${shownName(hit.found.name)} (on another relay): ${hit.rest}`);
          }
          return relay.kickAnywhere(hit.found).then((kicked) => {
            if (!kicked) out.alert(`${shownName(hit.found.name)} was not found on their relay any more`);
          });
        })
        .catch(failed);
      return true;
    }
    default:
      return false;
  }
}

/** The first reading whose name someone on another relay holds. */
async function elsewhere(
  relay: ClusterRelay,
  read: Array<{ name: string; rest: string }>,
  textNeeded: boolean,
): Promise<{ found: Found; rest: string } | null> {
  for (const reading of textNeeded ? read : read.slice(0, 1)) {
    const found = await relay.lookup(reading.name);
    if (found !== null) return { found, rest: reading.rest };
  }
  return null;
}

function whoText({ relays, missing }: Awaited<ReturnType<ClusterRelay['who']>>): string {
  const count = relays.reduce((sum, r) => sum + r.names.length, 0);
  const lines = [`${count} in the chat, on ${relays.length} relay${relays.length === 1 ? '' : 's'}:`];
  for (const relay of relays) {
    lines.push(
      `  ${relay.label}${relay.here ? ' (this relay)' : ''}: ${relay.names.length === 0 ? 'nobody' : relay.names.map(shownName).join(', ')}`,
    );
  }
  if (missing.length > 0) lines.push(`  no answer from ${missing.join(', ')}`);
  return lines.join('\n');
}
