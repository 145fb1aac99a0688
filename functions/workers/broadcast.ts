import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { broadcast, type SendShards } from '../domain/broadcast';
import { closeRemovedMembers } from '../domain/feed-removals';
import { FeedMessage } from '../domain/messages';
import { closeConnection } from '../shared/connections-api';
import { sqsBatchConsumer } from '../shared/consumer';
import { logger } from '../shared/logger';
import { metrics } from '../shared/metrics';
import { sendMessages } from '../shared/sqs';

/**
 * The broadcast queue: each batch of events split into fan-out shards of the subscribed connections, queued to
 * `feedFanout`, whose invocations post them in parallel (functions/workers/feed-fanout.ts).
 */
export const handler = sqsBatchConsumer(FeedMessage, async (messages) => {
  const events = messages.map(({ message, record, trace }) => ({ messageId: record.messageId, message, requestId: trace.requestId }));
  // Removed members first: nothing of this batch reaches them.
  const unclosed = await closeRemovedMembers(events, closeConnection, (message, extra) => logger.warn(message, extra));
  // A shard serves the batch's requests: it carries the first one's correlation, as a batch's log lines do.
  const { trace } = messages[0]!;
  const sendShards: SendShards = async (shards) => {
    const result = await sendMessages(
      'feedFanout',
      shards.map((shard, index) => ({ id: String(index), body: JSON.stringify(shard), attributes: { requestId: trace.requestId, traceparent: trace.traceparent } })),
    );
    for (const failure of result.failed) logger.warn('a fan-out shard could not be queued', { reason: failure.reason });
    return result.failed.length;
  };
  const report = await broadcast(events, sendShards, (message, extra) => logger.warn(message, extra));
  metrics.addMetric('FeedFanoutShards', MetricUnit.Count, report.shards);
  metrics.publishStoredMetrics();
  logger.info('broadcast', { events: messages.length, shards: report.shards, connections: report.connections, failed: report.failed.length });
  return [...new Set([...unclosed, ...report.failed])];
});
