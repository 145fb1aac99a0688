import { createServer, type Server } from 'node:http';
import type { EventBridgeEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../functions/workers/restore-validation';
import { lambdaContext } from '../../lib/local/proxy-event';
import { ownDatabase } from '../support/own-database';
import { sqlAt } from '../support/sql';

// The restore test's validator as AWS Backup's event runs it: the restore job read from AWS Backup, TaskFlow's checks on
// the restored database (its own here, reached as `localhost`: the restored instance's identifier in the primary's
// address), the result reported back. Stand-ins: one HTTP server plays AWS Backup and the Parameters and Secrets extension.
let database: Awaited<ReturnType<typeof ownDatabase>>;
let server: Server;
let job: Record<string, unknown>;
const reported: { path: string; body: any }[] = [];

const event = (restoreJobId: string) =>
  ({ source: 'aws.backup', 'detail-type': 'Restore Job State Change', detail: { restoreJobId, status: 'COMPLETED' } }) as unknown as EventBridgeEvent<'Restore Job State Change', { restoreJobId: string; status: string }>;

// What this file points elsewhere (the Backup API, the secrets extension, the database) is put back after it: the
// files of a worker share process.env.
const environmentBefore = { ...process.env };

beforeAll(async () => {
  database = await ownDatabase('restore_validation');
  const url = new URL(database.url);
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const path = new URL(req.url!, 'http://localhost').pathname;
      if (path.startsWith('/secretsmanager/get')) {
        res.end(JSON.stringify({ SecretString: JSON.stringify({ username: decodeURIComponent(url.username) || 'postgres', password: decodeURIComponent(url.password) }) }));
      } else if (req.method === 'GET' && path === '/restore-jobs/job-1') {
        res.end(JSON.stringify(job));
      } else if (req.method === 'PUT' && path === '/restore-jobs/job-1/validations') {
        reported.push({ path, body: JSON.parse(body) });
        res.writeHead(204).end();
      } else {
        res.writeHead(404).end(JSON.stringify({ message: `no ${req.method} ${path}` }));
      }
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as { port: number }).port;
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_BACKUP: `http://127.0.0.1:${port}`,
    PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String(port),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_SESSION_TOKEN: 'session-token',
    DB_MASTER_SECRET_ARN: 'arn:master',
    DB_HOST: 'localhost',
    DB_PORT: url.port || '5432',
    DB_NAME: url.pathname.slice(1),
    DB_TLS: 'disable',
  });
});

afterAll(async () => {
  server?.close();
  await database?.drop();
  for (const name of Object.keys(process.env)) if (!(name in environmentBefore)) delete process.env[name];
  Object.assign(process.env, environmentBefore);
});

beforeEach(() => {
  reported.length = 0;
  job = {
    CreationDate: 1_800_000_000,
    CompletionDate: 1_800_000_000 + 1_500,
    RecoveryPointCreationDate: 1_800_000_000 - 120,
    CreatedResourceArn: 'arn:aws:rds:us-east-1:123456789012:db:localhost',
    CreatedBy: { RestoreTestingPlanArn: 'arn:aws:backup:us-east-1:123456789012:restore-testing-plan:TaskFlow_weekly_restore_test-abc' },
  };
});

describe('restore validation', () => {
  it('checks a restored copy, reports SUCCESSFUL to AWS Backup and measures RTO and RPO', async () => {
    const result = await handler(event('job-1'), lambdaContext('RestoreValidation', 300_000));
    expect(result).toMatchObject({ status: 'SUCCESSFUL', rtoSeconds: 1_500, rpoSeconds: 120 });
    expect(reported).toEqual([{ path: '/restore-jobs/job-1/validations', body: { ValidationStatus: 'SUCCESSFUL', ValidationStatusMessage: expect.stringContaining('all 4 checks passed') } }]);
  });

  it('reports FAILED with what the checks found', async () => {
    const sql = sqlAt(database.url);
    const [latest] = await sql<{ version: string; checksum: string }>('SELECT version, checksum FROM schema_migrations ORDER BY version DESC LIMIT 1');
    await sql('DELETE FROM schema_migrations WHERE version = $1', [latest!.version]);
    try {
      expect(await handler(event('job-1'), lambdaContext('RestoreValidation', 300_000))).toMatchObject({ status: 'FAILED' });
      expect(reported[0]!.body).toEqual({ ValidationStatus: 'FAILED', ValidationStatusMessage: `migrations: migration ${latest!.version} is not applied` });
    } finally {
      await sql('INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)', [latest!.version, latest!.checksum]);
    }
  });

  it('reports FAILED when the copy cannot be reached', async () => {
    job.CreatedResourceArn = 'arn:aws:s3:::not-a-database';
    expect(await handler(event('job-1'), lambdaContext('RestoreValidation', 300_000))).toMatchObject({ status: 'FAILED' });
    expect(reported[0]!.body.ValidationStatusMessage).toMatch(/^could not check the restored database: not an RDS instance/);
  });

  it('leaves an operator\'s own restore alone', async () => {
    delete job.CreatedBy;
    expect(await handler(event('job-1'), lambdaContext('RestoreValidation', 300_000))).toEqual({ status: 'ignored' });
    expect(reported).toEqual([]);
  });
});
