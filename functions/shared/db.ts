import pg from 'pg';
import { requiredEnv } from './env';
import { logger } from './logger';
import { rdsIamTokenSigner } from './rds-iam-token';

// One pool per Lambda environment, max one connection (review M8): RDS Proxy does the pooling.
// Nothing here pins the proxy: no session SET, no advisory locks, no LISTEN; the statement timeout
// is set on the database role (see functions/migrate).

// DATE columns stay 'YYYY-MM-DD' strings instead of local-midnight Date objects.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);

export interface Database {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** Round trips to the database in this environment, for the benchmark and the round-trip tests. */
export const roundTrips = { count: 0 };

function connectionConfig(): pg.PoolConfig {
  const url = process.env.DATABASE_URL;
  if (url) return { connectionString: url };
  const host = requiredEnv('DB_HOST');
  const port = Number(process.env.DB_PORT ?? 5432);
  const user = requiredEnv('DB_USER');
  const token = rdsIamTokenSigner({ hostname: host, port, username: user, region: requiredEnv('AWS_REGION') });
  return {
    host,
    port,
    user,
    database: requiredEnv('DB_NAME'),
    // IAM auth through RDS Proxy: a fresh 15-minute token for every new connection.
    password: token,
    ssl: { rejectUnauthorized: true },
  };
}


let pool: pg.Pool | undefined;

function getPool(): pg.Pool {
  if (!pool) {
    pool = new pg.Pool({
      ...connectionConfig(),
      max: Number(process.env.DB_POOL_MAX ?? 1),
      connectionTimeoutMillis: Number(process.env.DB_CONNECT_TIMEOUT_MS ?? 5_000),
      // Client-side backstop for the role's statement_timeout: a hung socket cannot hold a request.
      query_timeout: Number(process.env.DB_QUERY_TIMEOUT_MS ?? 15_000),
      // RDS Proxy closes idle client connections after 30 min by default; drop ours first.
      idleTimeoutMillis: 10 * 60_000,
      keepAlive: true,
    });
    // A connection that dies while idle must not crash the process; the pool replaces it.
    pool.on('error', ({ name, message, code }: Error & { code?: string }) =>
      logger.warn('idle database connection failed', { error: { name, message, code } }),
    );
  }
  return pool;
}

// Errors that mean the connection broke before the statement could have had an effect.
const CONNECTION_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08003', '08006']);

export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  const message = (error as Error | undefined)?.message ?? '';
  return (
    (code !== undefined && CONNECTION_ERRORS.has(code)) ||
    /Connection terminated|timeout exceeded when trying to connect|Query read timeout/.test(message)
  );
}

export const db: Database = {
  async query(text, params) {
    roundTrips.count += 1;
    return getPool().query(text, params as unknown[]);
  },
};

/**
 * A read retried once on a fresh connection when the first one broke: safe because it changes
 * nothing. Mutations are never retried here; a client retry with its Idempotency-Key is.
 */
export async function read<R extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
  try {
    return await db.query<R>(text, params);
  } catch (error) {
    if (!isConnectionError(error)) throw error;
    logger.warn('database connection broke during a read; retrying once', { error });
    return db.query<R>(text, params);
  }
}

/** Closes the pool (local runtime shutdown, tests). */
export async function closeDatabase(): Promise<void> {
  const closing = pool;
  pool = undefined;
  await closing?.end();
}
