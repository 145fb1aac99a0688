import { awsJson } from '../../functions/shared/aws-json';
import type { SloDeclaration } from '../declaration';
import { sliQuery } from './sli-queries';
import { sloStatus, type SloStatus } from './report';

interface MetricDataResult {
  Id: string;
  Values?: number[];
  StatusCode?: string;
}

/**
 * Each SLO over its window from CloudWatch (GetMetricData over CloudWatch's JSON protocol, signed with the credentials in
 * the environment): the same metric math as the alarms, one period as long as the window, plus the event count.
 */
export async function cloudWatchStatuses(slos: Readonly<Record<string, SloDeclaration>>, now = new Date(), env: NodeJS.ProcessEnv = process.env): Promise<SloStatus[]> {
  const send = awsJson({ service: 'monitoring', endpointVariable: 'AWS_ENDPOINT_URL_CLOUDWATCH', targetPrefix: 'GraniteServiceVersion20100801', timeoutMs: 10_000 }, env);
  const statuses: SloStatus[] = [];
  for (const [name, slo] of Object.entries(slos)) {
    const query = sliQuery(slo.sli);
    const period = slo.windowDays * 86400;
    const counts = query.metrics.filter((m) => m.stat === 'SampleCount').map((m) => `FILL(${m.id}, 0)`);
    const { MetricDataResults: results = [] } = await send<{ MetricDataResults?: MetricDataResult[] }>('GetMetricData', {
      StartTime: Math.floor(now.getTime() / 1000) - period,
      EndTime: Math.floor(now.getTime() / 1000),
      MetricDataQueries: [
        ...query.metrics.map((m) => ({
          Id: m.id,
          MetricStat: {
            Metric: { Namespace: m.namespace, MetricName: m.metricName, Dimensions: Object.entries(m.dimensions).map(([Name, Value]) => ({ Name, Value })) },
            Period: period,
            Stat: m.stat,
          },
          ReturnData: false,
        })),
        { Id: 'bad', Expression: query.badRatio, Period: period, ReturnData: true },
        { Id: 'total', Expression: counts.join(' + '), Period: period, ReturnData: true },
      ],
    });
    const values = (id: string) => results.find((result) => result.Id === id)?.Values ?? [];
    // Usually one period; should CloudWatch split the window in two, each period weighs by its events.
    const totals = values('total');
    const total = totals.reduce((sum, value) => sum + value, 0);
    const bad = values('bad').reduce((sum, ratio, i) => sum + ratio * (totals[i] ?? 0), 0);
    statuses.push(sloStatus(name, slo, { good: total - bad, total }));
  }
  return statuses;
}
