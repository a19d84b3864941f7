/**
 * The Origin/Host rules with --host: the names a server answers on follow from where it listens (and
 * --allow-origin), its own page is accepted on each of them, and a rebinding Host or another site's page is not.
 * The machine (host name, interfaces) is given, so the rules are checked for a lab laptop on any machine.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  allowedHosts,
  canonicalName,
  hostOf,
  isLoopback,
  isWildcard,
  originAllowed,
  serverNames,
  type Machine,
} from '../../server/origin.ts';

/** A laptop on a lab network: Wi-Fi with IPv4, a global and a link-local IPv6 address, and loopback. */
const LAPTOP: Machine = {
  hostname: 'lab-laptop',
  interfaces: {
    lo: [
      {
        address: '127.0.0.1',
        netmask: '255.0.0.0',
        family: 'IPv4',
        mac: '00:00:00:00:00:00',
        internal: true,
        cidr: '127.0.0.1/8',
      },
      {
        address: '::1',
        netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
        family: 'IPv6',
        mac: '00:00:00:00:00:00',
        internal: true,
        cidr: '::1/128',
        scopeid: 0,
      },
    ],
    wlan0: [
      {
        address: '192.168.1.20',
        netmask: '255.255.255.0',
        family: 'IPv4',
        mac: '02:00:00:00:00:01',
        internal: false,
        cidr: '192.168.1.20/24',
      },
      {
        address: 'FD00:0:0:0:0:0:0:20',
        netmask: 'ffff:ffff:ffff:ffff::',
        family: 'IPv6',
        mac: '02:00:00:00:00:01',
        internal: false,
        cidr: 'fd00::20/64',
        scopeid: 0,
      },
      {
        address: 'fe80::1',
        netmask: 'ffff:ffff:ffff:ffff::',
        family: 'IPv6',
        mac: '02:00:00:00:00:01',
        internal: false,
        cidr: 'fe80::1/64',
        scopeid: 3,
      },
    ],
  },
};

interface Req {
  host?: string;
  origin?: string;
  /** The address the connection arrived on. */
  local?: string;
  tls?: boolean;
}

function check(host: string, req: Req, allowOrigins: string[] = []) {
  const headers: Record<string, string> = {};
  if (req.host !== undefined) headers.host = req.host;
  if (req.origin !== undefined) headers.origin = req.origin;
  return originAllowed(
    { headers, socket: { localAddress: req.local ?? '127.0.0.1', encrypted: req.tls ?? false } },
    { host, allowOrigins },
    LAPTOP,
  );
}

describe('names', () => {
  it('canonical: lower case, no brackets, IPv6 compressed, IPv4-mapped IPv6 as IPv4', () => {
    assert.equal(canonicalName('LocalHost.'), 'localhost');
    assert.equal(canonicalName('[::1]'), '::1');
    assert.equal(canonicalName('FD00:0:0:0:0:0:0:20'), 'fd00::20');
    assert.equal(canonicalName('::ffff:10.77.0.1'), '10.77.0.1');
    assert.equal(canonicalName('::FFFF:a4d:1'), '10.77.0.1');
  });

  it("reads a Host header's name, and nothing from what is not one", () => {
    assert.equal(hostOf('Example.ORG:8443'), 'example.org');
    assert.equal(hostOf('[::1]:8080'), '::1');
    assert.equal(hostOf('192.168.1.20'), '192.168.1.20');
    for (const bad of ['', 'a b', 'evil.example/x', 'user@host', 'host:port:x', '[::1', 'a\\b'])
      assert.equal(hostOf(bad), '', bad);
  });

  it('tells loopback and wildcard hosts apart', () => {
    for (const h of ['localhost', '127.0.0.1', '127.0.0.2', '::1', '[::1]']) assert.ok(isLoopback(h), h);
    for (const h of ['0.0.0.0', '::', '192.168.1.20', 'lab-laptop']) assert.ok(!isLoopback(h), h);
    for (const h of ['0.0.0.0', '::', '[::]']) assert.ok(isWildcard(h), h);
    assert.ok(!isWildcard('127.0.0.1'));
  });
});

