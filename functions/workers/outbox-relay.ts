import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { runRelay } from '../domain/outbox-relay';
import { logger } from '../shared/logger';

/** EventBridge, every minute: relays outbox entries for most of the function's timeout (runs overlap). */
export const handler = middy<ScheduledEvent, { published: number }>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (_event, context: Context) => {
    const result = await runRelay({ remainingMs: () => context.getRemainingTimeInMillis() });
    logger.info('outbox relay run finished', result);
    return result;
  });
