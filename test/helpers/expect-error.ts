/**
 * Assertions that a failure is the right one: a WirechatError with exactly this code, never merely "an error"
 * (a test that accepts any rejection also passes when the code path it means to test is never reached).
 */
import assert from 'node:assert/strict';
import { WirechatError, type ErrorCode } from '../../shared/errors.ts';

function isCode(error: unknown, code: ErrorCode): true {
  assert.ok(error instanceof WirechatError, `not a WirechatError: ${String(error)}`);
  assert.equal(error.code, code, error.message);
  return true;
}

/**
 * `block` is a promise that must reject, or a function that must throw or return a promise that rejects: a
 * channel over a synchronous backend (node:crypto) throws where one over Web Crypto rejects, and a test that runs
 * on both passes a function.
 */
export async function rejectsWith(block: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<void> {
  await assert.rejects(typeof block === 'function' ? async () => block() : block, (error: unknown) =>
    isCode(error, code),
  );
}

export function throwsWith(fn: () => unknown, code: ErrorCode, message?: string): void {
  assert.throws(fn, (error: unknown) => isCode(error, code), message);
}
