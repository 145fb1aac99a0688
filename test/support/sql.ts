import type pg from 'pg';
import { inject } from 'vitest';
import { withClient } from '../../lib/local/database';

/** A direct connection to the database at `databaseUrl`, for looking behind the API. */
export const sqlAt =
  (databaseUrl: string) =>
  <R extends pg.QueryResultRow = any>(text: string, params: unknown[] = []): Promise<R[]> =>
    withClient(databaseUrl, async (client) => (await client.query<R>(text, params)).rows);

/** A direct connection to the run's test database. */
export function sql<R extends pg.QueryResultRow = any>(text: string, params: unknown[] = []): Promise<R[]> {
  return sqlAt(inject('databaseUrl'))<R>(text, params);
}
