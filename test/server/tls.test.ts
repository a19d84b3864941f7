/**
 * --tls: the self-signed certificate is made at first start, kept (0600), reused, renewed when it expires or the
 * names change; a given certificate is checked; the key log holds NSS key log lines; and the server speaks
 * HTTPS/WSS with it. Certificates made with @peculiar/x509 are read back by Node's X509Certificate (OpenSSL), an
 * independent implementation, and used in real TLS handshakes on loopback.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { isIP, connect as netConnect } from 'node:net';
import { chmod, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import {
  certificatePaths,
  inspectCertificate,
  loadGiven,
  loadSelfSigned,
  loadTls,
  makeCertificate,
  makeKey,
  openKeyLog,
  RENEW_BEFORE_MS,
  VALIDITY_DAYS,
} from '../../server/tls.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const DAY = 24 * 3600 * 1000;
const NAMES = ['localhost', '127.0.0.1', '::1', '10.77.0.1', 'lab-laptop'];

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wirechat-tls-test-'));
});
after(() => rm(dir, { recursive: true, force: true }));

let count = 0;
function fresh(): { certPath: string; keyPath: string } {
  return certificatePaths(join(dir, `case-${++count}`, 'identity.jwk'));
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** A real TLS handshake on loopback with `cert`, the client trusting exactly it and checking the name. */
async function handshake(
  cert: { cert: string; key: string },
  host: string,
): Promise<{ authorized: boolean; error?: string }> {
  const server = createServer({ cert: cert.cert, key: cert.key }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    return await new Promise((resolve) => {
      const socket: TLSSocket = connect({
        port,
        host: '127.0.0.1',
        servername: isIP(host) ? undefined : host,
        ca: cert.cert,
        checkServerIdentity: (_name, peer) => {
          const c = new X509Certificate(peer.raw);
          const ok = isIP(host) ? c.checkIP(host) : c.checkHost(host);
          return ok === undefined ? new Error(`the certificate does not name ${host}`) : undefined;
        },
      });
      socket.once('secureConnect', () => {
        resolve({ authorized: socket.authorized });
        socket.destroy();
      });
      socket.once('error', (error) => resolve({ authorized: false, error: error.message }));
    });
  } finally {
    server.close();
  }
}

