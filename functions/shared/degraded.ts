import { tableNameVariable } from './resource-variables';
import { readStatuses } from '../integrations/breaker-state';
import { logger } from './logger';

// Which integrations have an open circuit breaker, for the X-Degraded-Integrations header on every answer.
// Read from the integrations table (the breakers' shared state) at most every 10 s per Lambda environment,
// with a short timeout: the header is advice, and a request never waits on it or fails for it.

const REFRESH_MS = 10_000;
let cached: { names: string[]; until: number } | undefined;
let reading: Promise<string[]> | undefined;

/** The integrations whose breaker is open or half-open (as GET /health/integrations says); [] when unknown. */
export function degradedIntegrations(): Promise<string[]> {
  if (!process.env[tableNameVariable('integrations')]) return Promise.resolve([]);
  if (cached && cached.until > Date.now()) return Promise.resolve(cached.names);
  reading ??= read().finally(() => (reading = undefined));
  return reading;
}

async function read(): Promise<string[]> {
  try {
    const statuses = await readStatuses({ timeoutMs: 300, attempts: 1 });
    const names = statuses.filter((status) => status.state !== 'closed').map((status) => status.integration);
    cached = { names, until: Date.now() + REFRESH_MS };
    return names;
  } catch (error) {
    logger.warn('degraded integrations could not be read', { error });
    cached = { names: cached?.names ?? [], until: Date.now() + REFRESH_MS };
    return cached.names;
  }
}
