import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { taskflow } from '../../lib/app';
import { PROJECT_ROOT } from '../../lib/constructs/function';
import { areaOf } from '../../lib/constructs/slo-dashboards';
import { burnAlarmName, deploymentGateAlarmName, sloAlertName } from '../../lib/slo/alarm-names';
import { BURN_RATE_WINDOWS } from '../../lib/slo/burn-rate';
import type { TaskFlow } from '../../lib/stacks/taskflow';
import { logicalId, type Resource, resourcesOfType, SYNTH_TIMEOUT_MS, synthesizeTaskFlow } from './synth';

// The SLOs (review M1) as an operator meets them in AWS: per SLO a burn-rate alarm per window, the pairs combined in
// composites that page or open a ticket through the alarm topic, every alarm naming its runbook, and a dashboard
// per service area.

let stacks: TaskFlow;
let resources: Record<string, Resource>;

beforeAll(() => {
  ({ stacks, resources } = synthesizeTaskFlow());
}, SYNTH_TIMEOUT_MS);

const sloNames = Object.keys(taskflow.slos) as (keyof typeof taskflow.slos)[];
const ofType = (type: string) => resourcesOfType(resources, type);
const byName = (type: string, key: string) => new Map(ofType(type).map(([id, r]) => [r.Properties[key] as string, { id, ...r }]));
const propsOf = (construct: IConstruct) => resources[logicalId(construct)]!.Properties;
const ref = (id: string) => ({ Ref: id });

describe('burn-rate window alarms', () => {
  it.each(sloNames)('%s: one metric-math alarm per window, on its burn rate over that window, naming the runbook', (name) => {
    const slo = taskflow.slos[name];
    const alarms = byName('AWS::CloudWatch::Alarm', 'AlarmName');
    for (const window of BURN_RATE_WINDOWS) {
      for (const which of ['long', 'short'] as const) {
        const alarm = alarms.get(burnAlarmName(taskflow.name, name, window, which));
        expect(alarm, burnAlarmName(taskflow.name, name, window, which)).toBeDefined();
        const props = alarm!.Properties;
        expect(props.Threshold).toBe(window.burnRate);
        expect(props.ComparisonOperator).toBe('GreaterThanThreshold');
        expect(props.EvaluationPeriods).toBe(1);
        expect(props.TreatMissingData).toBe('notBreaching');
        expect(props.AlarmDescription).toContain(slo.runbook);
        // Only its composite notifies: a window alone is a blip or a stale hour.
        expect(props.AlarmActions ?? []).toEqual([]);
        const [expression, ...metrics] = [props.Metrics.find((m: any) => m.Expression), ...props.Metrics.filter((m: any) => m.MetricStat)];
        expect(expression.ReturnData ?? true).toBe(true);
        expect(expression.Expression).toMatch(new RegExp(`\\) / ${(1 - slo.objective).toPrecision(1).replace('.', '\\.')}`));
        for (const metric of metrics) {
          expect(metric.MetricStat.Period).toBe(which === 'long' ? window.longSeconds : window.shortSeconds);
          expect(metric.MetricStat.Metric.Namespace).toBe('TaskFlow');
          expect(metric.ReturnData).toBe(false);
        }
      }
    }
  });

  it('counts errors as 5xx samples over all samples of the route groups, latency and delays as a ratio under the threshold', () => {
    const alarms = byName('AWS::CloudWatch::Alarm', 'AlarmName');
    const metricsOf = (slo: string) => alarms.get(deploymentGateAlarmName(taskflow.name, slo))!.Properties.Metrics.filter((m: any) => m.MetricStat);
    const describe = (m: any) =>
      `${m.MetricStat.Metric.MetricName} ${m.MetricStat.Stat} ${m.MetricStat.Metric.Dimensions.map((d: any) => `${d.Name}=${d.Value}`).sort().join(',')}`;
    expect(metricsOf('availability').map(describe).sort()).toEqual(
      ['feed', 'mutations', 'reads'].flatMap((group) => [`RequestServerErrors SampleCount routeGroup=${group},service=taskflow`, `RequestServerErrors Sum routeGroup=${group},service=taskflow`]).sort(),
    );
    expect(metricsOf('readLatency').map(describe).sort()).toEqual(['RequestLatencyMs PR(:500) routeGroup=reads,service=taskflow', 'RequestLatencyMs SampleCount routeGroup=reads,service=taskflow']);
    expect(metricsOf('outboxLag').map(describe).sort()).toEqual(['OutboxOldestUnpublishedAgeSeconds PR(:5) service=taskflow', 'OutboxOldestUnpublishedAgeSeconds SampleCount service=taskflow']);
    expect(metricsOf('notificationDelivery').map(describe).sort()).toEqual(['NotificationDeliveryMs PR(:120000) service=taskflow', 'NotificationDeliveryMs SampleCount service=taskflow']);
  });

  it('has, per SLO, the 14.4× 5-minute alarm under the name the canary\'s deployment groups list as a rollback trigger', () => {
    const alarms = byName('AWS::CloudWatch::Alarm', 'AlarmName');
    for (const name of sloNames) {
      expect(deploymentGateAlarmName(taskflow.name, name)).toBe(`TaskFlow-slo-${name}-burn-fast-5m`);
      const gate = alarms.get(`TaskFlow-slo-${name}-burn-fast-5m`)!.Properties;
      expect(gate.Threshold).toBe(14.4);
      expect(gate.Metrics.find((m: any) => m.MetricStat).MetricStat.Period).toBe(300);
    }
  });
});

