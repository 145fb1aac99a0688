import type pg from 'pg';
import { inject } from 'vitest';
import { withClient } from '../../lib/local/database';

/** A direct connection to the test database, for looking behind the API. */
export function sql<R extends pg.QueryResultRow = any>(text: string, params: unknown[] = []): Promise<R[]> {
  return withClient(inject('databaseUrl'), async (client) => (await client.query<R>(text, params)).rows);
}
