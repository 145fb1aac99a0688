import { auth } from './auth';
import type { CapabilityModule } from './capability';
import { connections } from './connections';
import { database } from './database';
import { databaseAdmin } from './database-admin';
import { feedProbe } from './feed-probe';
import { files } from './files';
import { idempotency } from './idempotency';
import { integrations } from './integrations';
import { queueStatus } from './queue-status';
import { rateLimits } from './rate-limits';
import { readReplica } from './read-replica';
import { reports, reportsRemover, reportsWriter } from './reports';
import { syntheticTransaction } from './synthetic-transaction';
import { thirdPartyServices } from './third-party';
import { websocket } from './websocket';

/** Every capability a function may declare in `needs`, by name: adding one is a module here and a line below. */
export const CAPABILITIES = {
  database,
  'database-admin': databaseAdmin,
  'read-replica': readReplica,
  idempotency,
  'rate-limits': rateLimits,
  integrations,
  connections,
  files,
  reports,
  'reports-writer': reportsWriter,
  'reports-remover': reportsRemover,
  // slack, sendgrid, github, googleCalendar: the services of functions/integrations/services.ts.
  ...thirdPartyServices,
  websocket,
  'feed-probe': feedProbe,
  'queue-status': queueStatus,
  auth,
  'synthetic-transaction': syntheticTransaction,
} as const satisfies Record<string, CapabilityModule>;

export type Capability = keyof typeof CAPABILITIES;
