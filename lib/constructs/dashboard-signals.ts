import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { BREAKER_METRICS, DELIVERY_METRICS, OUTBOX_METRICS, QUOTA_METRICS, RATE_LIMIT_METRICS } from '../../functions/shared/telemetry';
import type { BreakerAlarms } from './breaker-alarms';
import type { ConflictRateAlarm } from './conflict-alarm';
import type { DeadLetterAlarms } from './dead-letter-alarms';
import type { FeedProbeAlarms } from './feed-probe-alarm';
import type { OutboxAlarms } from './outbox-alarms';
import type { QuotaAlarm } from './quota-alarm';
import type { RateLimitAlarms } from './rate-limit-alarms';
import { requestLatency, serviceMetric, type ServiceArea } from './slo-dashboards';

export interface WatchedSignals {
  readonly deadLetters: DeadLetterAlarms;
  readonly outbox: OutboxAlarms;
  readonly feedProbe: FeedProbeAlarms;
  readonly conflictRate: ConflictRateAlarm;
  readonly quotaThreshold: QuotaAlarm;
  readonly breakers: BreakerAlarms;
  readonly rateLimits: RateLimitAlarms;
}

const graph = (title: string, left: cloudwatch.IMetric[], width = 8) => new cloudwatch.GraphWidget({ title, left, width, height: 5 });

/** What each service area's dashboard shows below its SLOs: the signals TaskFlow already emitted and alarmed on. */
export function dashboardSignals(watched: WatchedSignals): Record<ServiceArea, cloudwatch.IWidget[]> {
  const alarms = (title: string, list: cloudwatch.IAlarm[]) => new cloudwatch.AlarmStatusWidget({ title, alarms: list, width: 24, height: 2 });
  return {
    api: [
      alarms('API alarms', [watched.rateLimits.refusedAlarm, watched.rateLimits.failedOpenAlarm, watched.quotaThreshold.alarm, watched.conflictRate.alarm]),
      graph('Latency per route group (p95, ms)', ['reads', 'mutations'].map((group) => requestLatency(group, 'p95'))),
      graph('Task update conflict rate (%)', [watched.conflictRate.rate]),
      graph('Rate limits: refused (%), checks failed open', [
        watched.rateLimits.refusedRate,
        serviceMetric(RATE_LIMIT_METRICS.refused, 'Sum', 'Refused (429)'),
        serviceMetric(RATE_LIMIT_METRICS.failedOpen, 'Sum', 'Failed open'),
      ]),
      graph('Quota: organizations past 80 % of a limit', [serviceMetric(QUOTA_METRICS.thresholdCrossed, 'Sum', 'Threshold crossed')]),
    ],
    feed: [
      alarms('Feed alarms', [watched.feedProbe.deliveryAlarm, watched.feedProbe.failuresAlarm]),
      graph('Feed probe: commit → frame (ms), failures', [watched.feedProbe.deliveryAlarm.metric, watched.feedProbe.failuresAlarm.metric]),
      graph('Feed messages latency (p95, ms)', [requestLatency('feed', 'p95')]),
      graph('Broadcast: lag (ms), post failures, connections refused', [
        serviceMetric('FeedBroadcastLagMs', 'Maximum', 'Broadcast lag (max)'),
        serviceMetric('FeedPostFailures', 'Sum', 'Post failures'),
        serviceMetric('FeedConnectionsRefused', 'Sum', 'Connections refused at the cap'),
      ]),
    ],
    pipeline: [
      alarms('Pipeline alarms', [
        watched.outbox.ageAlarm,
        watched.outbox.relayErrorsAlarm,
        ...Object.values(watched.deadLetters.alarms),
        ...Object.values(watched.breakers.alarms),
      ]),
      graph('Outbox: oldest unpublished (s), publish failures', [watched.outbox.ageAlarm.metric, serviceMetric(OUTBOX_METRICS.publishFailures, 'Sum', 'Publish failures')]),
      graph('Dead-letter queues: messages', Object.values(watched.deadLetters.alarms).map((alarm) => alarm.metric)),
      graph(`Circuit breakers: refused calls (${BREAKER_METRICS.open})`, Object.values(watched.breakers.alarms).map((alarm) => alarm.metric)),
      graph('Notifications refused for good', [serviceMetric(DELIVERY_METRICS.refused, 'Sum', 'Refused')]),
    ],
  };
}
