import { lastProbe, type ProbeResult } from '../../domain/feed-registry';
import { db } from '../../shared/db';
import { publicHttpHandler } from '../../shared/http';
import { logger } from '../../shared/logger';

// A health check must answer quickly even when a dependency hangs.
const CHECK_TIMEOUT_MS = 2_000;
// The probe runs every 5 minutes: an older result says the probe itself is not running.
const PROBE_FRESH_MS = 15 * 60_000;

type Status = 'ok' | 'unavailable';

/** Runs one check with the deadline; its status, latency and result. */
async function check<T>(name: string, run: () => Promise<T>): Promise<{ status: Status; latencyMs: number; result?: T }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { status: 'ok', latencyMs: Math.round(performance.now() - started), result };
  } catch (error) {
    logger.error(`${name} health check failed`, { error });
    return { status: 'unavailable', latencyMs: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The API's health (503 when the database does not answer) and the WebSocket feed's: its registry
 * answers, and the synthetic probe's last run (connect, subscribe, change, frame) succeeded recently.
 */
export const handler = publicHttpHandler(async () => {
  const [database, registry] = await Promise.all([check('database', () => db.query('SELECT 1')), check('feed registry', lastProbe)]);
  const probe: ProbeResult | null = registry.result ?? null;
  const probeFailing = probe !== null && (!probe.ok || Date.now() - Date.parse(probe.at) > PROBE_FRESH_MS);
  const websocket = { status: registry.status === 'ok' && !probeFailing ? 'ok' : 'unavailable', latencyMs: registry.latencyMs, lastProbe: probe };
  const status = database.status;
  return {
    status: status === 'ok' ? 200 : 503,
    body: { status, dependencies: { database: { status: database.status, latencyMs: database.latencyMs }, websocket } },
    headers: { 'Cache-Control': 'no-store', ...(status === 'ok' ? {} : { 'Retry-After': '5' }) },
  };
});