describe('composite alerts', () => {
  const topic = () => ref(logicalId(stacks.operations.alarms.topic));
  /** The alarm rule with each alarm's ARN (Fn::GetAtt) written as its name. */
  const ruleOf = (props: Record<string, any>): string => {
    const names = new Map(ofType('AWS::CloudWatch::Alarm').map(([id, r]) => [id, r.Properties.AlarmName as string]));
    const flatten = (value: any): string =>
      typeof value === 'string' ? value
      : value['Fn::Join'] ? value['Fn::Join'][1].map(flatten).join(value['Fn::Join'][0])
      : value['Fn::GetAtt'] ? names.get(value['Fn::GetAtt'][0])!
      : JSON.stringify(value);
    return flatten(props.AlarmRule);
  };

  it.each(sloNames)('%s: pages when either page pair burns (both windows of a pair), through the alarm topic', (name) => {
    const page = byName('AWS::CloudWatch::CompositeAlarm', 'AlarmName').get(sloAlertName(taskflow.name, name, 'page'))!.Properties;
    const alarm = (suffix: string) => `ALARM("TaskFlow-slo-${name}-burn-${suffix}")`;
    expect(ruleOf(page)).toBe(`((${alarm('fast-1h')} AND ${alarm('fast-5m')}) OR (${alarm('steady-6h')} AND ${alarm('steady-30m')}))`);
    expect(page.AlarmActions).toEqual([topic()]);
    expect(page.OKActions).toEqual([topic()]);
    expect(page.AlarmDescription).toMatch(/^PAGE: /);
    expect(page.AlarmDescription).toContain(taskflow.slos[name].runbook);
  });

  it.each(sloNames)('%s: opens a ticket when the slow pair burns, through the alarm topic under a -ticket name', (name) => {
    const ticket = byName('AWS::CloudWatch::CompositeAlarm', 'AlarmName').get(sloAlertName(taskflow.name, name, 'ticket'))!.Properties;
    expect(ruleOf(ticket)).toBe(`(ALARM("TaskFlow-slo-${name}-burn-slow-1d") AND ALARM("TaskFlow-slo-${name}-burn-slow-2h"))`);
    expect(ticket.AlarmActions).toEqual([topic()]);
    expect(ticket.AlarmDescription).toMatch(/^TICKET: /);
    expect(ticket.AlarmDescription).toContain(taskflow.slos[name].runbook);
  });

  it('names an existing runbook in every SLO alarm', () => {
    for (const slo of Object.values(taskflow.slos)) expect(existsSync(path.join(PROJECT_ROOT, slo.runbook)), slo.runbook).toBe(true);
  });
});

describe('dashboards', () => {
  it('has one per service area, each showing its SLOs and the signals already emitted', () => {
    const dashboards = byName('AWS::CloudWatch::Dashboard', 'DashboardName');
    expect([...dashboards.keys()].sort()).toEqual(['TaskFlow-api', 'TaskFlow-feed', 'TaskFlow-pipeline']);
    const body = (area: string) => JSON.stringify(propsOf(stacks.operations.dashboards.dashboards[area as 'api']).DashboardBody);
    for (const [name, slo] of Object.entries(taskflow.slos)) {
      expect(body(areaOf(slo)), name).toContain(`${name}: burn rate per hour`);
      expect(body(areaOf(slo)), name).toContain('Error budget left (%)');
    }
    for (const signal of ['RequestsRateLimited', 'QuotaThresholdCrossed', 'TaskUpdateConflicts', 'RequestLatencyMs']) expect(body('api'), signal).toContain(signal);
    for (const signal of ['FeedProbeDeliveryMs', 'FeedBroadcastLagMs', 'FeedConnectionsRefused']) expect(body('feed'), signal).toContain(signal);
    for (const signal of ['OutboxOldestUnpublishedAgeSeconds', 'ApproximateNumberOfMessagesVisible', 'IntegrationBreakerOpen', 'NotificationsRefused']) {
      expect(body('pipeline'), signal).toContain(signal);
    }
  });
});
