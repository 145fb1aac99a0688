import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { PermanentFailure } from '../integrations/http';
import type { Delivery } from '../shared/consumer';
import { metrics } from '../shared/metrics';
import { DELIVERY_METRICS } from '../shared/telemetry';
import { idempotentOnTable } from '../shared/idempotency-store';

export type DeliveryOutcome = { status: 'sent'; detail: unknown } | { status: 'failed'; reason: string };

// As long as a message can live: a redrive from the DLQ (14 days' retention) must still find it sent.
const REMEMBERED_SECONDS = 14 * 24 * 60 * 60;

// Made on first use, like the API's Idempotency-Key runner.
const deliveryRun = idempotentOnTable(
  async ({ send }: { key: string; send: () => Promise<unknown> }): Promise<DeliveryOutcome & { replayed?: true }> => {
    try {
      return { status: 'sent', detail: await send() };
    } catch (error) {
      // Recorded as the outcome, so it is not tried again; anything else is thrown, and the record
      // is removed so the next receive tries again.
      if (error instanceof PermanentFailure) return { status: 'failed', reason: error.message };
      throw error;
    }
  },
  {
    eventKeyJmesPath: 'key',
    expiresAfterSeconds: REMEMBERED_SECONDS,
    throwOnNoIdempotencyKey: true,
    responseHook: (outcome) => ({ ...(outcome as object), replayed: true }) as never,
  },
  'notification-delivery',
);

/**
 * Sends a notification over a channel at most once, however often its message is delivered: the
 * idempotency table remembers it by channel and notification id. A duplicate arriving while the first
 * is sending fails (IdempotencyAlreadyInProgressError), so its message comes back later and finds the
 * outcome.
 */
export async function deliverOnce(channel: 'slack' | 'email', notificationId: string, { context, log }: Pick<Delivery, 'context' | 'log'>, send: () => Promise<unknown>) {
  const outcome = await deliveryRun(context)({ key: `${channel}:${notificationId}`, send });
  if (outcome.replayed) log.info('already handled', { channel, notificationId, outcome });
  else if (outcome.status === 'failed') {
    log.warn('refused for good: recorded, not retried', { channel, notificationId, reason: outcome.reason });
    metrics.addMetric(DELIVERY_METRICS.refused, MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
  } else log.info('sent', { channel, notificationId, detail: outcome.detail });
  return outcome;
}
