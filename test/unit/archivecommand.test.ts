// archive_command as doctor reads it: the program, whether it pushes %p %f, and the env file.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseArchiveCommand, shellWords } from '../../lib/archivecommand';

describe('archive_command', () => {
  test('splits words as a shell does: quotes and escapes, no expansions', () => {
    assert.deepEqual(shellWords(`/opt/walflow/bin/walflow push "%p" '%f' --env-file /etc/my\\ walflow.env`), [
      '/opt/walflow/bin/walflow',
      'push',
      '%p',
      '%f',
      '--env-file',
      '/etc/my walflow.env',
    ]);
    assert.deepEqual(shellWords(`a "b \\"c\\"" ''`), ['a', 'b "c"', '']);
  });

  test('finds the walflow call, with --env-file F or --env-file=F', () => {
    assert.deepEqual(parseArchiveCommand('/opt/walflow/bin/walflow push %p %f --env-file /etc/walflow/walflow.env'), {
      program: '/opt/walflow/bin/walflow',
      pushes: true,
      envFile: '/etc/walflow/walflow.env',
    });
    assert.deepEqual(parseArchiveCommand('walflow --env-file=/etc/w.env push %p %f'), {
      program: 'walflow',
      pushes: true,
      envFile: '/etc/w.env',
    });
    assert.deepEqual(parseArchiveCommand('WALFLOW_ENV_FILE=/etc/w.env /usr/local/bin/walflow push %p'), {
      program: '/usr/local/bin/walflow',
      pushes: true,
      envFile: undefined,
    });
  });

  test('anything else is not walflow, or not a push', () => {
    assert.equal(parseArchiveCommand('pgbackrest --stanza=main archive-push %p'), undefined);
    assert.equal(parseArchiveCommand('/bin/true'), undefined);
    assert.equal(parseArchiveCommand(''), undefined);
    assert.equal(parseArchiveCommand('/opt/walflow-old/bin/walflow.sh push %p %f'), undefined);
    assert.equal(parseArchiveCommand('/opt/walflow/bin/walflow fetch %f %p')?.pushes, false);
  });
});
