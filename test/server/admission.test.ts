/**
 * server/admission.ts: who may open a connection. Unit tests on a fake clock; the same limits against real
 * sockets from two loopback addresses are in test/server/flood.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Admission, addressKey, socketsPerAddress, Ticket, type AdmissionLimits } from '../../server/admission.ts';
import { DEFAULTS } from '../../server/options.ts';
import { WirechatError } from '../../shared/errors.ts';

const LIMITS: AdmissionLimits = {
  maxConnections: 100,
  maxPerAddress: 10,
  maxPendingPerAddress: 4,
  handshakeRate: 1000,
  handshakeBurst: 1000,
};

function admission(limits: Partial<AdmissionLimits> = {}): { admission: Admission; clock: { now: number } } {
  const clock = { now: 0 };
  return { admission: new Admission({ ...LIMITS, ...limits }, () => clock.now), clock };
}

function admitted(result: Ticket | WirechatError | string): Ticket {
  assert.ok(
    result instanceof Ticket,
    result instanceof WirechatError ? `${result.code}: ${result.message}` : String(result),
  );
  return result;
}

/** What the server does with an upgrade request: knock (the rate), then admit (the seats). */
function connect(a: Admission, remote: string): Ticket | WirechatError | string {
  return a.knock(remote) ?? a.admit(remote);
}

function tooFast(result: Ticket | WirechatError | string, from: string): void {
  assert.equal(
    typeof result,
    'string',
    `not refused by the rate: ${result instanceof Ticket ? 'admitted' : String(result)}`,
  );
  assert.match(
    result as string,
    new RegExp(`^more than \\d+ new connections a second from ${from.replaceAll('.', '\\.')}`),
  );
}

function refused(result: Ticket | WirechatError | string, code: string, message: RegExp): void {
  assert.ok(result instanceof WirechatError, `admitted ${result instanceof Ticket ? result.address : ''}`);
  assert.equal(result.code, code);
  assert.equal(result.closeCode, 1013);
  assert.match(result.message, message);
}

/** `n` connections from `remote` that have finished their handshake. */
function joined(a: Admission, remote: string, n: number): Ticket[] {
  return Array.from({ length: n }, () => {
    const ticket = admitted(a.admit(remote));
    ticket.watch(() => false);
    return ticket;
  });
}

describe('addressKey', () => {
  it('counts IPv4 addresses one by one', () => {
    assert.equal(addressKey('127.0.0.1'), '127.0.0.1');
    assert.equal(addressKey('127.0.0.2'), '127.0.0.2');
  });

  it('counts an IPv4-mapped IPv6 address (a dual-stack socket) as the IPv4 address, in both spellings', () => {
    assert.equal(addressKey('::ffff:127.0.0.2'), '127.0.0.2');
    assert.equal(addressKey('::FFFF:7f00:2'), '127.0.0.2');
    assert.equal(addressKey('0:0:0:0:0:ffff:192.0.2.1'), '192.0.2.1');
  });

  it('counts IPv6 addresses by their /64, however they are written, zone dropped', () => {
    const key = addressKey('2001:db8:0:1::1');
    assert.equal(key, '2001:db8:0:1::/64');
    for (const same of [
      '2001:db8:0:1:ffff:ffff:ffff:ffff',
      '2001:DB8:0:1:a:b:c:d',
      '2001:0db8:0000:0001::2',
      '2001:db8:0:1::1%eth0',
    ]) {
      assert.equal(addressKey(same), key, same);
    }
    assert.notEqual(addressKey('2001:db8:0:2::1'), key);
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('fe80::1%2'), 'fe80:0:0:0::/64');
    assert.equal(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  });

  it('puts a socket whose address is gone under one key', () => {
    assert.equal(addressKey(undefined), 'unknown');
    assert.equal(addressKey(''), 'unknown');
  });
});

