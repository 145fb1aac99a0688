import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ScheduledEvent } from 'aws-lambda';
import { probeFeed, type ProbeCredentials } from '../domain/feed-probe';
import { recordProbe } from '../domain/feed-registry';
import { requiredEnv } from '../shared/env';
import { lambdaHandler } from '../shared/handler';
import { logger } from '../shared/logger';
import { metrics } from '../shared/metrics';
import { secretValue } from '../shared/secrets';
import { FEED_PROBE_METRICS } from '../shared/telemetry';

// Node 22 (Lambda) has the standard WebSocket; Node 20 (the local runtime) takes it from `ws`.
const WebSocketImpl = globalThis.WebSocket ?? ((await import('ws')).WebSocket as unknown as typeof globalThis.WebSocket);

/** The synthetic feed probe (EventBridge): its delivery time and failures are metrics with alarms, its last result is in GET /health. */
export const handler = lambdaHandler<ScheduledEvent, void>(async () => {
  const outcome = await probeFeed({
    websocketUrl: requiredEnv('WEBSOCKET_URL'),
    apiUrl: requiredEnv('API_URL'),
    credentials: JSON.parse(await secretValue('FEED_PROBE_CREDENTIALS')) as ProbeCredentials,
    WebSocket: WebSocketImpl,
    timeoutMs: 20_000,
  });
  metrics.addMetric(FEED_PROBE_METRICS.failures, MetricUnit.Count, outcome.ok ? 0 : 1);
  if (outcome.ok) metrics.addMetric(FEED_PROBE_METRICS.deliveryMs, MetricUnit.Milliseconds, outcome.deliveryMs);
  metrics.publishStoredMetrics();
  if (outcome.ok) logger.info('feed probe delivered', { deliveryMs: outcome.deliveryMs });
  else logger.error('feed probe failed', { reason: outcome.reason });
  await recordProbe({ at: new Date().toISOString(), ...outcome });
}, (event) => event.id);
