/**
 * Two machines, as a class has them: the server (`npm run server -- --tls --host ADDRESS`, its real console) in
 * one network namespace, Chromium in another, joined by a veth pair; tshark captures on the server's end of the
 * veth. The page is opened as https://ADDRESS:PORT/ with the certificate accepted by its SPKI pin (what a person
 * does by accepting it once after comparing the fingerprint), chats both ways with the console, and the capture
 * shows nothing readable without the key log, and with it Fernet tokens and no chat text. The same page over plain
 * http from the other machine says it has no Web Crypto and names --tls.
 *
 * Where network namespaces cannot be made, the test says so and runs the same checks with the server on
 * 127.0.0.2 and the browser on 127.0.0.1; it never skips.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { decodeCapture, decodeTlsRecords, startTshark } from '../../tools/capture.ts';
import { parseClientFrame, parseServerFrame } from '../../shared/protocol.ts';
import { CHROMIUM, launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { chromiumOn, twoHosts, type TwoHosts } from '../helpers/netns.ts';
import { chatLine, say, waitForState } from '../helpers/page.ts';
import { checkA11y } from '../helpers/a11y.ts';
import { freePort, startServerProcess, type ServerProcess } from '../helpers/process.ts';

const LINES = {
  page: 'meet me at the library at six',
  console: 'the locker code is 4711, keep it quiet',
};

/** A name for the server in the loopback fallback, where 127.0.0.2 itself would be a secure context. */
const FALLBACK_NAME = 'wirechat-server.test';

let hosts: TwoHosts;
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wirechat-two-hosts-'));
  hosts = twoHosts();
  const where =
    hosts.kind === 'namespaces'
      ? `two network namespaces joined by a veth pair; the server at ${hosts.serverAddress}`
      : `NO network namespaces (${hosts.why}); falling back to the server on 127.0.0.2 and the browser on 127.0.0.1`;
  console.log(`# two hosts: ${where}`);
});
after(async () => {
  hosts.remove();
  await rm(dir, { recursive: true, force: true });
});

describe('from another machine, over https', () => {
  let server: ServerProcess;
  let browser: Browser;
  let port: number;
  let capture: { stop(): Promise<void> };
  let certPem: string;
  const file = () => join(dir, 'veth.pcapng');
  const keylog = () => join(dir, 'keys.log');
  const startServer = () =>
    startServerProcess(['--tls', '--tls-keylog', keylog()], {
      identityDir: dir,
      host: hosts.serverAddress,
      port,
      wrap: hosts.onServer,
    });

  before(async () => {
    // Inside our own namespace every port is free; on the shared loopback, ask.
    port = hosts.kind === 'namespaces' ? 8443 : await freePort();
    capture = await startTshark('tshark', port, file(), { iface: hosts.iface, wrap: hosts.onServer });
    server = await startServer();
    certPem = await readFile(join(dir, 'tls-cert.pem'), 'utf8');
    const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
    const pin = createHash('sha256').update(spki).digest('base64');
    browser = await launchBrowser({
      executablePath: await chromiumOn(hosts, CHROMIUM, dir),
      args: [`--ignore-certificate-errors-spki-list=${pin}`, `--host-resolver-rules=MAP ${FALLBACK_NAME} 127.0.0.2`],
    });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await capture?.stop().catch(() => undefined);
  });

  it('prints the https address, the certificate fingerprint and its SANs for this address', async () => {
    assert.equal(server.url, `https://${hosts.serverAddress}:${port}/`);
    const cert = new X509Certificate(certPem);
    await server.waitForLine(`  tls         SHA-256 ${cert.fingerprint256}`);
    assert.equal(cert.checkIP(hosts.serverAddress), hosts.serverAddress);
    await server.waitForLine(/^ {2}key log {6}TLS SESSION SECRETS ARE WRITTEN TO /);
  });

  it('chats both ways with the console from the other machine: Web Crypto, pin, session code, reconnects', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    const response = await page.goto(server.url);
    const security = await response!.securityDetails();
    assert.equal(security?.protocol, 'TLS 1.3');
    assert.equal(security?.subjectName, 'wirechat');
    // The certificate the browser got is the one whose fingerprint the console printed.
    const { tableNames } = (await cdp.send('Network.getCertificate', { origin: new URL(server.url).origin })) as {
      tableNames: string[];
    };
    assert.equal(
      new X509Certificate(Buffer.from(tableNames[0]!, 'base64')).fingerprint256,
      new X509Certificate(certPem).fingerprint256,
    );
    assert.deepEqual(await page.evaluate(() => [isSecureContext, location.protocol, typeof crypto.subtle]), [
      true,
      'https:',
      'object',
    ]);

    await page.locator('#name-input').fill('alice');
    await page.locator('#name-input').press('Enter');
    await waitForState(page, 'secure');
    const shown = (await page.locator('#fingerprint').innerText()).replace(/\s+/g, ' ').trim();
    assert.equal(shown, server.fingerprint, 'the page shows the identity fingerprint the console printed');
    assert.equal(await page.locator('#trust-note').getAttribute('data-trust'), 'first');
    const code = (await page.locator('#session-code').innerText()).trim();
    await server.waitForLine(`alice joined (secure, session code ${code})`);

    await say(page, LINES.page);
    await server.waitForLine(new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\] alice: ${LINES.page}$`));
    await page.locator('li[data-own][data-status="delivered"]').filter({ hasText: LINES.page }).waitFor();
    server.type(LINES.console);
    await chatLine(page, LINES.console).waitFor();
    await page.screenshot({ path: screenshotPath('https-other-machine.png') });
    await checkA11y(page, 'secure chat over https from another machine');

    // The server goes away (a crash, a closed laptop lid) and comes back: the page reconnects by itself, over a
    // new TLS connection, to the same certificate (reused from disk) and the pinned identity.
    server.signal('SIGKILL');
    await server.exited;
    await page.locator('#status[data-state="disconnected"], #status[data-state="connecting"]').first().waitFor();
    server = await startServer();
    await server.waitForLine(`              certificate ${join(dir, 'tls-cert.pem')}`);
    await waitForState(page, 'secure', 30_000);
    assert.equal(await page.locator('#trust-note').getAttribute('data-trust'), 'same');
    await say(page, 'back after the restart');
    await server.waitForLine(/alice: back after the restart$/);
    await say(page, 'exit');
    await server.waitForLine(/\* alice left$/);
    await waitForState(page, 'ended');
    await context.close();
  });

  it('leaves a capture on the wire with nothing readable without the key log, and Fernet tokens, no chat text, with it', async () => {
    await capture.stop();
    const raw = await readFile(file());
    for (const mark of [LINES.page, LINES.console, 'gAAAAA', '"type":', 'GET /']) {
      assert.equal(raw.includes(Buffer.from(mark)), false, `${JSON.stringify(mark)} in the capture's bytes`);
    }
    assert.deepEqual(
      decodeCapture('tshark', file(), port, {}).frames,
      [],
      'no HTTP and no WebSocket frame without the key log',
    );
    const records = decodeTlsRecords('tshark', file(), port);
    assert.ok(
      records.filter((r) => r.text.includes('Application Data')).length >= 10,
      'TLS application data on the wire',
    );

    const opened = decodeCapture('tshark', file(), port, { keylog: keylog() }).frames;
    const texts = opened.filter((f) => f.kind === 'text');
    for (const line of Object.values(LINES))
      assert.deepEqual(
        texts.filter((f) => f.text.includes(line)),
        [],
        line,
      );
    const frames = texts.map((f) => (f.direction === 'c2s' ? parseClientFrame(f.text) : parseServerFrame(f.text)));
    const sealed = frames.filter((f) => f.type === 'record') as Array<{ token: string }>;
    assert.ok(sealed.length >= 4, `${sealed.length} record frames, both ways`);
    for (const r of sealed) assert.match(r.token, /^gAAAAA/);
    assert.ok(frames.some((f) => f.type === 'hello') && frames.some((f) => f.type === 'welcome'));
    assert.ok(
      opened.some((f) => f.kind === 'upgrade' && f.text === 'HTTP GET /ws'),
      'the upgrade, inside TLS',
    );
  });
});

