// The fewest settings walflow starts with (one folder store), for unit tests of what a
// configuration gives.
export const MINIMAL_SETTINGS = {
  WALFLOW_CLUSTER: 'main',
  WALFLOW_SPOOL_DIR: '/var/lib/walflow/spool',
  WALFLOW_CATALOG_URL: 'postgres://walflow@catalog/walflow',
  WALFLOW_STORES: 'local',
  WALFLOW_STORE_LOCAL_TYPE: 'fs',
  WALFLOW_STORE_LOCAL_PATH: '/srv/archive',
};
