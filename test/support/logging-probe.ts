import { lambdaHandler } from '../../functions/shared/handler';
import { logger } from '../../functions/shared/logger';

// A function for the local runtime's logging test, logging as TaskFlow's handlers do (the shared logger, the Lambda
// context injected, a correlation id per invocation): a line, then another once the test opens the gate, so that
// invocations of different functions overlap.

declare global {
  var loggingProbeGate: Promise<void> | undefined;
}

export const handler = lambdaHandler(
  async () => {
    logger.info('started');
    await globalThis.loggingProbeGate;
    logger.info('finished');
  },
  (event: { correlationId: string }) => event.correlationId,
);
