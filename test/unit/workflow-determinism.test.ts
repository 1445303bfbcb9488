// Workflow code is replayed: it may import only the workflow SDK, common types, other workflow
// modules, and activity modules as types. A Node built-in, pg or the AWS SDK there is a bug.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

const WORKFLOWS = path.resolve(__dirname, '..', '..', '..', 'workflows');
const ALLOWED = [/^@temporalio\/(workflow|common)$/, /^\.\/[\w-]+$/];

test('workflows import nothing with side effects', () => {
  const files = fs.readdirSync(WORKFLOWS).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length > 0);
  for (const f of files) {
    const src = fs.readFileSync(path.join(WORKFLOWS, f), 'utf8');
    for (const m of src.matchAll(/^(import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'/gm)) {
      const [, , typeOnly, spec] = m;
      if (typeOnly) continue;
      assert.ok(ALLOWED.some((re) => re.test(spec)), `${f} imports '${spec}' at run time; import it as a type or move the work to an activity`);
    }
    assert.doesNotMatch(src, /\brequire\(/, `${f} uses require()`);
  }
});
