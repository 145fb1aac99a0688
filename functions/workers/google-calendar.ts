import { CalendarSyncRequest, type SyncResult } from '../domain/messages';
import { sendSyncResult } from '../domain/sync-results';
import { BreakerOpen } from '../integrations/breaker';
import { applyCalendarChanges, type AppliedEvent } from '../integrations/google-calendar';
import { IntegrationUnavailable, RetryLater } from '../integrations/http';
import { sqsConsumer } from '../shared/consumer';
import { postpone, POSTPONE_BASE_MS } from '../shared/postpone';

// The googleCalendar queue: one run of one linked calendar per message, with the events to write or delete. Out of
// the VPC (Google is on the internet, and the VPC has no NAT), so without the database: what the run did goes to
// `syncResults`, whose consumer records it.
//
// A run that ends (ok, or failed: some changes refused, or the service account refused) sends what it applied and
// its outcome, and is done: the message is deleted. Google not taking calls now (the breaker open, a Retry-After
// past this invocation, every try failed) fails the message and hides it until then, longer each receive, as the
// notification deliveries do; the changes made before are sent first (without an outcome), and made again
// harmlessly when the message comes back (the event ids are fixed). A change that finds its event showing a newer
// task version (another run of the link made it) is skipped: not in `applied`, that run reports its own.

/** Left of the Lambda's time after the calls: sending the result (retried), the logs. */
const MARGIN_MS = 15_000;

export const handler = sqsConsumer(CalendarSyncRequest, async (request, delivery) => {
  const run = { runId: request.runId, linkId: request.linkId, organizationId: request.organizationId, projectId: request.projectId };
  const applied: AppliedEvent[] = [];
  let outcome;
  let skipped;
  try {
    ({ outcome, skipped } = await applyCalendarChanges(request, { trace: delivery.trace, budgetMs: delivery.context.getRemainingTimeInMillis() - MARGIN_MS, log: delivery.log, applied }));
  } catch (error) {
    if (applied.length > 0) {
      await sendSyncResult({ ...run, kind: 'googleCalendar', applied, outcome: null }, delivery).catch((failure: unknown) =>
        delivery.log.warn('the changes made before the failure were not reported: they are made and reported again on the retry', { error: failure }),
      );
    }
    if (error instanceof BreakerOpen || error instanceof RetryLater || error instanceof IntegrationUnavailable) {
      // Every try failed: wait 30 s (longer each receive) rather than the queue's visibility timeout.
      await postpone(delivery, error instanceof IntegrationUnavailable ? POSTPONE_BASE_MS : error.retryAfterMs, { linkId: request.linkId, runId: request.runId, reason: error.message });
    }
    throw error;
  }
  await sendSyncResult({ ...run, kind: 'googleCalendar', applied, outcome }, delivery);
  const log = outcome.status === 'failed' ? delivery.log.warn.bind(delivery.log) : delivery.log.info.bind(delivery.log);
  log('google calendar sync run ended', { linkId: request.linkId, runId: request.runId, changes: request.changes.length, applied: applied.length, skipped, outcome });
});
