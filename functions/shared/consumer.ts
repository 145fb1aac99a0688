import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { safeParse } from 'zod/mini';
import type { $ZodType as ZodType, output } from 'zod/v4/core';
import { lambdaHandler } from './handler';
import { logger } from './logger';
import { recordFor, recordSpan, traced } from './spans';
import { continueTrace, type Trace } from './trace';

/** A message that can never be processed (not JSON, or not its queue's schema): it must reach the DLQ. */
class PoisonMessage extends Error {}

export interface Delivery {
  /** The originating request's id and a span of this consumer's, for logs and outbound calls. */
  trace: Trace;
  /** A logger whose lines carry this message's correlation id and traceparent. */
  log: Logger;
  record: SQSRecord;
  context: Context;
}

/**
 * An SQS consumer: each message is checked against its schema, handled with its correlation (the
 * request id and traceparent from its attributes) in every log line, and reported with partial batch
 * responses, so only failed messages come back, and after `maxReceiveCount` receives go to the DLQ.
 * A message that fails validation is logged with the reason and fails every time: it reaches the DLQ
 * after its receives instead of looping. `parallel`: records are handled concurrently (outbound calls
 * that may be slow), each with its own child logger.
 */
export function sqsConsumer<S extends ZodType>(
  schema: S,
  handle: (message: output<S>, delivery: Delivery) => Promise<void>,
  { parallel = false } = {},
) {
  return lambdaHandler<SQSEvent, SQSBatchResponse>((event, context) =>
    processPartialResponse(
      event,
      async (record: SQSRecord) => {
        const requestId = record.messageAttributes.requestId?.stringValue ?? record.messageId;
        const trace = { requestId, traceparent: continueTrace(record.messageAttributes.traceparent?.stringValue) };
        const log = parallel ? logger.createChild() : logger;
        log.setCorrelationId(requestId);
        log.appendKeys({ traceparent: trace.traceparent, messageId: record.messageId, receiveCount: record.attributes.ApproximateReceiveCount });
        const queue = record.eventSourceARN.split(':').pop() ?? 'queue';
        // The message follows the sampling decision of the request that caused it (its traceparent's flags).
        await traced(trace, log, async (finish) => {
          const sent = Number(record.attributes.SentTimestamp);
          if (sent > 0) recordSpan('sqs', `waited in ${queue}`, sent, Math.max(0, Date.now() - sent), { queue, receiveCount: Number(record.attributes.ApproximateReceiveCount) });
          const facts = { queue, messageId: record.messageId };
          try {
            await handle(parse(schema, record.body), { trace, log, record, context });
            finish({ kind: 'message', name: `${queue} message`, failed: false, facts });
          } catch (error) {
            if (error instanceof PoisonMessage) log.error('poison message: it will reach the dead-letter queue', { reason: error.message });
            else log.warn('message failed; it will be received again', { error });
            finish({ kind: 'message', name: `${queue} message`, failed: true, facts });
            throw error;
          }
        });
      },
      // One per invocation: a processor keeps its batch's state, and the local runtime runs several at once.
      new BatchProcessor(EventType.SQS),
      { context, processInParallel: parallel, throwOnFullBatchFailure: false },
    ),
  );
}

/**
 * An SQS consumer that takes its batch whole (the broadcast worker: one registry read and one frame per
 * connection for all of a batch's events). Messages that do not fit the schema are poison: logged, and
 * failed every time until they reach the DLQ. `handle` gets the others and returns the message ids that
 * failed; only those come back (partial batch response).
 */
export function sqsBatchConsumer<S extends ZodType>(
  schema: S,
  handle: (messages: { message: output<S>; record: SQSRecord; trace: Trace }[], context: Context) => Promise<readonly string[]>,
) {
  return lambdaHandler<SQSEvent, SQSBatchResponse>(async (event, context) => {
    const failed: string[] = [];
    const messages: { message: output<S>; record: SQSRecord; trace: Trace }[] = [];
    for (const record of event.Records) {
      try {
        const requestId = record.messageAttributes.requestId?.stringValue ?? record.messageId;
        messages.push({ message: parse(schema, record.body), record, trace: { requestId, traceparent: continueTrace(record.messageAttributes.traceparent?.stringValue) } });
      } catch (error) {
        logger.error('poison message: it will reach the dead-letter queue', { messageId: record.messageId, reason: (error as Error).message });
        failed.push(record.messageId);
      }
    }
    const start = Date.now();
    if (messages.length > 0) failed.push(...(await handle(messages, context)));
    // One batch serves many requests: each sampled one gets its message's wait and the batch's handling in its trace.
    for (const { record, trace } of messages) {
      const queue = record.eventSourceARN.split(':').pop() ?? 'queue';
      const sent = Number(record.attributes.SentTimestamp);
      if (sent > 0) recordFor(trace, logger, 'sqs', `waited in ${queue}`, sent, Math.max(0, start - sent), { queue });
      recordFor(trace, logger, 'message', `${queue} message`, start, Date.now() - start, { queue, messageId: record.messageId, batch: messages.length, ...(failed.includes(record.messageId) ? { outcome: 'error' } : {}) });
    }
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  });
}

function parse<S extends ZodType>(schema: S, body: string): output<S> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new PoisonMessage('the body is not JSON');
  }
  const result = safeParse(schema, json);
  if (!result.success) {
    throw new PoisonMessage(result.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; '));
  }
  return result.data;
}
