// walflow catalog rebuild: the catalog database was lost; rebuild it from the stores.
import { SingleBar, Presets } from 'cli-progress';
import { withCatalog } from '../../db/client';
import { rebuildCatalog } from '../../db/rebuild';
import type { Config } from '../../lib/config';
import { clusterJsonKey } from '../../lib/keys';
import { openStores } from '../../lib/stores/registry';
import type { Store } from '../../lib/stores/store';
import { networkFailure, storeUnreachable } from '../../lib/unreachable';

export async function rebuild(config: Config): Promise<void> {
  const stores = openStores(config.stores);
  const bar = new SingleBar(
    { format: 'reading stores {bar} {value}/{total} objects', stream: process.stderr },
    Presets.shades_classic,
  );
  let started = false;
  const r = await withCatalog(config.catalogUrl, async (db) => {
    await requireAnswers(config, stores);
    return rebuildCatalog(config.cluster, stores, db, (done, total) => {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    });
  });
  if (started) bar.stop();
  process.stdout.write(
    `catalog rebuilt for ${config.cluster}: ${r.files} WAL files and ${r.copies} copies recorded, ${r.backups} backups\n`,
  );
  for (const s of r.skipped) process.stdout.write(`  skipped (no walflow metadata): ${s}\n`);
}

/** A rebuild from only some of the stores would record too few copies: each store must answer first. */
async function requireAnswers(config: Config, stores: Map<string, Store>): Promise<void> {
  for (const cfg of config.stores) {
    try {
      await stores.get(cfg.name)!.head(clusterJsonKey(config.cluster));
    } catch (e) {
      const why = networkFailure(e);
      throw why ? storeUnreachable(cfg, why) : e;
    }
  }
}
