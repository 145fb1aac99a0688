import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { BreakerOpen } from '../integrations/breaker';
import { PermanentFailure, RetryLater, type SendOptions } from '../integrations/http';
import type { Delivery } from '../shared/consumer';
import { metrics } from '../shared/metrics';
import { recordDelays } from '../shared/sli';
import { postpone } from '../shared/postpone';
import { DELIVERY_METRICS, SLI_METRICS } from '../shared/telemetry';
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

/** Left of the Lambda's time after a send: the idempotency record's write, hiding the message, the logs. */
const MARGIN_MS = 5_000;

/** The budget of a send in this invocation (its remaining time less a margin), and the message's logger for its retries. */
export function sendOptions({ context, log }: Pick<Delivery, 'context' | 'log'>): SendOptions {
  return { budgetMs: context.getRemainingTimeInMillis() - MARGIN_MS, log };
}

/**
 * Sends a notification over a channel at most once, however often its message is delivered: the
 * idempotency table remembers it by channel and notification id. A duplicate arriving while the first
 * is sending fails (IdempotencyAlreadyInProgressError), so its message comes back later and finds the
 * outcome.
 *
 * When the service cannot take it now and says until when (the circuit breaker is open: BreakerOpen; the
 * service asked to wait longer than this invocation has: RetryLater), the message is hidden until then
 * (its visibility timeout set to the wait) and fails, so it is not tried again sooner. Each such receive
 * counts towards the queue's maxReceiveCount like any failure.
 */
export async function deliverOnce(
  channel: 'slack' | 'email',
  { notificationId, occurredAt }: { notificationId: string; occurredAt?: string | undefined },
  { context, log, record }: Pick<Delivery, 'context' | 'log' | 'record'>,
  send: () => Promise<unknown>,
) {
  let outcome: Awaited<ReturnType<ReturnType<typeof deliveryRun>>>;
  try {
    outcome = await deliveryRun(context)({ key: `${channel}:${notificationId}`, send });
  } catch (error) {
    if (error instanceof BreakerOpen || error instanceof RetryLater) await postpone({ record, log }, error.retryAfterMs, { channel, notificationId, reason: error.message });
    throw error;
  }
  if (outcome.replayed) log.info('already handled', { channel, notificationId, outcome });
  else if (outcome.status === 'failed') {
    log.warn('refused for good: recorded, not retried', { channel, notificationId, reason: outcome.reason });
    metrics.addMetric(DELIVERY_METRICS.refused, MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
  } else {
    log.info('sent', { channel, notificationId, detail: outcome.detail });
    // The notification-delivery SLI: from the event to this send (a weekly report has no event).
    if (occurredAt) recordDelays(SLI_METRICS.notificationDelivery, [Date.now() - Date.parse(occurredAt)]);
  }
  return outcome;
}
