// Host activities of a restore drill: a scratch folder and port, the check query against the
// restored cluster, and removal of everything afterwards (the drill leaves nothing running).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { Client } from 'pg';
import type { Config } from '../lib/config';
import { dataDirMajor, pgTool, postgresUser } from '../lib/pgbin';
import { freePort } from '../lib/ports';

/** Where the restored postmaster listens: its socket folder (peer auth as postgres) or loopback. */
function socketHost(pgdata: string): string {
  try {
    const lines = fs.readFileSync(path.join(pgdata, 'postmaster.pid'), 'utf8').split('\n');
    return lines[4]?.trim() || '127.0.0.1';
  } catch {
    return '127.0.0.1';
  }
}

const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(1);

/** What is wrong with drilling in `dir` with `free` bytes when it needs `need`; undefined when nothing is. */
export function spaceProblem(need: number, free: number, dir: string): string | undefined {
  if (free >= need) return undefined;
  return (
    `the drill needs ${gib(need)} GiB in ${dir}, ${gib(free)} GiB free: ` +
    'free some space there, or point WALFLOW_DRILL_DIR (or the drill host) elsewhere'
  );
}

export function drillActivities(config: Config) {
  return {
    async drillPrepare({ cluster, drillId }: { cluster: string; drillId: string }) {
      const root = config.drillDir ?? path.join(os.tmpdir(), 'walflow-drills');
      const scratch = path.join(root, `${cluster}-${drillId}`);
      fs.mkdirSync(scratch, { recursive: true, mode: 0o700 });
      return { scratch, pgdata: path.join(scratch, 'data'), port: await freePort() };
    },

    /** Refuses a drill host without the room: a restore that fills its disk could hurt what else runs there. */
    async drillCheckSpace({ scratch, needBytes }: { scratch: string; needBytes: number }) {
      const s = await fs.promises.statfs(scratch);
      const problem = spaceProblem(needBytes, s.bavail * s.bsize, scratch);
      if (problem) throw ApplicationFailure.nonRetryable(problem, 'NoRoom');
    },

    async drillCheck({ pgdata, port, query: sql }: { pgdata: string; port: number; query: string }) {
      const c = new Client({
        host: socketHost(pgdata),
        port,
        user: 'postgres',
        database: 'postgres',
        connectionTimeoutMillis: 10_000,
      });
      await c.connect();
      try {
        const r = await c.query<Record<string, unknown>>(sql);
        return { query: sql, rows: r.rowCount ?? 0, first: r.rows[0] ?? null };
      } finally {
        await c.end();
      }
    },

    /** Stops the restored cluster if it runs and removes the scratch folder. */
    async drillCleanup({ scratch, pgdata }: { scratch: string; pgdata: string }) {
      if (fs.existsSync(path.join(pgdata, 'postmaster.pid'))) {
        const user = process.getuid?.() === 0 ? postgresUser() : undefined;
        try {
          execFileSync(pgTool('pg_ctl', dataDirMajor(pgdata)), ['-D', pgdata, '-m', 'immediate', '-w', 'stop'], {
            stdio: 'ignore',
            cwd: '/',
            ...(user ?? {}),
          });
        } catch {
          /* not running after all */
        }
      }
      await fs.promises.rm(scratch, { recursive: true, force: true }); // a whole restored cluster: off the event loop
    },
  };
}
