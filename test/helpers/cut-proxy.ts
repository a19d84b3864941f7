/**
 * A TCP relay on loopback between a browser tab and the server, so a test can cut the tab's socket the way a
 * network blip does while the server stays up: `cut()` resets the tab's side of every connection through it (the
 * page sees its WebSocket drop at once) and, unless asked, leaves the server's side open and silent, as a dead
 * Wi-Fi link does (the server notices only by its heartbeat, or when the tab comes back and resumes its place).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface CutProxy {
  port: number;
  url: string;
  /** Connections through it so far. */
  readonly connections: number;
  /**
   * Where connections from now on go (another relay of the chat, say); those open stay where they are. Undefined:
   * nowhere, each new connection is reset at once (the way back is down), until the next retarget.
   */
  retarget(target: { host: string; port: number } | undefined): void;
  /** Cuts every open connection (the tab's side reset; the server's side too when `both`). */
  cut(options?: { both?: boolean }): number;
  close(): Promise<void>;
}

export async function startCutProxy(first: { host: string; port: number }): Promise<CutProxy> {
  let target: { host: string; port: number } | undefined = first;
  const open = new Set<{ tab: Socket; server: Socket }>();
  /** Server sides left hanging by cut(): let go when the proxy closes. */
  const hanging = new Set<Socket>();
  let connections = 0;
  const proxy: Server = createServer((tab) => {
    connections++;
    if (target === undefined) {
      tab.resetAndDestroy();
      return;
    }
    const server = createConnection(target);
    const pair = { tab, server };
    open.add(pair);
    tab.pipe(server);
    server.pipe(tab);
    const done = () => open.delete(pair);
    // A tab's side that failed (reset) ends no pipe: its server side goes with it, unless cut() left that hanging
    // on purpose (close() lets those go); else it would outlive close() and hold the test process.
    const failed = () => {
      if (done()) server.destroy();
    };
    tab.on('error', failed).on('close', done);
    server.on('error', () => tab.destroy()).on('close', () => tab.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as { port: number };
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    get connections() {
      return connections;
    },
    retarget(next) {
      target = next;
    },
    cut({ both = false } = {}) {
      const pairs = [...open];
      for (const { tab, server } of pairs) {
        tab.unpipe(server);
        server.unpipe(tab);
        tab.resetAndDestroy();
        // The server's side stays open and hears nothing more: a link that died, not a close.
        server.removeAllListeners('close');
        server.on('error', () => undefined);
        if (both) server.resetAndDestroy();
        else hanging.add(server);
      }
      open.clear();
      return pairs.length;
    },
    async close() {
      for (const { tab, server } of open) {
        tab.destroy();
        server.destroy();
      }
      for (const server of hanging) server.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
