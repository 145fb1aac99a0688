import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ScheduledEvent } from 'aws-lambda';
import { measureReplicaLag } from '../domain/replication-lag';
import { lambdaHandler } from '../shared/handler';
import { logger } from '../shared/logger';
import { metrics } from '../shared/metrics';
import { REPLICA_METRICS } from '../shared/telemetry';

/** EventBridge, every minute: writes the heartbeat and publishes how long the read replica took to show it (review S4). */
export const handler = lambdaHandler<ScheduledEvent, void>(async () => {
  const lagSeconds = await measureReplicaLag();
  if (lagSeconds === null) return; // no replica in this stack: nothing to measure, nothing written
  metrics.addMetric(REPLICA_METRICS.lagSeconds, MetricUnit.Seconds, lagSeconds);
  metrics.publishStoredMetrics();
  logger.info('read replica lag measured', { lagSeconds });
}, (event) => event.id);
