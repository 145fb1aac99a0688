import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { ScheduledEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskflow } from '../../lib/app';
import type { FunctionDeclaration } from '../../lib/declaration';
import { localHandler } from '../../lib/local/functions';
import { lambdaContext } from '../../lib/local/proxy-event';
import { startLocalRuntime, type LocalRuntime } from '../../lib/local/runtime';
import { ownDatabase } from '../support/own-database';

// The local runtime as strict as Lambda: each invocation sees only the variables its declaration gives it, so a
// function that forgot a capability fails on `npm start` as it would after `cdk deploy`.

let runtime: LocalRuntime;
let database: Awaited<ReturnType<typeof ownDatabase>>;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'taskflow-strict-'));
  database = await ownDatabase('taskflow_e2e_strict');
  runtime = await startLocalRuntime({ port: 0, dataDir, databaseUrl: database.url, schedules: false });
});

afterAll(async () => {
  await runtime.stop();
  await database?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

type Environment = Record<string, string | undefined>;
const probe = (name: string, declaration: Omit<FunctionDeclaration, 'entry' | 'description'>) =>
  localHandler<{ pauseMs?: number }, Environment>(name, { entry: 'test/support/environment-probe.ts', description: 'probe', ...declaration }, runtime.services);
const invoke = <R>(handler: (event: never, context: ReturnType<typeof lambdaContext>) => Promise<R>, name: string, event: unknown) =>
  handler(event as never, lambdaContext(name, 10_000));
const sweep = (needs: FunctionDeclaration['needs']) =>
  localHandler<ScheduledEvent, { checked: number; removed: number }>('AttachmentSweep', { ...taskflow.schedules.attachmentSweep.function, needs }, runtime.services);
const scheduled = { id: 'strictness', 'detail-type': 'Scheduled Event', source: 'aws.events', time: new Date().toISOString() };

describe('the local runtime gives each function only its own environment', () => {
  it('a function sees what Lambda sets, TaskFlow\'s defaults and its capabilities\' variables, nothing else', async () => {
    const seen = await invoke(probe('Probe', { needs: ['idempotency'], sendsTo: ['slack'] }), 'Probe', {});
    expect(Object.keys(seen).sort()).toEqual(
      [
        'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
        // Lambda Managed Instances' (several invocations at once in one environment, as here): lib/local/functions.ts.
        'AWS_LAMBDA_MAX_CONCURRENCY',
        'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_LOG_LEVEL', 'POWERTOOLS_METRICS_DISABLED', 'NODE_OPTIONS',
        'AWS_ENDPOINT_URL_DYNAMODB', 'IDEMPOTENCY_TABLE_NAME',
        'AWS_ENDPOINT_URL_SQS', 'SLACK_QUEUE_URL', 'OUTBOX_ROUTES',
        'SET_BY_THE_PROBE',
      ].sort(),
    );
    expect(seen).toMatchObject({ AWS_LAMBDA_FUNCTION_NAME: 'Probe', SLACK_QUEUE_URL: runtime.sqs.queueUrl('slack') });
    // What the runtime itself has (its PATH, the suite's database URL) stays outside.
    expect(process.env.PATH).toBeTruthy();
    expect(seen.PATH).toBeUndefined();
    expect(seen.DATABASE_URL).toBeUndefined();
  });

  it('keeps overlapping invocations apart, and what one sets inside', async () => {
    const [slow, quick] = await Promise.all([
      invoke(probe('Slow', { needs: ['sendgrid'] }), 'Slow', { pauseMs: 200 }),
      invoke(probe('Quick', { needs: ['database'] }), 'Quick', { pauseMs: 10 }),
    ]);
    expect(slow).toMatchObject({ AWS_LAMBDA_FUNCTION_NAME: 'Slow', SENDGRID_API_KEY: runtime.credentials.sendgrid });
    expect(slow.DATABASE_URL).toBeUndefined();
    expect(quick).toMatchObject({ AWS_LAMBDA_FUNCTION_NAME: 'Quick', DATABASE_URL: runtime.databaseUrl });
    expect(quick.SENDGRID_API_KEY).toBeUndefined();
    expect(process.env.SET_BY_THE_PROBE).toBeUndefined();
  });

  it('fails a function that forgot a capability as Lambda would, and runs it as declared', async () => {
    // The attachment sweep reads the database and the files bucket; without `database` it has no DB_HOST (nor
    // DATABASE_URL), as in AWS, even though other functions of this process hold a pool to the same database.
    await expect(invoke(sweep(['files']), 'AttachmentSweep', scheduled)).rejects.toThrow('DB_HOST is not set');
    await expect(invoke(sweep(taskflow.schedules.attachmentSweep.function.needs), 'AttachmentSweep', scheduled)).resolves.toMatchObject({
      checked: expect.any(Number),
      removed: expect.any(Number),
    });
  });

  it('runs the attachment sweep as declared: a record whose object is gone is removed, and its event published', async () => {
    const org = `org_strict_${Date.now()}`;
    const token = await runtime.issuer.mint({ org, user: 'alice' });
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${runtime.url}${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return (await response.json()) as Record<string, any>;
    };
    const project = await call('POST', '/projects', { name: 'Sweep' });
    const task = await call('POST', `/projects/${project.id}/tasks`, { title: 'Has a file' });
    const started = await call('POST', `/tasks/${task.id}/attachments`, { fileName: 'a.txt', contentType: 'text/plain', size: 3 });
    const form = new FormData();
    for (const [name, value] of Object.entries(started.upload.fields as Record<string, string>)) form.append(name, value);
    form.append('file', new Blob([Buffer.from('abc')]), 'a.txt');
    expect((await fetch(started.upload.url, { method: 'POST', body: form })).status).toBeLessThan(300);
    await call('POST', `/attachments/${started.attachmentId}/confirm`);
    expect((await call('GET', `/tasks/${task.id}/attachments`)).items).toHaveLength(1);
    // Gone behind TaskFlow's back.
    const { AWS_ENDPOINT_URL_S3: endpoint, FILES_BUCKET_NAME: bucket, AWS_REGION: region, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } =
      runtime.s3.environment;
    const s3 = new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey! } });
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `attachments/${org}/${started.attachmentId}` }));
    s3.destroy();
    await runtime.runSchedule('attachmentSweep');
    const after = await call('GET', `/tasks/${task.id}/attachments`);
    expect(after.items, JSON.stringify(after)).toEqual([]);
  });

  it('refuses a declaration whose capabilities cannot go together, as the CDK app does', () => {
    expect(() => probe('Refused', { needs: ['database', 'slack'] })).toThrow(/no route to the internet/);
  });
});
