import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { ScheduledEvent } from 'aws-lambda';
import { sweepAttachments } from '../domain/attachments';
import { logger } from '../shared/logger';
import { continueTrace } from '../shared/trace';

/** EventBridge, daily: removes attachment rows whose object is gone. */
export const handler = middy<ScheduledEvent, { checked: number; removed: number }>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event) => {
    const trace = { requestId: event.id ?? 'attachment-sweep', traceparent: continueTrace(undefined) };
    logger.setCorrelationId(trace.requestId);
    const result = await sweepAttachments(trace);
    logger.info('attachment sweep finished', result);
    return result;
  });
