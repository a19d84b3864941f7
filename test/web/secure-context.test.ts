import assert from 'node:assert/strict';
import { test } from 'node:test';
import { insecureReason } from '../../web/secure-context.ts';

test('a secure context with Web Crypto needs no explanation', () => {
  assert.equal(
    insecureReason({ isSecureContext: true, hasSubtle: true, protocol: 'http:', hostname: 'localhost', port: '8080' }),
    undefined,
  );
});

test('http from another machine says why and what to open instead', () => {
  const reason = insecureReason({
    isSecureContext: false,
    hasSubtle: false,
    protocol: 'http:',
    hostname: '192.168.1.20',
    port: '8080',
  });
  assert.equal(
    reason,
    'Web Crypto only works on https:// or on http://localhost / 127.0.0.1; you opened http://192.168.1.20:8080. ' +
      'Start the server with --tls (npm run server -- --tls --host 0.0.0.0) and open https://192.168.1.20:8080, ' +
      'or open http://localhost:8080 on the server machine.',
  );
});

test('the default port is left out, and a missing crypto.subtle alone is enough to refuse', () => {
  const reason = insecureReason({
    isSecureContext: true,
    hasSubtle: false,
    protocol: 'http:',
    hostname: 'chat.lan',
    port: '',
  });
  assert.match(
    reason ?? '',
    /you opened http:\/\/chat\.lan\. Start the server with --tls .* and open https:\/\/chat\.lan, or open http:\/\/localhost on the server machine/,
  );
});
