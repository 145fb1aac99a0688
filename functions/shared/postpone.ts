import type { Delivery } from './consumer';
import { changeMessageVisibility, queueUrlFromArn } from './sqs';

// A message a service keeps refusing waits longer each time: 30 s, 1, 2, 4, then every 5 minutes. The cap keeps a
// recovered service from waiting long for its backlog; with the integration queues' 10 receives a message waits
// through about half an hour of outage before the dead-letter queue (a Retry-After asking longer is honoured).
export const POSTPONE_BASE_MS = 30_000;
const POSTPONE_CAP_MS = 5 * 60_000;

/**
 * Hides the message for `waitMs`, or longer the more times it was received (at least a second), so it is not
 * tried again sooner; if that fails it comes back after the queue's own visibility timeout. `details` go in the log.
 */
export async function postpone(
  { record, log }: Pick<Delivery, 'record' | 'log'>,
  waitMs: number,
  { reason, ...details }: { reason: string } & Record<string, unknown>,
): Promise<void> {
  const receives = Math.max(1, Number(record.attributes.ApproximateReceiveCount) || 1);
  const wait = Math.max(waitMs, receives > 1 ? Math.min(POSTPONE_CAP_MS, POSTPONE_BASE_MS * 2 ** (receives - 2)) : 0);
  const seconds = Math.max(1, Math.ceil(wait / 1000));
  try {
    await changeMessageVisibility(queueUrlFromArn(record.eventSourceARN), record.receiptHandle, seconds);
    log.warn('the service cannot take it now: the message comes back later', { ...details, waitSeconds: seconds, reason });
  } catch (failure) {
    log.warn('the service cannot take it now, and the message could not be hidden: it comes back after the queue\'s visibility timeout', {
      ...details,
      waitSeconds: seconds,
      reason,
      error: failure,
    });
  }
}
