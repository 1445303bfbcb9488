// Temporal over mutual TLS: a TLS endpoint (a Node TLS server in front of the test stack's
// Temporal, asking for a client certificate signed by its CA) that the worker and the CLI reach
// with TEMPORAL_TLS_* settings; without the client certificate, or without TLS, the CLI says
// in one line that it cannot reach Temporal.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { chownToPostgres, freePort, postgresUser, ROOT } from '../lib/devstack/procs';
import { openStack } from '../lib/devstack/stack';
import { TestEnv } from './support/env';

let env: TestEnv;
let proxy: tls.Server;
let certDir: string;
let authorized = 0;
let direct: Connection;

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl. */
function makeCertificates(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=walflow test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ]) {
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext + '\n');
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
  }
}

before(async () => {
  const stackDir = process.env.WALFLOW_TEST_STACK!;
  const temporal = openStack(stackDir).env().TEMPORAL_ADDRESS;
  certDir = path.join(stackDir, 'env', 'tls-certs');
  fs.mkdirSync(certDir, { recursive: true });
  makeCertificates(certDir);
  chownToPostgres(certDir, ...fs.readdirSync(certDir).map((f) => path.join(certDir, f)));
  const [host, port] = temporal.split(':');
  proxy = tls.createServer(
    {
      key: fs.readFileSync(path.join(certDir, 'server.key')),
      cert: fs.readFileSync(path.join(certDir, 'server.pem')),
      ca: fs.readFileSync(path.join(certDir, 'ca.pem')),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (socket) => {
      authorized++;
      const upstream = net.connect(Number(port), host);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    },
  );
  proxy.on('tlsClientError', () => undefined); // refused handshakes are what some tests want
  const proxyPort = await freePort();
  await new Promise<void>((resolve) => proxy.listen(proxyPort, '127.0.0.1', resolve));
  env = new TestEnv('tls', {
    TEMPORAL_ADDRESS: `127.0.0.1:${proxyPort}`,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(certDir, 'ca.pem'),
    TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(certDir, 'client.pem'),
    TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(certDir, 'client.key'),
  });
  await env.startWorker();
  direct = await Connection.connect({ address: temporal });
});

after(async () => {
  await env?.close();
  await direct?.close();
  proxy?.close();
});

/**
 * `walflow` as postgres, without blocking: the TLS endpoint runs in this process, and
 * TestEnv.walflow's spawnSync would stop it from answering.
 */
function walflow(args: string[]): Promise<{ status: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      path.join(ROOT, 'bin', 'walflow'),
      args.includes('--env-file') ? args : [...args, '--env-file', env.envFile],
      { cwd: '/', encoding: 'utf8', env: { PATH: '/usr/bin:/bin' }, ...(postgresUser() ?? {}) },
      (e, _stdout, stderr) => resolve({ status: e ? Number(e.code ?? 1) : 0, stderr }),
    );
  });
}

/** The last line of a command's stderr (Node's warnings may come before it). */
const lastLine = (stderr: string) => stderr.trimEnd().split('\n').pop()!;

/** The env file with some settings left out. */
function envWithout(name: string, ...settings: string[]): string {
  const file = path.join(env.dir, `${name}.env`);
  const lines = fs
    .readFileSync(env.envFile, 'utf8')
    .split('\n')
    .filter((l) => !settings.some((s) => l.startsWith(`${s}=`)));
  fs.writeFileSync(file, lines.join('\n'), { mode: 0o644 });
  return file;
}

test('worker and CLI reach Temporal over mutual TLS', { timeout: 120_000 }, async () => {
  const before = authorized;
  const r = await walflow(['archive']);
  assert.equal(r.status, 0, r.stderr);
  const workflowId = /sweep started: (\S+)/.exec(r.stderr)![1];
  // The sweep ran on the worker, which polls through the same TLS endpoint only.
  const client = new Client({ connection: direct, namespace: env.config.temporalNamespace });
  const result: unknown = await client.workflow.getHandle(workflowId).result();
  assert.deepEqual(result, { started: 0, skipped: 0, failed: 0 });
  assert.ok(authorized > before, 'the CLI came through the TLS endpoint');
});

test('without the client certificate, or without TLS, the CLI says it cannot reach Temporal', async () => {
  const noCert = await walflow([
    'archive',
    '--env-file',
    envWithout('no-client-cert', 'TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH'),
  ]);
  assert.equal(noCert.status, 1);
  assert.match(
    lastLine(noCert.stderr),
    /^walflow: cannot reach Temporal at 127\.0\.0\.1:\d+ over TLS .*TEMPORAL_TLS_\* settings$/,
  );
  const plain = await walflow([
    'archive',
    '--env-file',
    envWithout(
      'no-tls',
      'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
      'TEMPORAL_TLS_CLIENT_CERT_PATH',
      'TEMPORAL_TLS_CLIENT_KEY_PATH',
    ),
  ]);
  assert.equal(plain.status, 1);
  assert.match(lastLine(plain.stderr), /^walflow: cannot reach Temporal at 127\.0\.0\.1:\d+ \(.*fix TEMPORAL_ADDRESS$/);
});
