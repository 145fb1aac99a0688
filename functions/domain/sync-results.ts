import type { Delivery } from '../shared/consumer';
import { sendMessages } from '../shared/sqs';
import type { SyncResult } from './messages';

const SEND_ATTEMPTS = 3;

/**
 * What a sync worker found or did, to the `syncResults` queue (one message each: SendMessageBatch's limit is the
 * batch's total size), with the run's request id and trace, retried a little.
 */
export async function sendSyncResult(result: SyncResult, { trace }: Pick<Delivery, 'trace'>): Promise<void> {
  const message = { id: 'result', body: JSON.stringify(result), attributes: { requestId: trace.requestId, traceparent: trace.traceparent } };
  for (let attempt = 1; ; attempt += 1) {
    const { failed } = await sendMessages('syncResults', [message]);
    if (failed.length === 0) return;
    if (attempt >= SEND_ATTEMPTS) throw new Error(`syncResults: a result of run ${result.runId} was not sent: ${failed[0]!.reason}`);
    await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
  }
}
