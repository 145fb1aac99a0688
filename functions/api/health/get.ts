import { db } from '../../shared/db';
import { httpHandler } from '../../shared/http';
import { logger } from '../../shared/logger';

export const handler = httpHandler({ public: true }, async () => {
  const started = performance.now();
  let status: 'ok' | 'unavailable' = 'ok';
  try {
    await db.query('SELECT 1');
  } catch (error) {
    logger.error('database health check failed', { error });
    status = 'unavailable';
  }
  const database = { status, latencyMs: Math.round(performance.now() - started) };
  return {
    status: status === 'ok' ? 200 : 503,
    body: { status, dependencies: { database } },
    headers: { 'Cache-Control': 'no-store', ...(status === 'ok' ? {} : { 'Retry-After': '5' }) },
  };
});
