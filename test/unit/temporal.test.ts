// Temporal connection settings: TLS and the API key, as both the CLI and the worker get them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../lib/config';
import { temporalConnectionOptions } from '../../lib/temporal';
import { MINIMAL_SETTINGS } from '../support/settings';

const base = MINIMAL_SETTINGS;

test('no TLS settings: a plain connection', () => {
  assert.deepEqual(temporalConnectionOptions(loadConfig(base)), { address: 'localhost:7233' });
});

test('an API key turns TLS on (system CAs) unless TEMPORAL_TLS=false', () => {
  const cloud = { ...base, TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'key-1' };
  assert.deepEqual(temporalConnectionOptions(loadConfig(cloud)), {
    address: 'ns.acct.tmprl.cloud:7233',
    tls: {},
    apiKey: 'key-1',
  });
  assert.equal(temporalConnectionOptions(loadConfig({ ...cloud, TEMPORAL_TLS: 'false' })).tls, undefined);
});

test('a client certificate without its key is refused; an unreadable CA file is named', () => {
  assert.throws(
    () => loadConfig({ ...base, TEMPORAL_TLS_CLIENT_CERT_PATH: '/etc/walflow/client.pem' }),
    /TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH go together/,
  );
  const config = loadConfig({ ...base, TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/nonexistent/ca.pem' });
  assert.throws(
    () => temporalConnectionOptions(config),
    /TEMPORAL_TLS_SERVER_CA_CERT_PATH \/nonexistent\/ca.pem: ENOENT/,
  );
});
