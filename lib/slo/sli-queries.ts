import { METRICS_NAMESPACE, ROUTE_GROUP_DIMENSION, SERVICE_NAME, SLI_METRICS } from '../../functions/shared/telemetry';
import type { SliSample } from '../../functions/shared/sli';
import type { SliDeclaration } from '../declaration';

// An SLI as CloudWatch computes it (metric-math over the EMF metrics the functions emit) and as the local runtime
// counts it (over the same samples): both from the declaration, so the alarm, `npm run slo --aws` and the local
// report agree on what a bad event is.

/** One metric of a query, by CloudWatch's terms: `stat` is Sum, SampleCount or a percentile rank such as PR(:500). */
export interface MetricStat {
  id: string;
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
  stat: string;
}

/** The metrics an SLI reads and the metric-math expression, over their ids, of its bad-event ratio (0 to 1). */
export interface SliQuery {
  metrics: MetricStat[];
  badRatio: string;
}

const metric = (id: string, metricName: string, stat: string, routeGroup?: string): MetricStat => ({
  id,
  namespace: METRICS_NAMESPACE,
  metricName,
  dimensions: { service: SERVICE_NAME, ...(routeGroup ? { [ROUTE_GROUP_DIMENSION]: routeGroup } : {}) },
  stat,
});

const sumOf = (ids: string[]) => ids.map((id) => `FILL(${id}, 0)`).join(' + ');

/** A delay metric's threshold in its own unit: the outbox age is in seconds, the others in milliseconds. */
export function delayThreshold(sli: Extract<SliDeclaration, { kind: 'delay' }>): number {
  return sli.metric.endsWith('Seconds') ? sli.thresholdMs / 1000 : sli.thresholdMs;
}

/**
 * The bad-event ratio as metric math. Errors: 5xx samples over all samples. Latency and delays: 1 − the percentile
 * rank at the threshold (PR(:500) is the percentage of samples at most 500), weighted by each group's samples.
 * No samples at all is no bad event (0), never a missing point.
 */
export function sliQuery(sli: SliDeclaration): SliQuery {
  if (sli.kind === 'errors') {
    const groups = sli.routeGroups.map((group, i) => ({
      errors: metric(`e${i}`, SLI_METRICS.serverErrors, 'Sum', group),
      count: metric(`n${i}`, SLI_METRICS.serverErrors, 'SampleCount', group),
    }));
    const total = sumOf(groups.map((g) => g.count.id));
    return {
      metrics: groups.flatMap((g) => [g.errors, g.count]),
      badRatio: `IF((${total}) > 0, (${sumOf(groups.map((g) => g.errors.id))}) / (${total}), 0)`,
    };
  }
  const threshold = sli.kind === 'latency' ? sli.thresholdMs : delayThreshold(sli);
  const sources: { metricName: string; routeGroup?: string }[] =
    sli.kind === 'latency' ? sli.routeGroups.map((routeGroup) => ({ metricName: SLI_METRICS.latency, routeGroup })) : [{ metricName: sli.metric }];
  const groups = sources.map(({ metricName, routeGroup }, i) => ({
    within: metric(`p${i}`, metricName, `PR(:${threshold})`, routeGroup),
    count: metric(`n${i}`, metricName, 'SampleCount', routeGroup),
  }));
  const total = sumOf(groups.map((g) => g.count.id));
  const good = groups.map((g) => `FILL(${g.within.id}, 0) * FILL(${g.count.id}, 0)`).join(' + ');
  return {
    metrics: groups.flatMap((g) => [g.within, g.count]),
    badRatio: `IF((${total}) > 0, 1 - (${good}) / 100 / (${total}), 0)`,
  };
}

/** Good events and all of them, counted from SLI samples as they were emitted (the local runtime's count). */
export function countSli(sli: SliDeclaration, samples: readonly SliSample[]): { good: number; total: number } {
  let good = 0;
  let total = 0;
  for (const sample of samples) {
    if (sli.kind === 'errors') {
      if (sample.metric !== SLI_METRICS.serverErrors || !sample.routeGroup || !sli.routeGroups.includes(sample.routeGroup)) continue;
      total += 1;
      if (sample.value === 0) good += 1;
    } else if (sli.kind === 'latency') {
      if (sample.metric !== SLI_METRICS.latency || !sample.routeGroup || !sli.routeGroups.includes(sample.routeGroup)) continue;
      total += 1;
      if (sample.value <= sli.thresholdMs) good += 1;
    } else {
      if (sample.metric !== sli.metric) continue;
      total += 1;
      if (sample.value <= delayThreshold(sli)) good += 1;
    }
  }
  return { good, total };
}
