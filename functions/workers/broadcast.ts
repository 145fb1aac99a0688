import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { broadcast } from '../domain/broadcast';
import { closeRemovedMembers } from '../domain/feed-removals';
import { FeedMessage } from '../domain/messages';
import { closeConnection, postToConnection } from '../shared/connections-api';
import { sqsBatchConsumer } from '../shared/consumer';
import { logger } from '../shared/logger';
import { metrics } from '../shared/metrics';
import { recordDelays } from '../shared/sli';
import { SLI_METRICS } from '../shared/telemetry';

// Room for the head, the metrics and the answer after the last post (a post takes at most 2 s).
const DEADLINE_MARGIN_MS = 5_000;

/** The broadcast queue: each batch of events to the subscribed WebSocket connections (see broadcast). */
export const handler = sqsBatchConsumer(FeedMessage, async (messages, context) => {
  const events = messages.map(({ message, record, trace }) => ({ messageId: record.messageId, message, requestId: trace.requestId }));
  // Removed members first: nothing of this batch reaches them.
  const unclosed = await closeRemovedMembers(events, closeConnection, (message, extra) => logger.warn(message, extra));
  const report = await broadcast(
    events,
    postToConnection,
    (message, extra) => logger.warn(message, extra),
    // Posts still to make when the function is about to time out are left: the clients resume.
    () => context.getRemainingTimeInMillis() > DEADLINE_MARGIN_MS,
  );
  const oldest = Math.min(...messages.map(({ message }) => Date.parse(message.occurredAt)));
  metrics.addMetric('FeedFramesSent', MetricUnit.Count, report.frames);
  metrics.addMetric('FeedConnectionsGone', MetricUnit.Count, report.gone);
  metrics.addMetric('FeedPostFailures', MetricUnit.Count, report.postFailures);
  metrics.addMetric('FeedPostsSkippedAtDeadline', MetricUnit.Count, report.skipped);
  // Commit to fan-out done, for the oldest event of the batch.
  if (Number.isFinite(oldest)) metrics.addMetric('FeedBroadcastLagMs', MetricUnit.Milliseconds, Date.now() - oldest);
  metrics.publishStoredMetrics();
  const { deliveryDelaysMs, ...counts } = report;
  recordDelays(SLI_METRICS.feedDelivery, deliveryDelaysMs);
  logger.info('broadcast', { events: messages.length, ...counts, failed: report.failed.length });
  return [...new Set([...unclosed, ...report.failed])];
});
