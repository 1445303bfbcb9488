// What this worker's uploads of one cluster's spool files have done lately: which store holds
// which file, and which stores are failing. The watcher reads it to tell a run still busy with
// work it can do now from one that only waits for a store that is down.

export class UploadProgress {
  /** Stores whose last upload attempt here failed; a success clears the mark. */
  private readonly failing = new Set<string>();
  /** Spool file name -> the stores that confirmed a copy of it. */
  private readonly held = new Map<string, Set<string>>();

  copied(store: string, name: string): void {
    this.failing.delete(store);
    let stores = this.held.get(name);
    if (!stores) this.held.set(name, (stores = new Set()));
    stores.add(store);
  }

  failed(store: string): void {
    this.failing.add(store);
  }

  /** Every store of `stores` holds the file, or failed its last attempt: the run waits for a store to return. */
  waitsOnFailingStoresOnly(name: string, stores: string[]): boolean {
    const held = this.held.get(name);
    return stores.every((s) => held?.has(s) || this.failing.has(s));
  }

  /** Forgets the files that left the spool. */
  retain(spooled: Set<string>): void {
    for (const name of this.held.keys()) if (!spooled.has(name)) this.held.delete(name);
  }
}
