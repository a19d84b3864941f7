/**
 * The server's TLS certificate (`--tls`): made at first start, kept beside the identity key, reused, renewed when
 * it expires or when the names the server answers on change; or given with `--tls-cert` / `--tls-key`. And the key
 * log (`--tls-keylog`): the session secrets in the NSS key log format Wireshark reads.
 *
 * The certificate is made with @peculiar/x509 on Web Crypto (the same API the identity key uses) rather than ASN.1
 * written by hand: ECDSA P-256 / SHA-256, the subject alternative names from server/origin.ts's `serverNames`, the
 * extensions a browser checks for a server certificate (not a CA, digitalSignature, serverAuth), valid for a year.
 */
import 'reflect-metadata'; // @peculiar/x509's dependency injection (tsyringe) needs the Reflect metadata API
import * as x509 from '@peculiar/x509';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isIP } from 'node:net';
import { canonicalName, serverNames, type Machine } from './origin.ts';
import type { ServerOptions } from './options.ts';
import { readSecretFile } from './secret-file.ts';

/** What the listening server needs: PEM text, and where the key log lines go, if anywhere. */
export interface TlsMaterial {
  cert: string;
  key: string;
  keylog?: (line: Buffer) => void;
}

export interface TlsCertificate {
  /** PEM: the certificate (and for a given one, any chain after it), and its private key. */
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
  /** SHA-256 of the certificate (DER), colon-separated upper-case hex, as certificate viewers show it. */
  fingerprint: string;
  /** Base64 SHA-256 of the public key (SPKI DER): what Chromium's --ignore-certificate-errors-spki-list takes. */
  spkiPin: string;
  /** The subject alternative names, canonical ('dns' names and 'ip' addresses alike). */
  names: string[];
  notAfter: Date;
  /** What this start did: made one, reused it, renewed it, or used the one it was given. */
  status: 'made' | 'reused' | 'renewed' | 'given';
  /** One sentence for the console: why it was made or renewed, or what a given one fails to cover. */
  note: string;
}

export const VALIDITY_DAYS = 365;
/** Renewed this long before it expires, so that a server started today does not go stale while it runs. */
export const RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;
/** notBefore is set this far back: another laptop's clock a little behind must not see "not yet valid". */
const BACKDATE_MS = 3600 * 1000;

const SIGNING = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** Where the self-signed certificate and its key live: beside the identity key (~/.wirechat/ by default). */
export function certificatePaths(identityPath: string): { certPath: string; keyPath: string } {
  const dir = dirname(identityPath);
  return { certPath: join(dir, 'tls-cert.pem'), keyPath: join(dir, 'tls-key.pem') };
}

function pkcs8(pem: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' }));
}

/** A certificate for `names`, signed by the key in `keyPem`: self-signed, ECDSA P-256 / SHA-256. */
export async function makeCertificate(names: readonly string[], keyPem: string, now = new Date()): Promise<string> {
  const subtle = globalThis.crypto.subtle;
  const privateKey = await subtle.importKey('pkcs8', pkcs8(keyPem), SIGNING, false, ['sign']);
  const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const publicKey = await subtle.importKey('spki', Uint8Array.from(spki), SIGNING, true, ['verify']);
  const sans = names.map((name) => ({ type: isIP(name) ? ('ip' as const) : ('dns' as const), value: name }));
  // RFC 5280 4.1.2.2: a positive serial of at most 20 octets; 16 random bytes with the top bit cleared.
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: [{ CN: ['wirechat'] }, { O: ['wirechat, self-signed'] }],
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + VALIDITY_DAYS * 24 * 3600 * 1000),
    signingAlgorithm: SIGNING,
    keys: { privateKey, publicKey },
    extensions: [
      // Browsers ignore the common name; the names a certificate is good for are its subject alternative names.
      new x509.SubjectAlternativeNameExtension(sans),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  return cert.toString('pem') + '\n';
}