describe('the self-signed certificate', () => {
  it('is made at first start: ECDSA P-256, the names as SANs, a year, saved 0600 beside the identity key', async () => {
    const paths = fresh();
    const now = new Date();
    const made = await loadSelfSigned(paths, NAMES, now);
    assert.equal(made.status, 'made');
    assert.equal(made.note, `a new self-signed certificate, saved in ${paths.certPath}`);
    assert.ok(paths.certPath.endsWith('/tls-cert.pem') && paths.keyPath.endsWith('/tls-key.pem'));
    assert.equal(await readFile(paths.certPath, 'utf8'), made.cert);
    assert.equal(await readFile(paths.keyPath, 'utf8'), made.key);
    assert.equal(await mode(paths.certPath), 0o600);
    assert.equal(await mode(paths.keyPath), 0o600);

    // Read back by OpenSSL (Node's X509Certificate), not by the library that wrote it.
    const cert = new X509Certificate(made.cert);
    assert.equal(
      cert.subjectAltName,
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10.77.0.1, DNS:lab-laptop',
    );
    assert.equal(cert.ca, false);
    assert.ok(cert.verify(cert.publicKey), 'self-signed: its signature verifies with its own key');
    assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage: TLS server authentication only');
    const lifetime = new Date(cert.validTo).getTime() - now.getTime();
    assert.ok(Math.abs(lifetime - VALIDITY_DAYS * DAY) < 2000, `valid for ${lifetime / DAY} days`);
    assert.ok(new Date(cert.validFrom) < now, 'valid from a little before now (a clock a little behind)');
    assert.equal(made.fingerprint, cert.fingerprint256);
    assert.equal(
      made.spkiPin,
      createHash('sha256')
        .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
        .digest('base64'),
    );
    assert.deepEqual(made.names, NAMES);
    assert.ok(cert.checkPrivateKey(createPrivateKey(made.key)));
  });

  it('serves TLS for each of its names, and for no other', async () => {
    const made = await loadSelfSigned(fresh(), ['localhost', '127.0.0.1', '::1']);
    for (const host of ['localhost', '127.0.0.1', '::1'])
      assert.deepEqual(await handshake(made, host), { authorized: true }, host);
    const other = await handshake(made, 'evil.example');
    assert.equal(other.authorized, false);
    assert.match(other.error ?? '', /does not name evil\.example/);
  });

  it('is reused at the next start: same files, same fingerprint, nothing written', async () => {
    const paths = fresh();
    const first = await loadSelfSigned(paths, NAMES);
    const before = (await stat(paths.certPath)).mtimeMs;
    const again = await loadSelfSigned(paths, [...NAMES].reverse());
    assert.equal(again.status, 'reused');
    assert.equal(again.note, `certificate ${paths.certPath}`);
    assert.equal(again.fingerprint, first.fingerprint);
    assert.equal(again.cert, first.cert);
    assert.equal((await stat(paths.certPath)).mtimeMs, before);
  });

  it('is renewed when it has expired, with the same key (an SPKI pin survives)', async () => {
    const paths = fresh();
    const first = await loadSelfSigned(paths, NAMES, new Date('2025-01-01T00:00:00Z'));
    const later = new Date(first.notAfter.getTime() + DAY);
    const renewed = await loadSelfSigned(paths, NAMES, later);
    assert.equal(renewed.status, 'renewed');
    assert.match(renewed.note, /^a new self-signed certificate \(the old one expired on 2026-01-01\), saved in /);
    assert.notEqual(renewed.fingerprint, first.fingerprint);
    assert.equal(renewed.spkiPin, first.spkiPin);
    assert.equal(await readFile(paths.keyPath, 'utf8'), first.key);
    assert.equal(new X509Certificate(await readFile(paths.certPath, 'utf8')).fingerprint256, renewed.fingerprint);
    assert.ok(renewed.notAfter > later);
  });

  it(`is renewed ${RENEW_BEFORE_MS / DAY} days before it expires, and not a moment earlier`, async () => {
    const paths = fresh();
    const first = await loadSelfSigned(paths, NAMES, new Date('2025-01-01T00:00:00Z'));
    const kept = await loadSelfSigned(paths, NAMES, new Date(first.notAfter.getTime() - RENEW_BEFORE_MS - 1000));
    assert.equal(kept.status, 'reused');
    const renewed = await loadSelfSigned(paths, NAMES, new Date(first.notAfter.getTime() - RENEW_BEFORE_MS + 1000));
    assert.equal(renewed.status, 'renewed');
    assert.match(renewed.note, /the old one expires on 2026-01-01/);
  });

  it('is renewed when the names change, and says which', async () => {
    const paths = fresh();
    const first = await loadSelfSigned(paths, NAMES);
    const moved = ['localhost', '127.0.0.1', '::1', '192.168.1.20', 'lab-laptop'];
    const renewed = await loadSelfSigned(paths, moved);
    assert.equal(renewed.status, 'renewed');
    assert.match(renewed.note, /\(the names changed: now also 192\.168\.1\.20; no longer 10\.77\.0\.1\)/);
    assert.deepEqual(renewed.names, moved);
    assert.equal(renewed.spkiPin, first.spkiPin);
    assert.equal(new X509Certificate(renewed.cert).checkIP('192.168.1.20'), '192.168.1.20');
    assert.equal(new X509Certificate(renewed.cert).checkIP('10.77.0.1'), undefined);
  });

  it('is renewed when it is not valid yet (the clock went back)', async () => {
    const paths = fresh();
    await loadSelfSigned(paths, NAMES, new Date('2030-01-01T00:00:00Z'));
    const renewed = await loadSelfSigned(paths, NAMES, new Date('2029-01-01T00:00:00Z'));
    assert.equal(renewed.status, 'renewed');
    assert.match(renewed.note, /not valid before 2029-12-31T23:00:00\.000Z; was the clock changed\?/);
  });

  it('replaces an unreadable certificate, keeping a good key; and a bad key with a new one', async () => {
    const paths = fresh();
    const first = await loadSelfSigned(paths, NAMES);
    await writeFile(paths.certPath, 'not a certificate\n');
    const repaired = await loadSelfSigned(paths, NAMES);
    assert.equal(repaired.status, 'renewed');
    assert.match(repaired.note, /\(the old one could not be used: /);
    assert.equal(repaired.spkiPin, first.spkiPin);

    await writeFile(paths.keyPath, 'not a key either\n');
    const rekeyed = await loadSelfSigned(paths, NAMES);
    assert.equal(rekeyed.status, 'renewed');
    assert.notEqual(rekeyed.spkiPin, first.spkiPin);
    assert.ok(
      new X509Certificate(rekeyed.cert).checkPrivateKey(createPrivateKey(await readFile(paths.keyPath, 'utf8'))),
    );
    assert.equal(await mode(paths.keyPath), 0o600);
  });

  it('replaces a certificate whose key is another one', async () => {
    const paths = fresh();
    await loadSelfSigned(paths, NAMES);
    await writeFile(paths.keyPath, makeKey(), { mode: 0o600 });
    const repaired = await loadSelfSigned(paths, NAMES);
    assert.equal(repaired.status, 'renewed');
    assert.match(repaired.note, /the private key does not belong to the certificate/);
    assert.ok(inspectCertificate(repaired.cert, await readFile(paths.keyPath, 'utf8')));
  });

  it('refuses its key when others may read it, as the identity key is, and changes nothing', async () => {
    const paths = fresh();
    await loadSelfSigned(paths, NAMES);
    await chmod(paths.certPath, 0o644);
    assert.equal((await loadSelfSigned(paths, NAMES)).status, 'reused', 'the certificate is public');
    await chmod(paths.keyPath, 0o644);
    await assert.rejects(
      loadSelfSigned(paths, NAMES),
      /the TLS key .* can be read or changed by other users \(mode 0644\); make it private with: chmod 600/,
    );
    assert.equal(await mode(paths.keyPath), 0o644);
  });

  it('refuses a symbolic link for its key and never touches the target', async () => {
    const paths = fresh();
    await loadSelfSigned(paths, NAMES);
    const target = `${paths.keyPath}.real`;
    await rename(paths.keyPath, target);
    await symlink(target, paths.keyPath);
    await assert.rejects(
      loadSelfSigned(paths, NAMES),
      /the TLS key .* is a symbolic link \(to .*\): refused, and nothing was changed/,
    );
  });

  it('is found by loadTls beside the identity key, for the names of --host', async () => {
    const identity = join(dir, 'loadtls', 'identity.jwk');
    const machine = { hostname: 'lab-laptop', interfaces: {} };
    const tls = await loadTls({ host: '10.77.0.1', identity }, machine);
    assert.equal(tls.certPath, join(dir, 'loadtls', 'tls-cert.pem'));
    assert.deepEqual(tls.names, ['10.77.0.1', 'lab-laptop', 'lab-laptop.local']);
  });
});

describe('a certificate given with --tls-cert and --tls-key', () => {
  let certPath: string;
  let keyPath: string;
  before(async () => {
    const key = makeKey();
    certPath = join(dir, 'given-cert.pem');
    keyPath = join(dir, 'given-key.pem');
    await writeFile(certPath, await makeCertificate(['chat.school.example', '10.77.0.1'], key));
    await writeFile(keyPath, key);
  });

  it('is used as it is, and the console is told which of the names it does not cover', async () => {
    const given = await loadGiven(certPath, keyPath, ['10.77.0.1', 'lab-laptop']);
    assert.equal(given.status, 'given');
    assert.equal(given.cert, await readFile(certPath, 'utf8'));
    assert.equal(given.note, `certificate ${certPath}; it does not name lab-laptop: browsers opening those will warn`);
    assert.equal((await loadGiven(certPath, keyPath, ['10.77.0.1'])).note, `certificate ${certPath}`);
    const viaOptions = await loadTls(
      { host: '10.77.0.1', identity: join(dir, 'x', 'id.jwk'), tlsCert: certPath, tlsKey: keyPath },
      { hostname: '', interfaces: {} },
    );
    assert.equal(viaOptions.status, 'given');
  });

  it('says clearly what is wrong with a missing, malformed, mismatched or expired one', async () => {
    const garbage = join(dir, 'garbage.pem');
    await writeFile(garbage, 'hello\n');
    const otherKey = join(dir, 'other-key.pem');
    await writeFile(otherKey, makeKey());
    const expiredCert = join(dir, 'expired.pem');
    const key = await readFile(keyPath, 'utf8');
    await writeFile(expiredCert, await makeCertificate(['localhost'], key, new Date('2020-01-01T00:00:00Z')));
    const cases: Array<[string, string, RegExp]> = [
      [join(dir, 'nope.pem'), keyPath, /^cannot read the certificate \(--tls-cert\) .*nope\.pem: no such file$/],
      [
        certPath,
        join(dir, 'nope-key.pem'),
        /^cannot read the private key \(--tls-key\) .*nope-key\.pem: no such file$/,
      ],
      [garbage, keyPath, /garbage\.pem is not a PEM certificate \(--tls-cert\)/],
      [certPath, garbage, /garbage\.pem is not a PEM private key \(--tls-key\)/],
      [certPath, otherKey, /do not go together: the private key does not belong to the certificate/],
      [expiredCert, keyPath, /expired\.pem expired on 2020-12-31T00:00:00\.000Z/],
    ];
    for (const [cert, k, message] of cases) {
      await assert.rejects(loadGiven(cert, k, ['localhost']), (error: Error) => {
        assert.match(error.message, message);
        return true;
      });
    }
  });
});

describe('the key log', () => {
  it('appends NSS key log lines for each TLS connection, in a 0600 file', async () => {
    const made = await loadSelfSigned(fresh(), ['127.0.0.1']);
    const path = join(dir, 'logs', 'keys.log');
    const log = await openKeyLog(path);
    const server = await startTestServer({}, { tls: { cert: made.cert, key: made.key, keylog: log.write } });
    try {
      const client = await server.connect({ name: 'alice' });
      client.close();
      await log.close();
      const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
      // TLS 1.3: two handshake secrets and two traffic secrets per connection (RFC 8446 7.1), keyed by the
      // ClientHello's random.
      const labels = lines.map((line) => {
        const match = /^([A-Z_0-9]+) ([0-9a-f]{64}) ([0-9a-f]{64,96})$/.exec(line);
        assert.ok(match, `an NSS key log line: ${line}`);
        return match[1];
      });
      const known = [
        'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
        'SERVER_HANDSHAKE_TRAFFIC_SECRET',
        'CLIENT_TRAFFIC_SECRET_0',
        'SERVER_TRAFFIC_SECRET_0',
        'EXPORTER_SECRET',
      ];
      for (const label of labels) assert.ok(known.includes(label!), label);
      for (const needed of [
        'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
        'SERVER_HANDSHAKE_TRAFFIC_SECRET',
        'CLIENT_TRAFFIC_SECRET_0',
        'SERVER_TRAFFIC_SECRET_0',
      ]) {
        assert.ok(labels.includes(needed), needed);
      }
      assert.equal(await mode(path), 0o600);
    } finally {
      await server.stop();
    }
  });
});

describe('the server over TLS', () => {
  let server: TestServer;
  let cert: string;
  before(async () => {
    const made = await loadSelfSigned(fresh(), ['localhost', '127.0.0.1', '::1']);
    cert = made.cert;
    server = await startTestServer({}, { tls: { cert: made.cert, key: made.key } });
  });
  after(() => server.stop());

  it('prints an https URL and chats over wss, the client trusting exactly this certificate', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
    const alice = await server.connect({ name: 'alice', origin: new URL(server.url).origin });
    const bob = await server.connect({ name: 'bob' });
    await alice.send('over tls');
    await bob.waitFor((body) => body.kind === 'line' && body.text === 'over tls');
    alice.close();
    bob.close();
  });

  it('serves the page requests over https with the same handler', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      request(server.url, { ca: cert }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    assert.equal(status, 404, 'no dist/ given to this server: the static handler answers 404 over https');
  });

  it('refuses a client that does not trust the certificate, and a plain ws:// to the same port', async () => {
    await assert.rejects(
      server.connect({ ca: undefined }).then((c) => c.close()),
      /self-signed certificate/,
    );
    await assert.rejects(server.connect({ url: server.wsUrl.replace(/^wss:/, 'ws:') }).then((c) => c.close()));
  });

  it('shrugs off what is not TLS (plain HTTP, garbage, a half handshake) and keeps serving', async () => {
    const port = Number(new URL(server.url).port);
    for (const bytes of [
      Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
      randomBytes(4096),
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1]),
    ]) {
      const socket = netConnect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(bytes);
      if (bytes.length === 6) socket.end(); // a handshake record cut short, then the peer hangs up
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    }
    const alice = await server.connect({ name: 'alice' });
    alice.close();
  });

  it("closes a connection that never finishes its TLS handshake within --handshake-timeout, not tls's 120 s", async () => {
    const made = await loadSelfSigned(fresh(), ['127.0.0.1']);
    const quick = await startTestServer({ handshakeTimeoutMs: 1000 }, { tls: { cert: made.cert, key: made.key } });
    try {
      const port = Number(new URL(quick.url).port);
      // Nothing at all, and a ClientHello's first bytes: both closed by the server, far within tls's own 120 s.
      for (const bytes of [Buffer.alloc(0), Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 1])]) {
        const socket = netConnect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.resume();
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        if (bytes.length > 0) socket.write(bytes);
        const closed = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 15_000);
          socket.once('close', () => {
            clearTimeout(timer);
            resolve(true);
          });
        });
        socket.destroy();
        assert.ok(closed, `a half-open TLS connection (${bytes.length} bytes) was held past 15 s`);
      }
    } finally {
      await quick.stop();
    }
  });

  it("refuses an http:// Origin on the https server: it is not this server's page", async () => {
    const port = new URL(server.url).port;
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(server.wsUrl, { ca: cert, origin: `http://127.0.0.1:${port}` });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
      ws.on('error', () => undefined);
    });
    assert.equal(status, 403);
  });
});
