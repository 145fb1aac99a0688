import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { logger } from '../../functions/shared/logger';

// A function for the local runtime's logging test, logging as TaskFlow's handlers do (the shared logger, the Lambda
// context injected, a correlation id per invocation): a line, then another once the test opens the gate, so that
// invocations of different functions overlap.

declare global {
  var loggingProbeGate: Promise<void> | undefined;
}

export const handler = middy<{ correlationId: string }>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event) => {
    logger.setCorrelationId(event.correlationId);
    logger.info('started');
    await globalThis.loggingProbeGate;
    logger.info('finished');
  });
