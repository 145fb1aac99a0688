import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { fanOut } from '../domain/fanout';
import { FanoutShard } from '../domain/messages';
import { POSTS_AT_ONCE, postToConnection } from '../shared/connections-api';
import { sqsConsumer } from '../shared/consumer';
import { metrics } from '../shared/metrics';
import { recordDelays } from '../shared/sli';
import { SLI_METRICS } from '../shared/telemetry';

// Room for the metrics and the answer after the last post (a post takes at most 2 s).
const DEADLINE_MARGIN_MS = 5_000;

/**
 * The feedFanout queue: one shard of a broadcast (up to 500 connections) per message, posted to its connections.
 * Failed posts are counted, not retried (the clients resume); only a message that is not a shard fails, to reach the DLQ.
 */
export const handler = sqsConsumer(FanoutShard, async (shard, { log, context, record }) => {
  const report = await fanOut(shard, {
    post: postToConnection,
    concurrency: POSTS_AT_ONCE,
    log: (message, extra) => log.warn(message, extra),
    // Posts still to make when the function is about to time out are left: the clients resume.
    timeLeft: () => context.getRemainingTimeInMillis() > DEADLINE_MARGIN_MS,
  });
  metrics.addMetric('FeedFramesSent', MetricUnit.Count, report.frames);
  metrics.addMetric('FeedConnectionsGone', MetricUnit.Count, report.gone);
  metrics.addMetric('FeedPostFailures', MetricUnit.Count, report.postFailures);
  metrics.addMetric('FeedPostsSkippedAtDeadline', MetricUnit.Count, report.skipped);
  // Commit to this shard's fan-out done, for its oldest event.
  const oldest = Math.min(...shard.events.map((event) => Date.parse(event.occurredAt)));
  if (Number.isFinite(oldest)) metrics.addMetric('FeedBroadcastLagMs', MetricUnit.Milliseconds, Date.now() - oldest);
  metrics.publishStoredMetrics();
  const { deliveryDelaysMs, ...counts } = report;
  recordDelays(SLI_METRICS.feedDelivery, deliveryDelaysMs);
  log.info('fan-out', { messageId: record.messageId, connections: shard.connections.length, events: shard.events.length, ...counts });
});