describe('serverNames: what the server answers on, for --host', () => {
  it('on loopback (the default): the loopback names only, not the machine name', () => {
    assert.deepEqual(serverNames('localhost', LAPTOP), ['localhost', '127.0.0.1', '::1']);
    assert.deepEqual(serverNames('127.0.0.2', LAPTOP), ['localhost', '127.0.0.1', '::1', '127.0.0.2']);
  });

  it('on 0.0.0.0: loopback, every IPv4 address, the host name and NAME.local', () => {
    assert.deepEqual(serverNames('0.0.0.0', LAPTOP), [
      'localhost',
      '127.0.0.1',
      '::1',
      '192.168.1.20',
      'lab-laptop',
      'lab-laptop.local',
    ]);
  });

  it('on ::: the IPv6 addresses too, but no link-local one (a URL cannot name its zone)', () => {
    assert.deepEqual(serverNames('::', LAPTOP), [
      'localhost',
      '127.0.0.1',
      '::1',
      '192.168.1.20',
      'fd00::20',
      'lab-laptop',
      'lab-laptop.local',
    ]);
  });

  it('on one address or name: that one and the host name', () => {
    assert.deepEqual(serverNames('192.168.1.20', LAPTOP), ['192.168.1.20', 'lab-laptop', 'lab-laptop.local']);
    assert.deepEqual(serverNames('Chat.School.Example', { ...LAPTOP, hostname: 'lab7.school.example' }), [
      'chat.school.example',
      'lab7.school.example',
    ]);
  });

  it('leaves out a host name that is not a DNS name', () => {
    assert.deepEqual(serverNames('192.168.1.20', { ...LAPTOP, hostname: 'my laptop_1' }), ['192.168.1.20']);
  });

  it("adds the hosts of --allow-origin's origins to the names a Host may carry", () => {
    assert.deepEqual(allowedHosts({ host: 'localhost', allowOrigins: ['https://chat.example.org'] }, LAPTOP), [
      'localhost',
      '127.0.0.1',
      '::1',
      'chat.example.org',
    ]);
  });
});

