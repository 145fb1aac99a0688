import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ScheduledEvent } from 'aws-lambda';
import { fetchToken, organizationOf, type ProbeCredentials } from '../domain/feed-probe';
import { runSyntheticTransaction } from '../domain/synthetic-transaction';
import { requiredEnv } from '../shared/env';
import { lambdaHandler } from '../shared/handler';
import { logger } from '../shared/logger';
import { metrics } from '../shared/metrics';
import { secretValue } from '../shared/secrets';
import { SYNTHETIC_CANARY_METRICS } from '../shared/telemetry';
import { httpClient } from './synthetic-clients';

// A run that takes longer than this is a failure (the function's timeout is 60 s).
const RUN_TIMEOUT_MS = 45_000;

export type CanaryOutcome = { ok: true; durationMs: number } | { ok: false; reason: string };

/**
 * The scheduled canary (EventBridge, every 5 minutes): the synthetic transaction against the live REST API, signed in
 * as the probe's client in its own organization. A failure is the SyntheticTransactionFailures metric (alarmed) and a
 * log line naming the step; the run itself does not fail (a retry would only add a run on top of the next one).
 */
export const handler = lambdaHandler<ScheduledEvent, CanaryOutcome>(async () => {
  const started = performance.now();
  const signal = AbortSignal.timeout(RUN_TIMEOUT_MS);
  let outcome: CanaryOutcome;
  try {
    const token = await fetchToken(JSON.parse(await secretValue('FEED_PROBE_CREDENTIALS')) as ProbeCredentials, signal);
    const result = await runSyntheticTransaction(httpClient(requiredEnv('API_URL'), token, signal), organizationOf(token));
    outcome = { ok: true, durationMs: Math.round(performance.now() - started) };
    logger.info('synthetic transaction passed', { durationMs: outcome.durationMs, steps: result.steps });
  } catch (error) {
    outcome = { ok: false, reason: signal.aborted ? `no answer within ${RUN_TIMEOUT_MS} ms` : (error as Error).message };
    logger.error('synthetic transaction failed', { reason: outcome.reason });
  }
  metrics.addMetric(SYNTHETIC_CANARY_METRICS.failures, MetricUnit.Count, outcome.ok ? 0 : 1);
  if (outcome.ok) metrics.addMetric(SYNTHETIC_CANARY_METRICS.durationMs, MetricUnit.Milliseconds, outcome.durationMs);
  metrics.publishStoredMetrics();
  return outcome;
}, (event) => event.id);
