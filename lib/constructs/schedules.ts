import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { ScheduleDeclaration } from '../declaration';
import { METRICS_NAMESPACE, OUTBOX_METRICS, SERVICE_NAME } from '../../functions/shared/telemetry';
import type { Database } from './database';
import { type IntegrationSettings, type OutboxQueues, TaskFlowFunction, type WebSocketSettings } from './function';

export interface SchedulesProps<ScheduleName extends string> {
  /** The declared schedules (`taskflow.schedules`). */
  readonly schedules: Readonly<Record<ScheduleName, ScheduleDeclaration>>;
  readonly database: Database;
  readonly idempotencyTable: dynamodb.ITable;
  readonly filesBucket: s3.IBucket;
  readonly queues: OutboxQueues;
  readonly integrations: IntegrationSettings;
  readonly connectionsTable: dynamodb.ITable;
  /** The WebSocket API the feed probe connects to. */
  readonly webSocket: WebSocketSettings;
  /** The REST API's base URL, where the feed probe makes its change. */
  readonly apiUrl: string;
}

/** `outboxRelay` → `OutboxRelay`: the construct id prefix of a declared schedule. */
export function scheduleId(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** Above this age (seconds) of the oldest unpublished outbox entry, events are late. */
export const OUTBOX_AGE_THRESHOLD_SECONDS = 5;

/**
 * The declared schedules: each function runs at its fixed rate from an EventBridge rule.
 *
 * An EventBridge rule rather than EventBridge Scheduler: a plain rate needs none of what Scheduler adds
 * (time zones, one-off times, flexible windows), and the rule invokes through the function's resource
 * policy, with no role to create. No retries anywhere (neither EventBridge's delivery nor Lambda's
 * asynchronous retries, and a trigger older than one period is dropped): the next run comes one period
 * later and does the same work, while a retry would only add a run on top of it.
 */
export class Schedules<ScheduleName extends string = string> extends Construct {
  readonly functions: Readonly<Record<ScheduleName, TaskFlowFunction>>;
  readonly rules: Readonly<Record<ScheduleName, events.Rule>>;

  constructor(scope: Construct, id: string, props: SchedulesProps<ScheduleName>) {
    super(scope, id);

    const functions = {} as Record<ScheduleName, TaskFlowFunction>;
    const rules = {} as Record<ScheduleName, events.Rule>;
    for (const [name, declaration] of Object.entries(props.schedules) as [ScheduleName, ScheduleDeclaration][]) {
      const prefix = scheduleId(name);
      const fn = new TaskFlowFunction(this, prefix, {
        declaration: declaration.function,
        database: props.database,
        idempotencyTable: props.idempotencyTable,
        filesBucket: props.filesBucket,
        queues: props.queues,
        integrations: props.integrations,
        connectionsTable: props.connectionsTable,
        webSocket: props.webSocket,
        apiUrl: props.apiUrl,
      });
      // The next run comes on the rate; an event older than one period (at most Lambda's 6 h) is dropped.
      fn.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(Math.min(declaration.everyMinutes, 360)) });
      rules[name] = new events.Rule(this, `${prefix}Schedule`, {
        description: `${declaration.description} (every ${declaration.everyMinutes} min)`,
        schedule: events.Schedule.rate(Duration.minutes(declaration.everyMinutes)),
        targets: [new targets.LambdaFunction(fn, { retryAttempts: 0 })],
      });
      functions[name] = fn;
    }
    this.functions = functions;
    this.rules = rules;
  }
}

export interface OutboxAlarmsProps {
  /** The outbox relay function (the `outboxRelay` schedule). */
  readonly relay: lambda.IFunction;
}

/**
 * Whether the outbox is published on time (review: an event reaches its queues within seconds of the commit):
 * the age of the oldest unpublished entry, which the relay emits on every poll (so a missing point means the
 * relay is not running: breaching), and the relay's own errors.
 */
export class OutboxAlarms extends Construct {
  /** In alarm when an outbox entry has waited more than 5 s to be published, or no age was reported for a minute. */
  readonly ageAlarm: cloudwatch.Alarm;
  /** In alarm when the relay failed (error or timeout) in 2 of 3 consecutive minutes. */
  readonly relayErrorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: OutboxAlarmsProps) {
    super(scope, id);

    this.ageAlarm = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: OUTBOX_METRICS.oldestUnpublishedAge,
      dimensionsMap: { service: SERVICE_NAME },
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.minutes(1),
    }).createAlarm(this, 'AgeAlarm', {
      alarmDescription:
        `The oldest unpublished outbox entry is more than ${OUTBOX_AGE_THRESHOLD_SECONDS} s old, or the outbox relay ` +
        'reported nothing for a minute (not running, or unable to read the outbox: see OutboxRelayFailures): events reach the queues late. See the relay\'s logs.',
      threshold: OUTBOX_AGE_THRESHOLD_SECONDS,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    this.relayErrorsAlarm = props.relay
      .metricErrors({ period: Duration.minutes(1), statistic: cloudwatch.Stats.SUM })
      .createAlarm(this, 'RelayErrorsAlarm', {
        alarmDescription: 'The outbox relay failed (an error or a timeout) in 2 of the last 3 minutes; see its logs.',
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
  }
}
