import type { ScheduledEvent } from 'aws-lambda';
import { dispatchDue, type DispatchCounts } from '../domain/sync-dispatch';
import { lambdaHandler } from '../shared/handler';
import { logger } from '../shared/logger';
import { continueTrace } from '../shared/trace';

/** EventBridge, every 5 minutes: starts a run for every due GitHub and Google Calendar link (see dispatch). */
export const handler = lambdaHandler<ScheduledEvent, DispatchCounts>(async (event, context) => {
  const trace = { requestId: event.id ?? 'integration-sync', traceparent: continueTrace(undefined) };
  logger.setCorrelationId(trace.requestId);
  const result = await dispatchDue(trace, { remainingMs: () => context.getRemainingTimeInMillis() });
  if (result.failed > 0) logger.warn('integration sync: some runs not dispatched (tried again next time)', { ...result });
  else logger.info('integration sync dispatched', { ...result });
  return result;
});
