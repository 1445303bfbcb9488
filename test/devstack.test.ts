// `walflow dev up` on a machine where Temporal's usual ports are taken (by another Temporal, or
// here by this test): it falls back to free ports, says so, and prints where everything is and
// how to reach it with the temporal CLI. The test stack itself never takes the usual ports.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../lib/devstack/procs';
import { openStack, TEMPORAL_PORT, TEMPORAL_UI_PORT } from '../lib/devstack/stack';

const walflow = (args: string[]) => spawnSync(path.join(ROOT, 'bin', 'walflow'), args, { encoding: 'utf8', cwd: '/' });

/** Holds a port if it is free; a port someone else holds is taken all the same. */
async function hold(port: number): Promise<net.Server | undefined> {
  const srv = net.createServer();
  return new Promise((resolve) => {
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

test("the test stack runs on free ports, never on Temporal's usual ones", () => {
  const { ports } = openStack(process.env.WALFLOW_TEST_STACK!).state;
  assert.notEqual(ports.temporal, TEMPORAL_PORT);
  assert.notEqual(ports.ui, TEMPORAL_UI_PORT);
});

test(
  'dev up with 7233 and 8233 taken: free ports instead, and says where everything is',
  { timeout: 240_000 },
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'walflow-devup-'));
    fs.chmodSync(dir, 0o755);
    const held = [await hold(TEMPORAL_PORT), await hold(TEMPORAL_UI_PORT)];
    try {
      const up = walflow(['dev', 'up', '--dir', dir]);
      assert.equal(up.status, 0, up.stdout + up.stderr);
      const { ports } = openStack(dir).state;
      assert.notEqual(ports.temporal, TEMPORAL_PORT);
      assert.notEqual(ports.ui, TEMPORAL_UI_PORT);
      for (const line of [
        `Temporal      127.0.0.1:${ports.temporal}   (7233 was taken)`,
        `Web UI        http://127.0.0.1:${ports.ui}`,
        `S3 r2         http://127.0.0.1:${ports.r2}`,
        `catalog       postgres://postgres@127.0.0.1:${ports.catalog}/postgres`,
        `settings: ${path.join(dir, 'dev.env')}`,
        `temporal CLI: temporal workflow list --address 127.0.0.1:${ports.temporal}`,
      ])
        assert.ok(up.stdout.includes(line), `dev up prints "${line}":\n${up.stdout}`);
      const list = spawnSync(
        path.join(ROOT, '.tools', 'bin', 'temporal'),
        ['schedule', 'list', '--address', `127.0.0.1:${ports.temporal}`],
        { encoding: 'utf8' },
      );
      assert.equal(list.status, 0, list.stderr);
      assert.match(list.stdout, /retention\/demo/, "the printed address reaches the stack's Temporal");
    } finally {
      for (const s of held) s?.close();
      const down = walflow(['dev', 'down', '--dir', dir]);
      assert.equal(down.status, 0, down.stderr);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
