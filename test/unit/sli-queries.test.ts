import { describe, expect, it } from 'vitest';
import type { SliSample } from '../../functions/shared/sli';
import { taskflow } from '../../lib/app';
import { countSli, sliQuery } from '../../lib/slo/sli-queries';

// One definition of a good event for CloudWatch's metric math and for the local runtime's count.

const request = (routeGroup: SliSample['routeGroup'], latencyMs: number, serverError: boolean): SliSample[] => [
  { metric: 'RequestLatencyMs', value: latencyMs, routeGroup },
  { metric: 'RequestServerErrors', value: serverError ? 1 : 0, routeGroup },
];

const samples: SliSample[] = [
  ...request('reads', 120, false),
  ...request('reads', 900, false),
  ...request('reads', 40, true),
  ...request('mutations', 300, false),
  ...request('feed', 20, false),
  { metric: 'OutboxOldestUnpublishedAgeSeconds', value: 0 },
  { metric: 'OutboxOldestUnpublishedAgeSeconds', value: 5 },
  { metric: 'OutboxOldestUnpublishedAgeSeconds', value: 7.5 },
  { metric: 'NotificationDeliveryMs', value: 119_000 },
  { metric: 'NotificationDeliveryMs', value: 121_000 },
];

describe('counting an SLI from samples', () => {
  it('counts a server error against its route groups only', () => {
    expect(countSli(taskflow.slos.readErrors.sli, samples)).toEqual({ good: 2, total: 3 });
    expect(countSli(taskflow.slos.mutationErrors.sli, samples)).toEqual({ good: 1, total: 1 });
    expect(countSli(taskflow.slos.availability.sli, samples)).toEqual({ good: 4, total: 5 });
  });

  it('counts a request within the threshold as good, however it answered', () => {
    expect(countSli(taskflow.slos.readLatency.sli, samples)).toEqual({ good: 2, total: 3 });
    expect(countSli(taskflow.slos.feedLatency.sli, samples)).toEqual({ good: 1, total: 1 });
  });

  it('reads a delay in its metric\'s unit: the outbox age in seconds, deliveries in milliseconds', () => {
    expect(countSli(taskflow.slos.outboxLag.sli, samples)).toEqual({ good: 2, total: 3 });
    expect(countSli(taskflow.slos.notificationDelivery.sli, samples)).toEqual({ good: 1, total: 2 });
    expect(countSli(taskflow.slos.feedDelivery.sli, samples)).toEqual({ good: 0, total: 0 });
  });
});

describe('an SLI as metric math', () => {
  it('divides the route groups\' 5xx by their requests, and is 0 without requests', () => {
    const query = sliQuery(taskflow.slos.availability.sli);
    expect(query.metrics.map((m) => `${m.id} ${m.metricName} ${m.stat} ${m.dimensions.routeGroup}`)).toEqual([
      'e0 RequestServerErrors Sum reads',
      'n0 RequestServerErrors SampleCount reads',
      'e1 RequestServerErrors Sum mutations',
      'n1 RequestServerErrors SampleCount mutations',
      'e2 RequestServerErrors Sum feed',
      'n2 RequestServerErrors SampleCount feed',
    ]);
    expect(query.badRatio).toBe(
      'IF((FILL(n0, 0) + FILL(n1, 0) + FILL(n2, 0)) > 0, (FILL(e0, 0) + FILL(e1, 0) + FILL(e2, 0)) / (FILL(n0, 0) + FILL(n1, 0) + FILL(n2, 0)), 0)',
    );
  });

  it('takes 1 − the percentile rank at the threshold, in the metric\'s unit', () => {
    expect(sliQuery(taskflow.slos.readLatency.sli)).toEqual({
      metrics: [
        expect.objectContaining({ id: 'p0', metricName: 'RequestLatencyMs', stat: 'PR(:500)' }),
        expect.objectContaining({ id: 'n0', metricName: 'RequestLatencyMs', stat: 'SampleCount' }),
      ],
      badRatio: 'IF((FILL(n0, 0)) > 0, 1 - (FILL(p0, 0) * FILL(n0, 0)) / 100 / (FILL(n0, 0)), 0)',
    });
    expect(sliQuery(taskflow.slos.outboxLag.sli).metrics[0]).toMatchObject({ metricName: 'OutboxOldestUnpublishedAgeSeconds', stat: 'PR(:5)' });
  });
});
