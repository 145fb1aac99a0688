import type { ScheduledEvent } from 'aws-lambda';
import { runRelay } from '../domain/outbox-relay';
import { lambdaHandler } from '../shared/handler';
import { logger } from '../shared/logger';

/** EventBridge, every minute: relays outbox entries for most of the function's timeout (runs overlap). */
export const handler = lambdaHandler<ScheduledEvent, { published: number }>(async (_event, context) => {
  const result = await runRelay({ remainingMs: () => context.getRemainingTimeInMillis() });
  logger.info('outbox relay run finished', result);
  return result;
});
