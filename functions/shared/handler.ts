import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import { logger } from './logger';

/**
 * Every function's handler (issue 13): the invocation's Lambda context is in the shared logger, so each line it writes
 * carries its function's name and request id, also while invocations overlap; with `correlationId`, the id it finds
 * in the event (if any) is the lines' correlation id too. What the invocation adds to the logger ends with it.
 */
export function lambdaHandler<E, R>(handle: (event: E, context: Context) => Promise<R>, correlationId?: (event: E) => string | undefined) {
  return middy<E, R>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .handler((event, context) => {
      const id = correlationId?.(event);
      if (id) logger.setCorrelationId(id);
      return handle(event, context);
    });
}
