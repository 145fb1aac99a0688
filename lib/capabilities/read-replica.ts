import { DATABASE_USERS } from './database-names';
import { type CapabilityModule, required } from './capability';

/**
 * The database's read replica where the deployment has one (`-c readReplica=true`), for long reads that would
 * otherwise load the primary: reached directly (not through the proxy) as `taskflow_reader` with IAM auth. Without a
 * replica the reads go to the primary through the proxy (DB_HOST), so it comes with `database`.
 */
export const readReplica: CapabilityModule = {
  summary: 'The read replica where there is one (long reads); the primary otherwise',
  network: 'vpc',
  requires: ['database'],
  settings: ['DB_READ_QUERY_TIMEOUT_MS'],
  aws(platform) {
    const replica = required(platform.database, 'read-replica', 'the database construct').readReplica;
    if (!replica) return {};
    return {
      environment: { DB_READ_HOST: replica.endpointAddress, DB_READ_USER: DATABASE_USERS.reader },
      grant: (fn) => replica.grantConnect(fn, DATABASE_USERS.reader),
    };
  },
  local: ({ database }): Record<string, string> => (database.readUrl ? { DATABASE_READ_URL: database.readUrl } : {}),
};
