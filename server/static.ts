/**
 * Serves the built page from dist/. Only files under dist/ are reachable; every response carries headers that
 * keep the page from running anything it did not ship (CSP) or being framed by another site. dist/ may be
 * rebuilt while it is served: a file is opened once and then read through that handle, so one that vanishes
 * meanwhile is either a 404 (gone before the open) or served whole (gone after it), and a read that fails
 * anyway ends that one response.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream';
import { printable } from '../shared/protocol.ts';
import { requestPath, SECURITY_HEADERS, sendText, type Log } from './http-guard.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Opens `file` for reading, or undefined when there is no regular file to serve there (missing, a directory, a
 * FIFO...). O_NONBLOCK so that a FIFO cannot hold a thread of libuv's pool in open() waiting for a writer.
 */
async function openFile(file: string): Promise<{ handle: FileHandle; size: number } | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const info = await handle.stat();
    if (info.isFile()) return { handle, size: info.size };
  } catch {
    // fall through: unreadable is not found
  }
  await handle.close().catch(() => undefined);
  return undefined;
}

export function staticHandler(root: string, log: Log = () => undefined) {
  const base = resolve(root) + sep;
  const assets = join(base, 'assets') + sep;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return sendText(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
    const target = requestPath(req);
    if ('problem' in target) return sendText(res, 400, `bad request: ${target.problem}`, { Connection: 'close' });
    let path: string;
    try {
      path = decodeURIComponent(target.path);
    } catch {
      return sendText(res, 400, 'bad request: the path is not valid percent-encoded UTF-8', { Connection: 'close' });
    }
    if (path.includes('\0')) return sendText(res, 400, 'bad request: a NUL byte in the path', { Connection: 'close' });
    if (path.endsWith('/')) path += 'index.html';
    const file = normalize(join(base, path));
    if (!file.startsWith(base)) return sendText(res, 404, 'not found');
    const opened = await openFile(file);
    if (!opened) return sendText(res, 404, 'not found');
    const { handle, size } = opened;
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': size,
      // Vite fingerprints assets; index.html must be fetched fresh to pick up a rebuilt page. Judged on the file
      // itself, so that /assets/../index.html is not cached for a year.
      'Cache-Control': file.startsWith(assets) ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return handle.close();
    }
    // Exactly the bytes the Content-Length promised, even if the file grows meanwhile. The stream closes the handle
    // when it ends or fails; a failure, or a file cut shorter than it was, cuts this one response short (its status
    // line is out already), and the server goes on.
    const stream = handle.createReadStream({ end: size - 1 });
    // The connection itself: a finished response lets go of it (keep-alive), and it is the connection that must end.
    const connection = res.socket;
    // Only the file's own failures are news for the operator; a client that went away mid-download is not.
    stream.once('error', (error: NodeJS.ErrnoException) => {
      if (error.syscall) log(`reading ${printable(path)} failed: ${error.message}`);
    });
    pipeline(stream, res, (error) => {
      if (error || stream.bytesRead < size) connection?.destroy();
    });
  };
}
