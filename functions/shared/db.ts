import pg from 'pg';
import { requiredEnv } from './env';
import { logger } from './logger';
import { rdsIamTokenSigner } from './rds-iam-token';
import { span } from './spans';

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
  return iamConnection(requiredEnv('DB_HOST'));
}

/** In AWS: IAM authentication (a fresh 15-minute token for every new connection) and verified TLS. */
function iamConnection(host: string, user = requiredEnv('DB_USER')): pg.PoolConfig {
  const port = Number(process.env.DB_PORT ?? 5432);
  const token = rdsIamTokenSigner({ hostname: host, port, username: user, region: requiredEnv('AWS_REGION') });
  return {
    host,
    port,
    user,
    database: requiredEnv('DB_NAME'),
    password: token,
    ssl: { rejectUnauthorized: true },
  };
}

/**
 * The read replica, where one is configured: DATABASE_READ_URL (local runtime, tests) or, in AWS,
 * DB_READ_HOST, reached directly (not through RDS Proxy) with the same IAM auth and TLS as the primary
 * (DB_PORT, DB_NAME shared; DB_READ_USER when the replica's login role differs from DB_USER). Null: none.
 */
function replicaConfig(): pg.PoolConfig | null {
  const url = process.env.DATABASE_READ_URL;
  if (url) return { connectionString: url };
  const host = process.env.DB_READ_HOST;
  return host ? iamConnection(host, process.env.DB_READ_USER || requiredEnv('DB_USER')) : null;
}

function newPool(config: pg.PoolConfig, name: string, queryTimeoutMs: number): pg.Pool {
  const created = new pg.Pool({
    ...config,
    max: Number(process.env.DB_POOL_MAX ?? 1),
    // Both well inside the API functions' 10 s: the handler's own deadline (http.ts) still answers.
    connectionTimeoutMillis: Number(process.env.DB_CONNECT_TIMEOUT_MS ?? 3_000),
    // Client-side backstop for the role's statement_timeout: a stalled socket cannot hold a request.
    query_timeout: queryTimeoutMs,
    // RDS Proxy closes idle client connections after 30 min by default; drop ours first.
    idleTimeoutMillis: 10 * 60_000,
    keepAlive: true,
  });
  // A connection that dies while idle must not crash the process; the pool replaces it.
  created.on('error', ({ name: errorName, message, code }: Error & { code?: string }) =>
    logger.warn(`idle ${name} connection failed`, { error: { name: errorName, message, code } }),
  );
  return created;
}

// The pools of this environment by their connection settings, read at each use: in Lambda one each (the settings
// never change); on the local runtime, where one process plays every function, a function without the database's
// variables finds no pool of another's, and fails as it would in Lambda.
const pools = new Map<string, pg.Pool>();
const NO_REPLICA = 'none';

function pooled(key: string, make: () => pg.Pool): pg.Pool {
  let found = pools.get(key);
  if (!found) pools.set(key, (found = make()));
  return found;
}

function getPool(): pg.Pool {
  const key = process.env.DATABASE_URL ?? `${requiredEnv('DB_HOST')}:${process.env.DB_PORT ?? 5432}/${requiredEnv('DB_NAME')}?${requiredEnv('DB_USER')}`;
  // The application role's statement_timeout is 5 s.
  return pooled(`primary ${key}`, () => newPool(connectionConfig(), 'database', Number(process.env.DB_QUERY_TIMEOUT_MS ?? 6_000)));
}

/** The replica's own pool (one connection per environment, like the primary's); null without a replica. */
function getReplicaPool(): pg.Pool | null {
  const key = process.env.DATABASE_READ_URL ?? process.env.DB_READ_HOST ?? NO_REPLICA;
  if (key === NO_REPLICA) return null;
  // The reader role's statement_timeout is 60 s (long report reads).
  return pooled(`replica ${key}`, () => newPool(replicaConfig()!, 'read replica', Number(process.env.DB_READ_QUERY_TIMEOUT_MS ?? 65_000)));
}

// The connection is gone or could not be made: a fresh connection may well succeed. (A write that
// failed this way may or may not have committed, which is why only reads are retried.)
const BROKEN_CONNECTION = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '53300',
]);
// The database answered but could not serve this statement now: retrying later may succeed.
const TRANSIENT = new Set(['57014' /* statement timeout */, '40P01' /* deadlock */, '40001' /* serialization */, '55P03' /* lock timeout */]);

const codeOf = (error: unknown) => (error as { code?: string } | undefined)?.code;
const messageOf = (error: unknown) => (error as Error | undefined)?.message ?? '';

function isBrokenConnection(error: unknown): boolean {
  const code = codeOf(error);
  return (code !== undefined && BROKEN_CONNECTION.has(code)) || /Connection terminated|timeout exceeded when trying to connect/.test(messageOf(error));
}

/** Errors to answer with 503 and Retry-After rather than 500: the database, not the request, is the problem. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = codeOf(error);
  return isBrokenConnection(error) || (code !== undefined && TRANSIENT.has(code)) || /Query read timeout/.test(messageOf(error));
}

export const db: Database = {
  async query(text, params) {
    roundTrips.count += 1;
    return statementSpan(text, false, () => getPool().query(text, params as unknown[]));
  },
};

/**
 * A statement as a span (review M2): its text as written in the code, whitespace folded and cut short, never its
 * parameters (they hold what users typed). The name is its first words: what Logs Insights groups by.
 */
function statementSpan<R extends pg.QueryResultRow>(text: string, replica: boolean, run: () => Promise<pg.QueryResult<R>>): Promise<pg.QueryResult<R>> {
  const statement = text.replace(/\s+/g, ' ').trim();
  return span('db', statement.slice(0, 60), { statement: statement.slice(0, 1_000), ...(replica ? { replica } : {}) }, run, (result) => ({ rows: result.rowCount ?? 0 }));
}

/**
 * A read retried once on a fresh connection when the first one broke: safe because it changes
 * nothing. Mutations are never retried here; a client retry with its Idempotency-Key is.
 */
export async function read<R extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
  return retriedOnce(() => db.query<R>(text, params));
}

async function retriedOnce<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (!isBrokenConnection(error)) throw error;
    logger.warn('database connection broke during a read; retrying once', { error: { message: messageOf(error), code: codeOf(error) } });
    return run();
  }
}

/** Round trips to the read replica in this environment (not counted in `roundTrips`, which is the primary's). */
export const replicaRoundTrips = { count: 0 };

/**
 * A read for long, lag-tolerant work (the weekly reports): on the read replica where one is configured
 * (DATABASE_READ_URL, or DB_READ_HOST in AWS), retried once like `read`; without one it is exactly `read`
 * on the primary. The replica is asynchronous: what was committed a moment ago may not be there yet.
 */
export async function replicaRead<R extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
  const replica = getReplicaPool();
  if (!replica) return read<R>(text, params);
  return retriedOnce(() => {
    replicaRoundTrips.count += 1;
    return statementSpan(text, true, () => replica.query<R>(text, params as unknown[]));
  });
}

/** Whether a read replica is configured (DATABASE_READ_URL, or DB_READ_HOST in AWS). */
export const hasReplica = (): boolean => getReplicaPool() !== null;

/** Closes the pools, the primary's and the replica's (local runtime shutdown, tests). */
export async function closeDatabase(): Promise<void> {
  const closing = [...pools.values()];
  pools.clear();
  await Promise.all(closing.map((each) => each.end()));
}
