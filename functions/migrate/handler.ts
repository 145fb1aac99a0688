import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadMigrations, migrate } from '../db/migrator';
import { connectAsOwner, readDbSecret, type DbSecret } from '../db/owner-connection';
import { requiredEnv } from '../shared/env';
import { lambdaHandler } from '../shared/handler';
import { logger } from '../shared/logger';

/**
 * Deploy-time job (a CDK trigger that runs before the API functions are updated): connects to the
 * instance as the owner, makes sure the application role exists with its limits and grants, and
 * applies pending migrations. A failure fails the deployment, so new code never meets an old schema.
 */
export const handler = lambdaHandler<unknown, { applied: string[] }>(async () => {
  const client = await connectAsOwner();
  try {
    const applied = await migrate(client, await loadMigrations());
    await grantApplicationRole(client, await readDbSecret(requiredEnv('DB_APP_SECRET_ARN')));
    await grantReaderRole(client);
    logger.info('migrations applied', { applied });
    return { applied };
  } finally {
    await client.end();
  }
});

/** The role the API uses through RDS Proxy: data access only, and timeouts set on the role, not per session. */
async function grantApplicationRole(client: pg.Client, app: DbSecret): Promise<void> {
  const role = client.escapeIdentifier(app.username);
  // A SCRAM verifier, not the password: statement logs never see the secret.
  const password = client.escapeLiteral(scramSha256Verifier(app.password));
  const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [app.username]);
  await client.query(`${rowCount ? 'ALTER' : 'CREATE'} ROLE ${role} WITH LOGIN PASSWORD ${password}`);
  // Below the API functions' 10 s timeout, so a slow statement ends as an answer, not a killed function.
  await client.query(`ALTER ROLE ${role} SET statement_timeout = '5s'`);
  await client.query(`ALTER ROLE ${role} SET idle_in_transaction_session_timeout = '30s'`);
  await client.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
  await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
  await client.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
}

/** The role reports read the replica as: IAM authentication (no password), SELECT only, room for long reads. */
export const READER_ROLE = 'taskflow_reader';
const READER_TABLES = ['organizations', 'memberships', 'users', 'projects', 'tasks', 'task_versions', 'weekly_reports', 'replication_heartbeat'];

async function grantReaderRole(client: pg.Client): Promise<void> {
  const role = client.escapeIdentifier(READER_ROLE);
  const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [READER_ROLE]);
  if (!rowCount) await client.query(`CREATE ROLE ${role} WITH LOGIN`);
  // Direct IAM login (no proxy in front of a replica). A role with rds_iam cannot log in with a password, which
  // is why the application role, which RDS Proxy logs in with its password, does not get it. Only RDS has rds_iam.
  const { rowCount: onRds } = await client.query("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'");
  if (onRds) await client.query(`GRANT rds_iam TO ${role}`);
  await client.query(`ALTER ROLE ${role} SET statement_timeout = '60s'`);
  await client.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
  // What the weekly reports read, and nothing else.
  await client.query(`GRANT SELECT ON ${READER_TABLES.join(', ')} TO ${role}`);
}

/** PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802/7677; what `\password` sends). */
export function scramSha256Verifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