/** A fresh ECDSA P-256 private key, PEM (PKCS#8). */
export function makeKey(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

interface Parsed {
  fingerprint: string;
  spkiPin: string;
  names: string[];
  notBefore: Date;
  notAfter: Date;
}

/** Reads a PEM certificate (the first, when there is a chain) and checks that `keyPem` is its key. */
export function inspectCertificate(certPem: string, keyPem: string): Parsed {
  const cert = new X509Certificate(certPem);
  if (!cert.checkPrivateKey(createPrivateKey(keyPem)))
    throw new Error('the private key does not belong to the certificate');
  const parsed = new x509.X509Certificate(cert.raw);
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  const names = (san?.names.toJSON() ?? [])
    .filter((n) => n.type === 'dns' || n.type === 'ip')
    .map((n) => canonicalName(n.value));
  return {
    fingerprint: cert.fingerprint256,
    spkiPin: createHash('sha256')
      .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('base64'),
    names,
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
  };
}

/** Writes `text` to `path` with mode 0600 in one step (a reader sees the old file or the new, never half). */
async function writePrivate(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, text, { mode: 0o600, flag: 'wx' });
  await rename(temp, path);
}

/** The key this server made follows the identity key's rules (server/secret-file.ts): never read through a link,
 * refused (not tightened) when others can read it. */
async function readKeyIfThere(path: string): Promise<string | undefined> {
  const bytes = await readSecretFile(path, 'the TLS key');
  return bytes === null ? undefined : new TextDecoder().decode(bytes);
}

/** The certificate is public: read as it is. */
async function readCertIfThere(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${(error as Error).message}`);
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
}

function changes(had: readonly string[], want: readonly string[]): string {
  const added = want.filter((n) => !had.includes(n));
  const removed = had.filter((n) => !want.includes(n));
  return [added.length ? `now also ${added.join(', ')}` : '', removed.length ? `no longer ${removed.join(', ')}` : '']
    .filter(Boolean)
    .join('; ');
}

/**
 * The self-signed certificate for `names`, kept as certPath and keyPath (0600): reused while it is valid for more
 * than RENEW_BEFORE_MS and names exactly `names`; renewed otherwise, with the same key when there is a readable
 * one (so a pin on the public key, such as Chromium's SPKI list, survives a renewal); made at first start.
 */
export async function loadSelfSigned(
  paths: { certPath: string; keyPath: string },
  names: readonly string[],
  now = new Date(),
): Promise<TlsCertificate> {
  const { certPath, keyPath } = paths;
  const oldKey = await readKeyIfThere(keyPath);
  const oldCert = await readCertIfThere(certPath);
  let why: string | undefined;
  if (oldKey !== undefined && oldCert !== undefined) {
    const verdict = judge(oldCert, oldKey, names, now);
    if ('reuse' in verdict) {
      return {
        cert: oldCert,
        key: oldKey,
        certPath,
        keyPath,
        ...verdict.reuse,
        status: 'reused',
        note: `certificate ${certPath}`,
      };
    }
    why = verdict.why;
  }
  const keep = oldKey !== undefined && isP256(oldKey);
  const key = keep ? oldKey : makeKey();
  await mkdir(dirname(keyPath), { recursive: true, mode: 0o700 });
  await mkdir(dirname(certPath), { recursive: true, mode: 0o700 });
  // The key first: a certificate on disk is always one whose key is there too.
  if (!keep) await writePrivate(keyPath, key);
  const cert = await makeCertificate(names, key, now);
  await writePrivate(certPath, cert);
  const parsed = inspectCertificate(cert, key);
  const note = `a new self-signed certificate${why ? ` (${why})` : ''}, saved in ${certPath}`;
  return { cert, key, certPath, keyPath, ...parsed, status: why ? 'renewed' : 'made', note };
}

/** Whether a kept certificate may serve again, and if not, why it is renewed (in words for the console). */
function judge(cert: string, key: string, names: readonly string[], now: Date): { reuse: Parsed } | { why: string } {
  let parsed: Parsed;
  try {
    parsed = inspectCertificate(cert, key);
  } catch (error) {
    return { why: `the old one could not be used: ${(error as Error).message}` };
  }
  const day = (d: Date) => d.toISOString().slice(0, 10);
  if (parsed.notAfter <= now) return { why: `the old one expired on ${day(parsed.notAfter)}` };
  if (parsed.notAfter.getTime() - now.getTime() <= RENEW_BEFORE_MS)
    return { why: `the old one expires on ${day(parsed.notAfter)}` };
  if (parsed.notBefore > now)
    return { why: `the old one is not valid before ${parsed.notBefore.toISOString()}; was the clock changed?` };
  if (!sameNames(parsed.names, names)) return { why: `the names changed: ${changes(parsed.names, names)}` };
  return { reuse: parsed };
}

function isP256(pem: string): boolean {
  try {
    const key = createPrivateKey(pem);
    return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  } catch {
    return false;
  }
}

/**
 * A certificate given with --tls-cert and --tls-key: read, checked to belong together, and checked against the
 * names the server answers on; a name it does not cover is said in the note (browsers will warn on that name),
 * an expired certificate is refused.
 */
export async function loadGiven(
  certPath: string,
  keyPath: string,
  names: readonly string[],
  now = new Date(),
): Promise<TlsCertificate> {
  const read = async (path: string, what: string) => {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      throw new Error(
        `cannot read the ${what} ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
      );
    }
  };
  const cert = await read(certPath, 'certificate (--tls-cert)');
  const key = await read(keyPath, 'private key (--tls-key)');
  let parsed: Parsed;
  try {
    new X509Certificate(cert);
  } catch (error) {
    throw new Error(`${certPath} is not a PEM certificate (--tls-cert): ${(error as Error).message}`);
  }
  try {
    createPrivateKey(key);
  } catch (error) {
    throw new Error(
      `${keyPath} is not a PEM private key (--tls-key) that wirechat can read: ${(error as Error).message}`,
    );
  }
  try {
    parsed = inspectCertificate(cert, key);
  } catch (error) {
    throw new Error(`--tls-cert ${certPath} and --tls-key ${keyPath} do not go together: ${(error as Error).message}`);
  }
  if (parsed.notAfter <= now)
    throw new Error(`the certificate ${certPath} expired on ${parsed.notAfter.toISOString()}`);
  const checker = new X509Certificate(cert);
  const uncovered = names.filter((n) => (isIP(n) ? checker.checkIP(n) : checker.checkHost(n)) === undefined);
  const note = uncovered.length
    ? `certificate ${certPath}; it does not name ${uncovered.join(', ')}: browsers opening those will warn`
    : `certificate ${certPath}`;
  return { cert, key, certPath, keyPath, ...parsed, status: 'given', note };
}

