// The spool: where `push` leaves WAL for the worker. One folder per cluster:
//   <spool>/<cluster>/wal/<name>         complete files, waiting to be archived
//   <spool>/<cluster>/tmp/               push's temp files (a crash leaves debris here only)
//   <spool>/<cluster>/staged/            compressed copies being uploaded
//   <spool>/<cluster>/conflict/          files whose name the stores hold with other bytes
//   <spool>/<cluster>/system-identifier  the cluster's system identifier, fixed at first push
//   <spool>/<cluster>/full               present while push refuses files for want of room
import * as path from 'node:path';

export class SpoolPaths {
  readonly dir: string;
  constructor(
    readonly root: string,
    readonly cluster: string,
  ) {
    this.dir = path.join(root, cluster);
  }
  get walDir() {
    return path.join(this.dir, 'wal');
  }
  get tmpDir() {
    return path.join(this.dir, 'tmp');
  }
  get stagedDir() {
    return path.join(this.dir, 'staged');
  }
  get conflictDir() {
    return path.join(this.dir, 'conflict');
  }
  get systemIdFile() {
    return path.join(this.dir, 'system-identifier');
  }
  get fullMarker() {
    return path.join(this.dir, 'full');
  }
  wal(name: string) {
    return path.join(this.walDir, name);
  }
  staged(name: string, suffix: string) {
    return path.join(this.stagedDir, name + suffix);
  }
}
