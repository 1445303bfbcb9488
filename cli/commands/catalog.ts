// walflow catalog rebuild: the catalog database was lost; rebuild it from the stores.
import { SingleBar, Presets } from 'cli-progress';
import { migrateCatalog, openCatalog } from '../../db/client';
import { rebuildCatalog } from '../../db/rebuild';
import type { Config } from '../../lib/config';
import { openStores } from '../../lib/stores/registry';

export async function rebuild(config: Config): Promise<void> {
  const db = openCatalog(config.catalogUrl);
  const bar = new SingleBar(
    { format: 'reading stores {bar} {value}/{total} objects', stream: process.stderr },
    Presets.shades_classic,
  );
  let started = false;
  try {
    await migrateCatalog(db);
    const r = await rebuildCatalog(config.cluster, openStores(config.stores), db, (done, total) => {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    });
    if (started) bar.stop();
    process.stdout.write(
      `catalog rebuilt for ${config.cluster}: ${r.files} WAL files and ${r.copies} copies recorded, ${r.backups} backups\n`,
    );
    for (const s of r.skipped) process.stdout.write(`  skipped (no walflow metadata): ${s}\n`);
  } finally {
    await db.$client.end();
  }
}
