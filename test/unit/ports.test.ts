// The dev stack's port choice: the preferred port when nothing listens there, a free one when taken.
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { test } from 'node:test';
import { freePort, portIfFree } from '../../lib/devstack/procs';

test('portIfFree gives the preferred port while it is free, another free port once it is taken', async () => {
  const preferred = await freePort();
  assert.equal(await portIfFree(preferred), preferred);
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(preferred, '127.0.0.1', r));
  try {
    const other = await portIfFree(preferred);
    assert.notEqual(other, preferred);
    assert.ok(other > 0);
  } finally {
    await new Promise((r) => holder.close(r));
  }
});
