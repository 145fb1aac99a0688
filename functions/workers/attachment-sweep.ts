import type { ScheduledEvent } from 'aws-lambda';
import { sweepAttachments } from '../domain/attachments';
import { lambdaHandler } from '../shared/handler';
import { logger } from '../shared/logger';
import { continueTrace } from '../shared/trace';

/** EventBridge, daily: removes attachment rows whose object is gone. */
export const handler = lambdaHandler<ScheduledEvent, { checked: number; removed: number }>(async (event) => {
  const trace = { requestId: event.id ?? 'attachment-sweep', traceparent: continueTrace(undefined) };
  logger.setCorrelationId(trace.requestId);
  const result = await sweepAttachments(trace);
  logger.info('attachment sweep finished', result);
  return result;
});
