/**
 * Web Crypto (crypto.subtle) exists only in secure contexts: pages from https://, and http:// pages from the
 * machine itself (localhost, 127.0.0.1). Opened as http://192.168.1.20:8080 from another machine, the page
 * cannot make a key pair, so it says why and how to fix it (the server's --tls) instead of failing half-way
 * through a handshake.
 */

export interface PageContext {
  isSecureContext: boolean;
  hasSubtle: boolean;
  /** location.protocol, e.g. "http:". */
  protocol: string;
  /** location.hostname, without the port. */
  hostname: string;
  /** location.port; empty for the scheme's default port. */
  port: string;
}

/** Why the page cannot do its cryptography here, or undefined when it can. */
export function insecureReason(context: PageContext): string | undefined {
  if (context.isSecureContext && context.hasSubtle) return undefined;
  const port = context.port === '' ? '' : `:${context.port}`;
  const opened = `${context.protocol}//${context.hostname}${port}`;
  return (
    `Web Crypto only works on https:// or on http://localhost / 127.0.0.1; you opened ${opened}. ` +
    `Start the server with --tls (npm run server -- --tls --host 0.0.0.0) and open https://${context.hostname}${port}, ` +
    `or open http://localhost${port} on the server machine.`
  );
}