describe('originAllowed', () => {
  it('accepts its own page on every name it answers on, over http and https', () => {
    for (const host of [
      'localhost:8443',
      '127.0.0.1:8443',
      '[::1]:8443',
      '192.168.1.20:8443',
      'lab-laptop:8443',
      'LAB-LAPTOP.local:8443',
    ]) {
      assert.deepEqual(
        check('0.0.0.0', { host, origin: `https://${host}`, tls: true, local: '192.168.1.20' }),
        { ok: true, why: '' },
        host,
      );
      assert.deepEqual(
        check('0.0.0.0', { host, origin: `http://${host}`, local: '192.168.1.20' }),
        { ok: true, why: '' },
        host,
      );
    }
  });

  it('refuses a rebinding Host even from its own origin, on loopback and beyond', () => {
    for (const listen of ['localhost', '0.0.0.0', '192.168.1.20']) {
      const verdict = check(listen, {
        host: 'rebind.example:8443',
        origin: 'https://rebind.example:8443',
        tls: true,
        local: '192.168.1.20',
      });
      assert.equal(verdict.ok, false, listen);
      assert.match(
        verdict.why,
        /^Host "rebind\.example:8443" is not a name this server answers on \(DNS rebinding protection\)/,
      );
      assert.match(verdict.why, /start the server with --allow-origin https:\/\/rebind\.example:8443$/);
    }
  });

  it('refuses the machine name when listening on loopback only (it may resolve to another interface)', () => {
    assert.equal(check('localhost', { host: 'lab-laptop:8080', origin: 'http://lab-laptop:8080' }).ok, false);
  });

  it('accepts the address the connection arrived on, even one that came up after start', () => {
    // A laptop that got a new address from DHCP: not in the start-time list, but typed into the address bar.
    const verdict = check('0.0.0.0', {
      host: '10.1.2.3:8443',
      origin: 'https://10.1.2.3:8443',
      tls: true,
      local: '::ffff:10.1.2.3',
    });
    assert.deepEqual(verdict, { ok: true, why: '' });
    assert.equal(
      check('0.0.0.0', { host: '10.1.2.4:8443', origin: 'https://10.1.2.4:8443', tls: true, local: '10.1.2.3' }).ok,
      false,
    );
  });

  it('refuses another scheme, host or port in Origin: another page', () => {
    const host = '192.168.1.20:8443';
    for (const origin of [
      'http://192.168.1.20:8443',
      'https://192.168.1.20:8444',
      'https://192.168.1.21:8443',
      'https://evil.example',
      'null',
      'not a url',
    ]) {
      const verdict = check('0.0.0.0', { host, origin, tls: true, local: '192.168.1.20' });
      assert.equal(verdict.ok, false, origin);
      assert.equal(
        verdict.why,
        `pages from ${origin} may not connect (start the server with --allow-origin ${origin} to allow it)`,
      );
    }
  });

  it('accepts --allow-origin, whose host is then also a Host it answers to (a reverse proxy in front)', () => {
    const allow = ['https://chat.example.org'];
    assert.deepEqual(check('localhost', { host: 'chat.example.org', origin: 'https://chat.example.org' }, allow), {
      ok: true,
      why: '',
    });
    assert.deepEqual(check('localhost', { host: 'localhost:8080', origin: 'https://chat.example.org' }, allow), {
      ok: true,
      why: '',
    });
  });

  it('accepts a client without Origin (a program, not a page) on a name it answers on', () => {
    assert.deepEqual(check('0.0.0.0', { host: '192.168.1.20:8443', tls: true, local: '192.168.1.20' }), {
      ok: true,
      why: '',
    });
  });

  it('refuses a request without a usable Host', () => {
    for (const host of [undefined, '', 'a b', 'x/y']) {
      const verdict = check('0.0.0.0', { host, local: '192.168.1.20' });
      assert.equal(verdict.ok, false, String(host));
      assert.match(verdict.why, /needs a Host header naming this server/);
    }
  });

  it('never throws, and accepts nothing but what the rules allow, for any Host and Origin (fast-check)', () => {
    const names = serverNames('0.0.0.0', LAPTOP);
    fc.assert(
      fc.property(
        fc.option(fc.string(), { nil: undefined }),
        fc.option(fc.string(), { nil: undefined }),
        fc.boolean(),
        (host, origin, tls) => {
          const verdict = check('0.0.0.0', { host, origin, tls, local: '192.168.1.20' });
          if (!verdict.ok) return;
          const name = hostOf(host!);
          assert.ok(names.includes(name) || name === '192.168.1.20', `accepted Host ${JSON.stringify(host)}`);
          if (origin !== undefined)
            assert.equal(new URL(origin).origin, new URL(`${tls ? 'https' : 'http'}://${host}`).origin);
        },
      ),
      { numRuns: 2000 },
    );
    // And from strings shaped like Hosts and Origins, which reach the accepting branch.
    const hostArb = fc
      .tuple(fc.constantFrom(...names, '192.168.1.20', 'evil.example', '10.0.0.1'), fc.integer({ min: 1, max: 65535 }))
      .map(([n, p]) => `${n.includes(':') ? `[${n}]` : n}:${p}`);
    fc.assert(
      fc.property(hostArb, hostArb, fc.constantFrom('http', 'https'), fc.boolean(), (host, originHost, scheme, tls) => {
        const verdict = check('0.0.0.0', { host, origin: `${scheme}://${originHost}`, tls, local: '192.168.1.20' });
        const expected =
          names.concat('192.168.1.20').includes(hostOf(host)) && originHost === host && (scheme === 'https') === tls;
        assert.equal(verdict.ok, expected, `${host} ${scheme}://${originHost} tls=${tls}: ${verdict.why}`);
      }),
      { numRuns: 2000 },
    );
  });
});
