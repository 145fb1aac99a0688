import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { scramSha256Verifier } from '../../functions/migrate/handler';
import { lambdaContext } from '../../lib/local/proxy-event';
import { sql } from '../support/sql';
import { tcpProxy } from '../support/tcp-proxy';

// The deploy-time migrate function, run as the CDK trigger runs it: secrets from the Parameters
// and Secrets extension (a stand-in HTTP server here), migrations, then the application role.
const role = `taskflow_app_${randomUUID().slice(0, 8)}`;
const password = `pw-${randomUUID()}`;
let extension: Server;
const requests: { url: string; token: string | undefined }[] = [];

beforeAll(async () => {
  const db = new URL(inject('databaseUrl'));
  const secrets: Record<string, object> = {
    'arn:master': { username: decodeURIComponent(db.username) || 'postgres', password: decodeURIComponent(db.password) },
    'arn:app': { username: role, password },
  };
  extension = createServer((req, res) => {
    const url = new URL(req.url!, 'http://localhost');
    requests.push({ url: url.pathname, token: req.headers['x-aws-parameters-secrets-token'] as string | undefined });
    const value = secrets[url.searchParams.get('secretId') ?? ''];
    res.writeHead(value ? 200 : 400, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(value ? { SecretString: JSON.stringify(value) } : { message: 'no such secret' }));
  });
  await new Promise<void>((done) => extension.listen(0, '127.0.0.1', done));
  Object.assign(process.env, {
    PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String((extension.address() as { port: number }).port),
    AWS_SESSION_TOKEN: 'session-token',
    DB_MASTER_SECRET_ARN: 'arn:master',
    DB_APP_SECRET_ARN: 'arn:app',
    DB_HOST: db.hostname,
    DB_PORT: db.port || '5432',
    DB_NAME: db.pathname.slice(1),
    DB_TLS: 'disable',
  });
});

afterAll(async () => {
  extension.close();
  await sql(`DROP OWNED BY ${role}`).catch(() => undefined);
  await sql(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
});

describe('migrate function', () => {
  it('reads both secrets through the extension, migrates, and sets up the application role', async () => {
    const { handler } = await import('../../functions/migrate/handler');
    const result = await handler({}, lambdaContext('Migrate', 300_000));
    expect(result.applied).toEqual([]); // the test database is already current
    expect(requests).toHaveLength(2);
    expect(requests.every((r) => r.url === '/secretsmanager/get' && r.token === 'session-token')).toBe(true);

    const [settings] = await sql<{ setconfig: string[] }>(
      'SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = $1',
      [role],
    );
    expect(settings!.setconfig).toEqual(expect.arrayContaining(['statement_timeout=5s', 'idle_in_transaction_session_timeout=30s']));
    const [privileges] = await sql<{ write: boolean; ddl: boolean }>(
      "SELECT has_table_privilege($1, 'tasks', 'INSERT,UPDATE,DELETE,SELECT') AS write, has_schema_privilege($1, 'public', 'CREATE') AS ddl",
      [role],
    );
    expect(privileges).toEqual({ write: true, ddl: false });

    // The role's password is the secret's, stored as a SCRAM verifier the migrate function computed.
    const [stored] = await sql<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role]);
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored!.rolpassword)!;
    expect(stored!.rolpassword).toBe(scramSha256Verifier(password, Buffer.from(salt!, 'base64'), Number(iterations)));

    // The reports' replica reader: it may read every table, change none, and has no password (IAM login on RDS).
    const [reader] = await sql<{ read: boolean; write: boolean; other: boolean; password: string | null }>(
      `SELECT has_table_privilege('taskflow_reader', 'tasks', 'SELECT') AS read,
              has_table_privilege('taskflow_reader', 'tasks', 'INSERT,UPDATE,DELETE') AS write,
              has_table_privilege('taskflow_reader', 'outbox', 'SELECT') AS other,
              (SELECT rolpassword FROM pg_authid WHERE rolname = 'taskflow_reader') AS password`,
    );
    expect(reader).toEqual({ read: true, write: false, other: false, password: null });

    // Running it again (the next deploy) changes nothing and still succeeds.
    expect((await handler({}, lambdaContext('Migrate', 300_000))).applied).toEqual([]);
  });

  it('re-reads the owner secret once when its password was just rotated (28P01)', async () => {
    const db = new URL(inject('databaseUrl'));
    const proxy = await tcpProxy({ host: db.hostname, port: Number(db.port || 5432) });
    process.env.DB_PORT = String(proxy.port);
    try {
      requests.length = 0;
      proxy.rejectNextLogin('28P01');
      const { handler } = await import('../../functions/migrate/handler');
      expect((await handler({}, lambdaContext('Migrate', 300_000))).applied).toEqual([]);
      expect(requests.map((r) => r.url)).toHaveLength(3); // owner, owner again, application
    } finally {
      process.env.DB_PORT = db.port || '5432';
      await proxy.close();
    }
  });

  it('fails the deployment when a secret cannot be read', async () => {
    process.env.DB_APP_SECRET_ARN = 'arn:missing';
    try {
      const { handler } = await import('../../functions/migrate/handler');
      await expect(handler({}, lambdaContext('Migrate', 300_000))).rejects.toThrow(/reading secret arn:missing failed: 400/);
    } finally {
      process.env.DB_APP_SECRET_ARN = 'arn:app';
    }
  });
});

