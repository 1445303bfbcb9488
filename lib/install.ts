// Where this walflow is installed. PostgreSQL runs archive_command and restore_command with its
// own environment, so commands written into its settings name bin/walflow by absolute path.
import * as path from 'node:path';

/** The project folder: compiled code runs from <root>/dist/lib. */
export const ROOT = path.resolve(__dirname, '..', '..');

export const WALFLOW_BIN = path.join(ROOT, 'bin', 'walflow');
