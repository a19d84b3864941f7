/**
 * Who may open the chat: the names this server answers on (the Host a browser asked for) and the pages it accepts
 * (the Origin a browser sends on the WebSocket upgrade). One list of names serves both this check and the
 * certificate's subject alternative names (server/tls.ts), so what the certificate vouches for and what the
 * server accepts cannot drift apart.
 *
 * Why Host matters: DNS rebinding. A hostile site whose name suddenly resolves to this machine is "same origin"
 * with itself, so an Origin check alone would let its page in; its requests still carry its own name in Host,
 * which is not one of ours.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { hostname as osHostname, networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type { ServerOptions } from './options.ts';

/** What the rules need to know about this machine; tests pass their own. */
export interface Machine {
  hostname: string;
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>;
}

export function thisMachine(): Machine {
  return { hostname: osHostname(), interfaces: networkInterfaces() };
}

export const LOOPBACK_NAMES: readonly string[] = ['localhost', '127.0.0.1', '::1'];

/** A name in canonical form: lower case, IPv6 without brackets and compressed, IPv4-mapped IPv6 as IPv4. */
export function canonicalName(name: string): string {
  let n = name.trim().toLowerCase().replace(/\.$/, '');
  if (n.startsWith('[') && n.endsWith(']')) n = n.slice(1, -1);
  if (isIP(n) === 6) {
    n = new URL(`http://[${n}]/`).hostname.slice(1, -1);
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(n);
    if (mapped) return mapped[1]!;
    // WHATWG URL writes a mapped IPv4 address in hex (::ffff:a00:1); turn it back into dotted form.
    const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(n);
    if (hex) {
      const [hi, lo] = [parseInt(hex[1]!, 16), parseInt(hex[2]!, 16)];
      return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    }
  }
  return n;
}

/** The host name of a Host header ("example.org:8080", "[::1]:8080"), canonical; '' when it is not one. */
export function hostOf(hostHeader: string): string {
  if (hostHeader === '' || /[\s/\\?#@]/.test(hostHeader)) return '';
  try {
    return canonicalName(new URL(`http://${hostHeader}/`).hostname);
  } catch {
    return '';
  }
}

export function isLoopback(host: string): boolean {
  const n = canonicalName(host);
  return n === 'localhost' || n === '::1' || (isIP(n) === 4 && n.startsWith('127.'));
}

/** Listening on every interface: `--host 0.0.0.0` (IPv4) or `--host ::` (IPv6 and, on most systems, IPv4). */
export function isWildcard(host: string): boolean {
  const n = canonicalName(host);
  return n === '0.0.0.0' || n === '::' || n === '';
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * The names and addresses this server answers on, for `--host HOST`:
 * - loopback (the default): localhost, 127.0.0.1, ::1 (and HOST itself, e.g. 127.0.0.2);
 * - every interface (0.0.0.0, ::): those, every address of this machine's interfaces (IPv6 ones only for ::,
 *   link-local ones never, since a URL cannot name their zone), this machine's host name, and NAME.local when the
 *   host name has no dot (what mDNS announces, as a laptop in a lab is often reached);
 * - one address or name: that, and this machine's host name and NAME.local.
 */
export function serverNames(host: string, machine: Machine = thisMachine()): string[] {
  const names = new Set<string>();
  if (isLoopback(host)) {
    for (const n of LOOPBACK_NAMES) names.add(n);
    names.add(canonicalName(host));
    return [...names];
  }
  if (isWildcard(host)) {
    for (const n of LOOPBACK_NAMES) names.add(n);
    const ipv6 = canonicalName(host) === '::';
    for (const list of Object.values(machine.interfaces)) {
      for (const info of list ?? []) {
        if (info.family === 'IPv6' && (!ipv6 || /^fe[89ab]/i.test(info.address))) continue;
        names.add(canonicalName(info.address));
      }
    }
  } else {
    names.add(canonicalName(host));
  }
  const own = canonicalName(machine.hostname);
  if (DNS_NAME.test(own)) {
    names.add(own);
    if (!own.includes('.')) names.add(`${own}.local`);
  }
  return [...names];
}

/** Host names a Host header may carry: the server's own names, and those of the --allow-origin origins. */
export function allowedHosts(
  options: Pick<ServerOptions, 'host' | 'allowOrigins'>,
  machine: Machine = thisMachine(),
): string[] {
  const names = new Set(serverNames(options.host, machine));
  for (const origin of options.allowOrigins) {
    try {
      names.add(canonicalName(new URL(origin).hostname));
    } catch {
      // options.ts refuses malformed origins; nothing to add
    }
  }
  return [...names];
}

type Request = Pick<IncomingMessage, 'headers'> & { socket: { localAddress?: string; encrypted?: boolean } };

/**
 * A request is from this server's own page when:
 * - its Host names this server: one of `allowedHosts`, or the very address the connection arrived on (an address
 *   typed into the address bar cannot be a rebinding; only a name can), and
 * - its Origin, if it has one, is that same scheme://host:port, or one given with --allow-origin.
 *
 * Browsers always send Origin on a WebSocket upgrade; a client without one is not a browser page, and the check
 * exists to stop other sites' pages, not programs (which could send any Origin they like).
 */
export function originAllowed(
  req: Request,
  options: Pick<ServerOptions, 'host' | 'allowOrigins'>,
  machine?: Machine,
): { ok: boolean; why: string } {
  const host = req.headers.host ?? '';
  const scheme = req.socket.encrypted ? 'https:' : 'http:';
  const name = hostOf(host);
  if (name === '') return { ok: false, why: `a request needs a Host header naming this server, not "${host}"` };
  const local = canonicalName(req.socket.localAddress ?? '');
  if (name !== local) {
    const names = allowedHosts(options, machine);
    if (!names.includes(name)) {
      return {
        ok: false,
        why:
          `Host "${host}" is not a name this server answers on (DNS rebinding protection); it answers on ` +
          `${names.join(', ')}. If "${name}" is this machine, start the server with --allow-origin ${scheme}//${host}`,
      };
    }
  }
  const origin = req.headers.origin;
  if (origin === undefined) return { ok: true, why: '' };
  if (options.allowOrigins.includes(origin)) return { ok: true, why: '' };
  try {
    const url = new URL(origin);
    if (url.protocol === scheme && url.host === new URL(`${scheme}//${host}/`).host) return { ok: true, why: '' };
  } catch {
    // fall through: an Origin that is not a URL is not ours
  }
  return {
    ok: false,
    why: `pages from ${origin} may not connect (start the server with --allow-origin ${origin} to allow it)`,
  };
}
