import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';

// A test double for a queue's consumer (not for the emulator): the event-source mapping tests declare a
// queue whose consumer entry is this file. It records every invocation and answers according to the bodies:
//   'fail…'   → reported in batchItemFailures        'throw…' → the whole invocation throws
//   'bad-id…' → a batchItemFailures entry naming no message of the batch
//   'slow:MS' → takes MS milliseconds first          anything else → handled
// The records live on globalThis, so the test sees them whichever module instance the runtime loaded.

export interface Invocation {
  event: SQSEvent;
  functionName: string;
  remainingMs: number;
  started: number;
  ended?: number;
}

declare global {
  var fakeConsumerInvocations: Invocation[] | undefined;
}

export function invocations(): Invocation[] {
  return (globalThis.fakeConsumerInvocations ??= []);
}

export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  const invocation: Invocation = { event, functionName: context.functionName, remainingMs: context.getRemainingTimeInMillis(), started: Date.now() };
  invocations().push(invocation);
  try {
    const slow = event.Records.map((record) => /^slow:(\d+)/.exec(record.body)?.[1]).find(Boolean);
    if (slow) await new Promise((done) => setTimeout(done, Number(slow)));
    if (event.Records.some((record) => record.body.startsWith('throw'))) throw new Error('the consumer failed');
    const failures = event.Records.filter((record) => record.body.startsWith('fail')).map((record) => ({ itemIdentifier: record.messageId }));
    if (event.Records.some((record) => record.body.startsWith('bad-id'))) failures.push({ itemIdentifier: 'not-in-this-batch' });
    return { batchItemFailures: failures };
  } finally {
    invocation.ended = Date.now();
  }
};
