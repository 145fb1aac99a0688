import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { FEED_PROBE_METRICS, METRICS_NAMESPACE, SERVICE_NAME } from '../../functions/shared/telemetry';

/** Above this delivery time (ms), the feed is late. */
export const FEED_DELIVERY_THRESHOLD_MS = 5_000;

/**
 * Whether the activity feed delivers (review C3), as a browser sees it: the synthetic probe, every 5 minutes,
 * connects, subscribes, changes its probe project and times the event's frame. Two alarms: delivery slow or
 * not reported (a probe that does not run, or whose event never arrives, reports no delivery time: breaching),
 * and a failed run. The broadcast and fan-out workers' own failures end in their dead-letter queues, which have their alarms.
 */
export class FeedProbeAlarms extends Construct {
  /** In alarm when two probe periods in a row had a delivery over 5 s, or none reported. */
  readonly deliveryAlarm: cloudwatch.Alarm;
  /** In alarm when a probe run failed. */
  readonly failuresAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    const metric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: SERVICE_NAME },
        statistic,
        period: Duration.minutes(5),
      });

    // The probe runs every 5 minutes, not on the period's boundaries: a period may now and then hold no run,
    // so one empty (or slow) period alone does not alarm.
    this.deliveryAlarm = metric(FEED_PROBE_METRICS.deliveryMs, cloudwatch.Stats.MAXIMUM).createAlarm(this, 'DeliveryAlarm', {
      alarmDescription:
        `The feed probe's event took more than ${FEED_DELIVERY_THRESHOLD_MS / 1000} s from commit to WebSocket frame, or no ` +
        'delivery was reported, in two 5-minute periods in a row: browsers see changes late or not at all. See FeedProbeFailures, ' +
        'the probe\'s, the broadcast and the fan-out workers\' logs, the broadcast and feedFanout queues\' backlogs and GET /health; docs/runbooks/feed-delivery.md.',
      threshold: FEED_DELIVERY_THRESHOLD_MS,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    this.failuresAlarm = metric(FEED_PROBE_METRICS.failures, cloudwatch.Stats.SUM).createAlarm(this, 'FailuresAlarm', {
      alarmDescription:
        'A feed probe run failed (no token, no WebSocket connection, or the event\'s frame did not come in time): the reason ' +
        'is in the probe\'s logs ("feed probe failed") and in GET /health; docs/runbooks/feed-delivery.md.',
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // A run that reports nothing is the delivery alarm's concern.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
