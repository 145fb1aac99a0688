import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { SloDeclaration } from '../declaration';
import { burnAlarmName, sloAlertName } from '../slo/alarm-names';
import { BURN_RATE_WINDOWS, windowLabel, type BurnRateWindow } from '../slo/burn-rate';
import { sliQuery } from '../slo/sli-queries';

/** The error budget as a ratio (0.001 for 99.9 %), written without floating-point noise. */
export const budgetOf = (slo: Pick<SloDeclaration, 'objective'>) => Number((1 - slo.objective).toPrecision(6));

/** An SLO's bad-event ratio over `period`, as metric math over the metrics the functions emit (lib/slo/sli-queries.ts). */
export function badRatio(slo: SloDeclaration, period: Duration, label?: string): cloudwatch.MathExpression {
  const query = sliQuery(slo.sli);
  return new cloudwatch.MathExpression({
    expression: query.badRatio,
    usingMetrics: Object.fromEntries(
      query.metrics.map((m) => [m.id, new cloudwatch.Metric({ namespace: m.namespace, metricName: m.metricName, dimensionsMap: m.dimensions, statistic: m.stat, period })]),
    ),
    period,
    ...(label ? { label } : {}),
  });
}

/** The burn rate over `period`: the bad-event ratio over the budget (1: the budget lasts exactly the SLO's window). */
export function burnRateExpression(slo: SloDeclaration, period: Duration, label?: string): cloudwatch.MathExpression {
  const ratio = badRatio(slo, period);
  return new cloudwatch.MathExpression({
    expression: `(${ratio.expression}) / ${budgetOf(slo)}`,
    usingMetrics: ratio.usingMetrics,
    period,
    ...(label ? { label } : {}),
  });
}

export interface SloAlarmsProps {
  readonly app: string;
  readonly slos: Readonly<Record<string, SloDeclaration>>;
}

/** One SLO's alarms: a metric-math alarm per window, and the two composites that notify. */
export interface SloAlerts {
  /** By name, e.g. `TaskFlow-slo-availability-burn-fast-5m`: each only a part of a composite, notifying nobody itself. */
  readonly windows: Readonly<Record<string, cloudwatch.Alarm>>;
  /** Either page pair (14.4× over 1 h and 5 min, or 6× over 6 h and 30 min) in alarm. */
  readonly page: cloudwatch.CompositeAlarm;
  /** The slow pair (3× over a day and 2 hours) in alarm. */
  readonly ticket: cloudwatch.CompositeAlarm;
}

/**
 * Multiwindow, multi-burn-rate alerts on every declared SLO (the SRE workbook's pairs, lib/slo/burn-rate.ts): per
 * window a metric-math alarm on the burn rate over that window (its period), each pair ANDed so that a burn pages
 * only when it both lasted (long window) and still goes on (short window), the page pairs ORed. Missing data (no
 * traffic) is no burn. Every alarm's description names its runbook.
 */
export class SloAlarms extends Construct {
  readonly slos: Readonly<Record<string, SloAlerts>>;

  constructor(scope: Construct, id: string, props: SloAlarmsProps) {
    super(scope, id);
    const slos: Record<string, SloAlerts> = {};
    for (const [name, slo] of Object.entries(props.slos)) {
      const scopeOf = new Construct(this, name);
      const windows: Record<string, cloudwatch.Alarm> = {};
      const pair = (window: BurnRateWindow) =>
        cloudwatch.AlarmRule.allOf(
          ...(['long', 'short'] as const).map((which) => {
            const seconds = which === 'long' ? window.longSeconds : window.shortSeconds;
            const alarmName = burnAlarmName(props.app, name, window, which);
            const alarm = burnRateExpression(slo, Duration.seconds(seconds)).createAlarm(scopeOf, `${window.name}-${windowLabel(seconds)}`, {
              alarmName,
              alarmDescription:
                `${slo.description}: the error budget (${pct(budgetOf(slo))} of ${slo.windowDays} days) burns faster than ${window.burnRate}× over the last ` +
                `${windowLabel(seconds)}. One window of the ${window.severity} pair; runbook: ${slo.runbook}`,
              threshold: window.burnRate,
              comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
              evaluationPeriods: 1,
              treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
            });
            windows[alarmName] = alarm;
            return cloudwatch.AlarmRule.fromAlarm(alarm, cloudwatch.AlarmState.ALARM);
          }),
        );
      const rule = (severity: 'page' | 'ticket') => {
        const pairs = BURN_RATE_WINDOWS.filter((w) => w.severity === severity).map(pair);
        return pairs.length === 1 ? pairs[0]! : cloudwatch.AlarmRule.anyOf(...pairs);
      };
      const describe = (severity: 'page' | 'ticket') =>
        `${severity === 'page' ? 'PAGE' : 'TICKET'}: ${slo.description} (objective ${pct(slo.objective)} over ${slo.windowDays} days) is burning its error budget: ` +
        BURN_RATE_WINDOWS.filter((w) => w.severity === severity)
          .map((w) => `${w.burnRate}× over ${windowLabel(w.longSeconds)} and ${windowLabel(w.shortSeconds)}`)
          .join(', or ') +
        `. Runbook: ${slo.runbook}`;
      const page = new cloudwatch.CompositeAlarm(scopeOf, 'Page', {
        compositeAlarmName: sloAlertName(props.app, name, 'page'),
        alarmDescription: describe('page'),
        alarmRule: rule('page'),
      });
      const ticket = new cloudwatch.CompositeAlarm(scopeOf, 'Ticket', {
        compositeAlarmName: sloAlertName(props.app, name, 'ticket'),
        alarmDescription: describe('ticket'),
        alarmRule: rule('ticket'),
      });
      slos[name] = { windows, page, ticket };
    }
    this.slos = slos;
  }

  /** Every window alarm (they notify nobody: their composites do). */
  get windowAlarms(): cloudwatch.Alarm[] {
    return Object.values(this.slos).flatMap((slo) => Object.values(slo.windows));
  }

  /** Every composite, page and ticket. */
  get alerts(): cloudwatch.CompositeAlarm[] {
    return Object.values(this.slos).flatMap((slo) => [slo.page, slo.ticket]);
  }
}

const pct = (ratio: number) => `${Number((ratio * 100).toPrecision(4))} %`;
