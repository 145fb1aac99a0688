import type pg from 'pg';
import { inject } from 'vitest';
import { sqlAt } from '../../lib/local/database';

export { sqlAt };

/** A direct connection to the run's test database. */
export function sql<R extends pg.QueryResultRow = any>(text: string, params: unknown[] = []): Promise<R[]> {
  return sqlAt(inject('databaseUrl'))<R>(text, params);
}
