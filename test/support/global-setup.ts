import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { taskflow } from '../../lib/app';
import { createScratchDatabase, startDatabase } from '../../lib/local/database';
import { startDynamoDb } from '../../lib/local/dynamodb';
import { startS3 } from '../../lib/local/s3';
import { startSqs } from '../../lib/local/sqs';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    databaseKind: 'postgresql' | 'pglite';
    /** What the handlers need to reach the run's dynalite (endpoint, region, credentials, tables). */
    dynamoDbEnvironment: Record<string, string>;
    /** What the handlers need to reach the run's local SQS (endpoint, region, credentials, queue URLs, OUTBOX_ROUTES). */
    sqsEnvironment: Record<string, string>;
    /** What the handlers need to reach the run's local S3 (AWS_ENDPOINT_URL_S3, FILES_BUCKET_NAME, region, credentials). */
    s3Environment: Record<string, string>;
  }
}

/**
 * One migrated database for the run: a fresh database on the real server named by
 * TASKFLOW_TEST_DATABASE_URL (CI sets it), or the embedded PGlite when it is not set. Also one
 * dynalite, one local SQS (the declared queues, a 2 s visibility timeout) and one local S3 (the files
 * bucket, in a temporary folder) that the handlers reach.
 */
export default async function setup(project: TestProject) {
  const dynamo = await startDynamoDb(taskflow.tables);
  project.provide('dynamoDbEnvironment', dynamo.environment);
  // Nothing consumes these queues in the run; a test that does starts its own SQS (or its own runtime).
  const sqs = await startSqs(taskflow, { port: 0, visibilityTimeoutSeconds: 2 });
  project.provide('sqsEnvironment', sqs.environment);
  const s3 = await startS3();
  project.provide('s3Environment', s3.environment);
  const serverUrl = process.env.TASKFLOW_TEST_DATABASE_URL;
  if (serverUrl) {
    const database = await createScratchDatabase(serverUrl, 'taskflow_test');
    project.provide('databaseUrl', database.url);
    project.provide('databaseKind', 'postgresql');
    return async () => {
      await database.drop();
      await dynamo.stop();
      await sqs.stop();
      await s3.stop();
    };
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'taskflow-test-'));
  const database = await startDatabase({ dataDir });
  project.provide('databaseUrl', database.url);
  project.provide('databaseKind', 'pglite');
  return async () => {
    await database.stop();
    await dynamo.stop();
    await sqs.stop();
    await s3.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}
