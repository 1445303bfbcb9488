// Workflow code is replayed: it may import only the workflow SDK, common types, other workflow
// modules, activity modules as types, and lib modules that import at run time nothing but other
// such lib modules (pure data and functions). A Node built-in, pg or the AWS SDK there is a bug.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

const SRC = path.resolve(__dirname, '..', '..', '..');
const ALLOWED = [/^@temporalio\/(workflow|common)$/, /^\.\/[\w-]+$/];
const PURE_LIB = /^\.\.\/lib\/[\w-]+$/;
/** Run-time imports a pure lib module may have: zod parses in memory, with no I/O and no clock. */
const PURE_DEPENDENCIES = ['zod'];

function runtimeImports(file: string): string[] {
  const src = fs.readFileSync(file, 'utf8');
  assert.doesNotMatch(src, /\brequire\(/, `${path.relative(SRC, file)} uses require()`);
  return [...src.matchAll(/^(import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'/gm)]
    .filter((m) => !m[2])
    .map((m) => m[3]);
}

/** A lib module workflow code may import: it imports at run time only other such lib modules. */
function assertPure(file: string, via: string): void {
  for (const spec of runtimeImports(file)) {
    if (PURE_DEPENDENCIES.includes(spec)) continue;
    assert.match(
      spec,
      /^\.\/[\w-]+$/,
      `${via}, which imports '${spec}' at run time: it must stay usable in workflow code`,
    );
    assertPure(path.join(path.dirname(file), `${spec}.ts`), `${via} (through '${spec}')`);
  }
}

test('workflows import nothing with side effects', () => {
  const dir = path.join(SRC, 'workflows');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length > 0);
  for (const f of files) {
    for (const spec of runtimeImports(path.join(dir, f))) {
      if (PURE_LIB.test(spec)) {
        assertPure(path.join(dir, `${spec}.ts`), `${f} imports '${spec}'`);
        continue;
      }
      assert.ok(
        ALLOWED.some((re) => re.test(spec)),
        `${f} imports '${spec}' at run time; import it as a type or move the work to an activity`,
      );
    }
  }
});
