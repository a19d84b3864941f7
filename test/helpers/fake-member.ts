/**
 * A session as the relay sees it (server/relay.ts Member), for tests that drive a relay through its calls: everything
 * it is handed is recorded, nothing is sealed or sent.
 */
import type { EndCode } from '../../shared/errors.ts';
import type { ServerBody } from '../../shared/protocol.ts';
import { EncodedBody } from '../../shared/record.ts';
import type { Member } from '../../server/relay.ts';

export class FakeMember implements Member {
  name = '';
  code = 'ABCD-2345';
  phase = 'secure';
  readonly connectedAt = Date.now();
  failed = false;
  departure = '';
  readonly received: Array<ServerBody | EncodedBody<ServerBody>> = [];
  endedWith: { code: EndCode; reason: string } | undefined;
  closed: { code: number; reason: string } | undefined;
  beats = 0;
  saidBye = false;
  get ended(): boolean {
    return this.endedWith !== undefined || this.closed !== undefined;
  }
  seated(name: string): void {
    this.name = name;
  }
  readonly number: number;
  constructor(number: number) {
    this.number = number;
  }
  get label(): string {
    return this.name || `connection #${this.number}`;
  }
  send(body: ServerBody | EncodedBody<ServerBody>): void {
    this.received.push(body);
  }
  end(code: EndCode, reason: string): void {
    this.endedWith = { code, reason };
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }
  heartbeat(): boolean {
    this.beats++;
    return true;
  }
  /** The bodies, as each recipient's session would seal them. */
  get bodies(): ServerBody[] {
    return this.received.map((b) => (b instanceof EncodedBody ? b.body : b));
  }
}
