import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EventBridgeEvent } from 'aws-lambda';
import { loadMigrations } from '../db/migrator';
import { connectAsOwner } from '../db/owner-connection';
import { runRestoreChecks, summarize } from '../domain/restore-checks';
import { awsRestJson } from '../shared/aws-json';
import { requiredEnv } from '../shared/env';
import { lambdaHandler } from '../shared/handler';
import { logger } from '../shared/logger';
import { metrics } from '../shared/metrics';
import { RESTORE_METRICS } from '../shared/telemetry';

/** The part of AWS Backup's `Restore Job State Change` event this function reads. */
interface RestoreJobEvent {
  restoreJobId: string;
  status: string;
  createdResourceArn?: string;
}

/** DescribeRestoreJob's answer, the fields used (dates in epoch seconds, as REST-JSON sends them). */
interface RestoreJob {
  CreationDate: number;
  CompletionDate?: number;
  RecoveryPointCreationDate?: number;
  CreatedResourceArn?: string;
  CreatedBy?: { RestoreTestingPlanArn?: string };
}

// Made per invocation: one a week, and the endpoint read from the environment of that run.
const backupApi = () => awsRestJson({ service: 'backup', endpointVariable: 'AWS_ENDPOINT_URL_BACKUP', timeoutMs: 10_000 });

/**
 * The restore testing plan's validator (review M9): when AWS Backup has restored the database for a test, runs
 * TaskFlow's own checks on the restored instance (functions/domain/restore-checks.ts), reports the result to AWS Backup
 * (the restore job's validation status) and publishes the measured RTO (the restore's duration) and RPO (the recovery
 * point's age when the restore started), which the operations stack alarms on. AWS Backup deletes the instance after.
 */
export const handler = lambdaHandler(validateRestore, (event) => event.id);

async function validateRestore(
  event: EventBridgeEvent<'Restore Job State Change', RestoreJobEvent>,
): Promise<{ status: 'ignored' } | { status: 'SUCCESSFUL' | 'FAILED'; message: string; rtoSeconds: number; rpoSeconds: number | undefined }> {
  const { restoreJobId } = event.detail;
  if (event.detail.status !== 'COMPLETED') return { status: 'ignored' };
  const backup = backupApi();
  const job = await backup<RestoreJob>('GET', `/restore-jobs/${encodeURIComponent(restoreJobId)}`);
  // An operator's own restore (docs/runbooks/restore.md) is not a test: nothing to report, no figures.
  if (!job.CreatedBy?.RestoreTestingPlanArn) return { status: 'ignored' };
  const rtoSeconds = (job.CompletionDate ?? Date.now() / 1000) - job.CreationDate;
  const rpoSeconds = job.RecoveryPointCreationDate === undefined ? undefined : job.CreationDate - job.RecoveryPointCreationDate;
  metrics.addMetric(RESTORE_METRICS.duration, MetricUnit.Seconds, rtoSeconds);
  if (rpoSeconds !== undefined) metrics.addMetric(RESTORE_METRICS.recoveryPointAge, MetricUnit.Seconds, rpoSeconds);

  let status: 'SUCCESSFUL' | 'FAILED';
  let message: string;
  try {
    const results = await checkRestoredInstance(job.CreatedResourceArn ?? event.detail.createdResourceArn);
    status = results.every((result) => result.ok) ? 'SUCCESSFUL' : 'FAILED';
    message = summarize(results);
  } catch (error) {
    status = 'FAILED';
    message = `could not check the restored database: ${(error as Error).message}`.slice(0, 1000);
  }
  metrics.addMetric(RESTORE_METRICS.validationFailed, MetricUnit.Count, status === 'FAILED' ? 1 : 0);
  metrics.publishStoredMetrics();
  logger[status === 'FAILED' ? 'error' : 'info']('restore test validated', { restoreJobId, status, message, rtoSeconds, rpoSeconds });
  await backup('PUT', `/restore-jobs/${encodeURIComponent(restoreJobId)}/validations`, { ValidationStatus: status, ValidationStatusMessage: message });
  return { status, message, rtoSeconds, rpoSeconds };
}

/**
 * The restored instance is reached as the primary is, with its master credentials (the restore keeps them; a rotation
 * since the recovery point shows as a failed login), at its own identifier: RDS endpoints of one account and region
 * differ only in that first label.
 */
async function checkRestoredInstance(instanceArn: string | undefined) {
  const identifier = /:db:([a-z][a-z0-9-]*)$/.exec(instanceArn ?? '')?.[1];
  if (!identifier) throw new Error(`not an RDS instance: ${instanceArn}`);
  const client = await connectAsOwner({ host: requiredEnv('DB_HOST').replace(/^[^.]+/, identifier) });
  try {
    // One snapshot for every check, and nothing written to the copy.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return await runRestoreChecks(client, await loadMigrations());
  } finally {
    await client.end();
  }
}