/** The certificate `--tls` asks for: the given one, or the self-signed one beside the identity key. */
export function loadTls(
  options: Pick<ServerOptions, 'host' | 'identity' | 'tlsCert' | 'tlsKey'>,
  machine?: Machine,
  now = new Date(),
): Promise<TlsCertificate> {
  const names = serverNames(options.host, machine);
  if (options.tlsCert !== undefined && options.tlsKey !== undefined)
    return loadGiven(options.tlsCert, options.tlsKey, names, now);
  return loadSelfSigned(certificatePaths(options.identity), names, now);
}

/**
 * The key log: every TLS secret of every connection, one NSS key log line each (CLIENT_HANDSHAKE_TRAFFIC_SECRET,
 * SERVER_TRAFFIC_SECRET_0, ...; https://firefox-source-docs.mozilla.org/security/nss/legacy/key_log_format/),
 * appended to `path` (0600), as Node's tls.Server 'keylog' event gives them. Wireshark reads the file
 * (Preferences > Protocols > TLS > (Pre)-Master-Secret log filename) and decrypts what it captured.
 */
export interface KeyLog {
  path: string;
  write(line: Buffer): void;
  close(): Promise<void>;
}

export async function openKeyLog(path: string): Promise<KeyLog> {
  await mkdir(dirname(path), { recursive: true });
  const stream: WriteStream = createWriteStream(path, { flags: 'a', mode: 0o600 });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  let failed: Error | undefined;
  stream.on('error', (error) => (failed = error));
  return {
    path,
    write(line) {
      if (!failed) stream.write(line);
    },
    close: () => new Promise<void>((resolve) => stream.end(() => resolve())),
  };
}