describe('Admission', () => {
  it('refuses the connection over maxPerAddress from one address, and still admits another address', () => {
    const { admission: a } = admission();
    joined(a, '127.0.0.2', 10);
    refused(a.admit('127.0.0.2'), 'LIMIT_ADDRESS', /127\.0\.0\.2 already has 10 connections open/);
    admitted(a.admit('127.0.0.1'));
    assert.equal(a.size, 11);
  });

  it('refuses a connection over maxPendingPerAddress still in their handshake; a finished handshake frees its slot', () => {
    const { admission: a } = admission();
    const pending = Array.from({ length: 4 }, () => admitted(a.admit('127.0.0.2')));
    refused(a.admit('127.0.0.2'), 'LIMIT_ADDRESS', /already has 4 connections in their handshake/);
    assert.deepEqual(a.count('127.0.0.2'), { open: 4, inHandshake: 4 });
    pending[0]!.watch(() => false);
    admitted(a.admit('127.0.0.2'));
    assert.deepEqual(a.count('127.0.0.2'), { open: 5, inHandshake: 4 });
    admitted(a.admit('127.0.0.1'));
  });

  it('refuses more than handshakeBurst new connections at once (before the upgrade), then lets handshakeRate a second through', () => {
    const { admission: a, clock } = admission({ handshakeRate: 2, handshakeBurst: 3 });
    for (let i = 0; i < 3; i++) admitted(connect(a, '127.0.0.2')).release();
    tooFast(connect(a, '127.0.0.2'), '127.0.0.2');
    assert.match(a.knock('127.0.0.2')!, /^more than 2 new connections a second from 127\.0\.0\.2; try again later$/);
    admitted(connect(a, '127.0.0.1'));
    clock.now = 499;
    tooFast(connect(a, '127.0.0.2'), '127.0.0.2');
    clock.now = 500;
    admitted(connect(a, '127.0.0.2')).release();
    tooFast(connect(a, '127.0.0.2'), '127.0.0.2');
    assert.equal(a.stats.knocked, 9);
    assert.equal(a.stats.refusedRate, 4);
  });

  it('counts every request against the rate, refused ones too: an address that keeps knocking stays refused', () => {
    const { admission: a, clock } = admission({ maxPerAddress: 1, handshakeRate: 10, handshakeBurst: 5 });
    admitted(connect(a, '127.0.0.2'));
    for (let i = 0; i < 4; i++) refused(connect(a, '127.0.0.2'), 'LIMIT_ADDRESS', /already has 1 connections open/);
    tooFast(connect(a, '127.0.0.2'), '127.0.0.2');
    assert.equal(a.stats.refusedPerAddress, 4);
    assert.equal(a.stats.refusedRate, 1);
    clock.now = 100;
    refused(connect(a, '127.0.0.2'), 'LIMIT_ADDRESS', /already has 1 connections open/);
  });

  it('refuses every address with LIMIT_CONNECTIONS once the server holds maxConnections', () => {
    const { admission: a } = admission({ maxConnections: 3 });
    const tickets = [...joined(a, '127.0.0.1', 2), ...joined(a, '127.0.0.2', 1)];
    refused(a.admit('127.0.0.3'), 'LIMIT_CONNECTIONS', /the server is full \(3 connections\)/);
    tickets[0]!.release();
    admitted(a.admit('127.0.0.3'));
  });

  it('frees a seat once per ticket, however often it is released', () => {
    const { admission: a } = admission({ maxPerAddress: 2 });
    const [first] = joined(a, '127.0.0.2', 2);
    first!.release();
    first!.release();
    assert.equal(a.size, 1);
    admitted(a.admit('127.0.0.2'));
    refused(a.admit('127.0.0.2'), 'LIMIT_ADDRESS', /already has 2 connections open/);
  });

  it('shares the limits of one IPv6 /64 among all its addresses, and of an IPv4 address with its mapped form', () => {
    const { admission: a } = admission({ maxPerAddress: 2 });
    joined(a, '2001:db8:0:1::1', 1);
    joined(a, '2001:db8:0:1::2', 1);
    refused(a.admit('2001:db8:0:1:dead:beef:0:3'), 'LIMIT_ADDRESS', /2001:db8:0:1::\/64 already has 2/);
    admitted(a.admit('2001:db8:0:2::1'));
    joined(a, '192.0.2.1', 1);
    joined(a, '::ffff:192.0.2.1', 1);
    refused(a.admit('192.0.2.1'), 'LIMIT_ADDRESS', /192\.0\.2\.1 already has 2/);
  });

  it('forgets an idle address only once its bucket has refilled, so closing and reopening does not reset its rate', () => {
    const { admission: a, clock } = admission({ handshakeRate: 10, handshakeBurst: 20 });
    for (let i = 0; i < 20; i++) admitted(connect(a, '127.0.0.2')).release();
    clock.now = 1500;
    admitted(connect(a, '127.0.0.9')).release();
    assert.equal(a.addresses, 2, 'kept while its bucket refills (2 s)');
    for (let i = 0; i < 15; i++) admitted(connect(a, '127.0.0.2')).release();
    tooFast(connect(a, '127.0.0.2'), '127.0.0.2');
    clock.now = 10_000;
    admitted(connect(a, '127.0.0.3')).release();
    assert.equal(a.addresses, 1, 'the idle addresses were forgotten; the new one is kept');
  });

  it('caps the TCP connections of one address at 4 per seat, counts each once, and keeps an address that holds one', () => {
    const { admission: a, clock } = admission({ maxPerAddress: 2 });
    assert.equal(socketsPerAddress({ maxPerAddress: 2 }), 8);
    const closes = Array.from({ length: 8 }, () => a.connected('::ffff:192.0.2.1'));
    assert.ok(closes.every((close) => close !== undefined));
    assert.equal(a.connected('192.0.2.1'), undefined, 'the ninth, from the same address in another form');
    assert.equal(a.stats.refusedSockets, 1);
    assert.ok(a.connected('192.0.2.2') !== undefined, 'another address is not affected');
    closes[0]!();
    closes[0]!();
    assert.equal(a.sockets('192.0.2.1'), 7);
    clock.now += 3_600_000;
    a.knock('198.51.100.1');
    assert.equal(a.sockets('192.0.2.1'), 7, 'an address holding connections is not forgotten');
    for (const close of closes) close!();
    assert.equal(a.sockets('192.0.2.1'), 0);
  });

  it('keeps an address with a connection open however long it is idle', () => {
    const { admission: a, clock } = admission();
    joined(a, '127.0.0.2', 1);
    clock.now = 3_600_000;
    admitted(connect(a, '127.0.0.1')).release();
    assert.deepEqual(a.count('127.0.0.2'), { open: 1, inHandshake: 0 });
  });
});

describe('the default limits', () => {
  it('leave most of the server to others: one address can hold at most a small share of the seats', () => {
    assert.ok(DEFAULTS.maxPerAddress * 10 <= DEFAULTS.maxConnections, 'ten addresses cannot fill the server');
    assert.ok(DEFAULTS.maxPendingPerAddress < DEFAULTS.maxPerAddress);
    assert.ok(DEFAULTS.handshakeBurst <= DEFAULTS.maxPerAddress);
  });
});