describe('from another machine, over plain http', () => {
  it('the page says it has no Web Crypto and names --tls; the console warns (checked on two hosts)', async () => {
    const port = hosts.kind === 'namespaces' ? 8080 : await freePort();
    // In the fallback the page is opened by name: 127.0.0.2 is loopback, which Chromium counts as secure.
    const name = hosts.kind === 'namespaces' ? hosts.serverAddress : FALLBACK_NAME;
    // Inside the namespace, every interface: the README's --host 0.0.0.0, whose addresses the console lists. On
    // the shared host, never beyond loopback.
    const server = await startServerProcess(
      hosts.kind === 'namespaces' ? [] : ['--allow-origin', `http://${name}:${port}`],
      {
        host: hosts.kind === 'namespaces' ? '0.0.0.0' : hosts.serverAddress,
        port,
        wrap: hosts.onServer,
      },
    );
    const browser = await launchBrowser({
      executablePath: await chromiumOn(hosts, CHROMIUM, dir),
      args: [`--host-resolver-rules=MAP ${FALLBACK_NAME} 127.0.0.2`],
    });
    try {
      if (hosts.kind === 'namespaces') {
        await server.waitForLine(
          /^ {2}warning {5}other machines that open http:\/\/<this machine's address> get a page without Web Crypto/,
        );
        await server.waitForLine(`              npm run server -- --tls --host 0.0.0.0`);
        await server.waitForLine(`  also        http://${hosts.serverAddress}:${port}/`);
      } else {
        console.log(
          '# loopback fallback: 127.0.0.2 is loopback, so the console rightly prints no warning; not checked',
        );
      }
      const page = await browser.newPage();
      await page.goto(`http://${name}:${port}/`);
      const text = await page.locator('#insecure-context').innerText();
      assert.match(text, /Web Crypto only works on https:\/\//);
      assert.ok(
        text.includes(
          `Start the server with --tls (npm run server -- --tls --host 0.0.0.0) and open https://${name}:${port}`,
        ),
        text,
      );
      await checkA11y(page, 'no Web Crypto page from another machine');
    } finally {
      await browser.close();
      await server.stop();
    }
  });
});
