import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, ROUTE_GROUP_DIMENSION, SERVICE_NAME, SLI_METRICS } from '../../functions/shared/telemetry';
import type { SloDeclaration } from '../declaration';
import { BURN_RATE_WINDOWS } from '../slo/burn-rate';
import { badRatio, budgetOf, burnRateExpression } from './slo-alarms';

/** The service areas, one dashboard each. */
export type ServiceArea = 'api' | 'feed' | 'pipeline';

/** Where an SLO is shown: the feed's on the feed's dashboard, the asynchronous delays on the pipeline's, the rest on the API's. */
export function areaOf(slo: SloDeclaration): ServiceArea {
  if (slo.sli.kind === 'delay') return slo.sli.metric === SLI_METRICS.feedDelivery ? 'feed' : 'pipeline';
  return slo.sli.routeGroups.every((group) => group === 'feed') ? 'feed' : 'api';
}

export interface SloDashboardsProps {
  readonly app: string;
  readonly slos: Readonly<Record<string, SloDeclaration>>;
  /** The area's other signals (the metrics already emitted, the alarms already there), below its SLOs. */
  readonly signals: Readonly<Record<ServiceArea, readonly cloudwatch.IWidget[]>>;
}

const TITLES: Record<ServiceArea, string> = { api: 'API', feed: 'Activity feed', pipeline: 'Async pipeline and integrations' };

/**
 * A CloudWatch dashboard per service area (`TaskFlow-api`, `TaskFlow-feed`, `TaskFlow-pipeline`): per SLO the error
 * budget left and the compliance over the dashboard's range (it opens on the last 30 days, the SLOs' window), the SLI
 * and the burn rate per hour against the alert thresholds; then the area's other signals.
 */
export class SloDashboards extends Construct {
  readonly dashboards: Readonly<Record<ServiceArea, cloudwatch.Dashboard>>;

  constructor(scope: Construct, id: string, props: SloDashboardsProps) {
    super(scope, id);
    const make = (area: ServiceArea) => {
      const dashboard = new cloudwatch.Dashboard(this, TITLES[area].replace(/\W/g, ''), {
        dashboardName: `${props.app}-${area}`,
        defaultInterval: Duration.days(30),
      });
      dashboard.addWidgets(
        new cloudwatch.TextWidget({
          markdown: `# ${props.app}: ${TITLES[area]}\nSLOs (lib/app.ts, \`slos\`): budget left and compliance over the range shown (30 days: the SLO window). Alerts page at ${BURN_RATE_WINDOWS.filter((w) => w.severity === 'page').map((w) => `${w.burnRate}×`).join(' or ')} and open a ticket at ${BURN_RATE_WINDOWS.filter((w) => w.severity === 'ticket').map((w) => `${w.burnRate}×`).join('')}; \`npm run slo -- --aws\` prints the same figures.`,
          width: 24,
          height: 2,
        }),
      );
      for (const [name, slo] of Object.entries(props.slos).filter(([, slo]) => areaOf(slo) === area)) dashboard.addWidgets(...sloRow(name, slo));
      dashboard.addWidgets(...props.signals[area]);
      return dashboard;
    };
    this.dashboards = { api: make('api'), feed: make('feed'), pipeline: make('pipeline') };
  }
}

function sloRow(name: string, slo: SloDeclaration): cloudwatch.IWidget[] {
  const hour = Duration.hours(1);
  const budget = budgetOf(slo);
  const overRange = badRatio(slo, hour);
  const overRangeMetrics = overRange.usingMetrics;
  return [
    new cloudwatch.SingleValueWidget({
      title: `${name}: ${slo.description} (objective ${Number((slo.objective * 100).toPrecision(4))} %)`,
      metrics: [
        new cloudwatch.MathExpression({ expression: `100 * (1 - (${overRange.expression}) / ${budget})`, usingMetrics: overRangeMetrics, label: 'Error budget left (%)' }),
        new cloudwatch.MathExpression({ expression: `100 * (1 - (${overRange.expression}))`, usingMetrics: overRangeMetrics, label: 'Compliance (%)' }),
      ],
      setPeriodToTimeRange: true,
      width: 8,
      height: 4,
    }),
    new cloudwatch.GraphWidget({
      title: `${name}: SLI (good events, %)`,
      left: [new cloudwatch.MathExpression({ expression: `100 * (1 - (${overRange.expression}))`, usingMetrics: overRangeMetrics, period: hour, label: 'Good (%)' })],
      leftAnnotations: [{ value: slo.objective * 100, label: 'Objective' }],
      width: 8,
      height: 4,
    }),
    new cloudwatch.GraphWidget({
      title: `${name}: burn rate per hour`,
      left: [burnRateExpression(slo, hour, 'Burn rate (1 h)')],
      leftAnnotations: BURN_RATE_WINDOWS.map((w) => ({ value: w.burnRate, label: `${w.severity} ${w.burnRate}×` })),
      width: 8,
      height: 4,
    }),
  ];
}

/** One of the SLIs' request metrics, by route group, for the latency graphs. */
export const requestLatency = (routeGroup: string, statistic: string) =>
  new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: SLI_METRICS.latency,
    dimensionsMap: { service: SERVICE_NAME, [ROUTE_GROUP_DIMENSION]: routeGroup },
    statistic,
    period: Duration.minutes(5),
    label: `${routeGroup} ${statistic}`,
  });

/** A metric the functions emit with the service dimension only. */
export const serviceMetric = (metricName: string, statistic: string, label: string) =>
  new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: SERVICE_NAME }, statistic, period: Duration.minutes(5), label });
