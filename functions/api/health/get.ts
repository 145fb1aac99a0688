import { db } from '../../shared/db';
import { publicHttpHandler } from '../../shared/http';
import { logger } from '../../shared/logger';

// A health check must answer quickly even when the database hangs.
const CHECK_TIMEOUT_MS = 2_000;

export const handler = publicHttpHandler(async () => {
  const started = performance.now();
  let status: 'ok' | 'unavailable' = 'ok';
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      db.query('SELECT 1'),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
  } catch (error) {
    logger.error('database health check failed', { error });
    status = 'unavailable';
  } finally {
    clearTimeout(timer);
  }
  const database = { status, latencyMs: Math.round(performance.now() - started) };
  return {
    status: status === 'ok' ? 200 : 503,
    body: { status, dependencies: { database } },
    headers: { 'Cache-Control': 'no-store', ...(status === 'ok' ? {} : { 'Retry-After': '5' }) },
  };
});
