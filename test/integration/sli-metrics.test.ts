import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { emfLines } from '../support/emf-lines';

// The SLIs as CloudWatch receives them (review M1): Embedded Metric Format lines in the function's log, with exactly the
// dimension sets the burn-rate alarms read (service and routeGroup for requests, service alone for delays).
let api: typeof import('../support/api');
let ws: typeof import('../support/websocket');
let sli: typeof import('../../functions/shared/sli');
const lines = emfLines();

beforeAll(async () => {
  api = await import('../support/api');
  ws = await import('../support/websocket');
  sli = await import('../../functions/shared/sli');
});

const withMetric = (name: string) => lines.filter((line) => name in line && line._aws.CloudWatchMetrics[0].Namespace === 'TaskFlow');
const dimensionsOf = (line: Record<string, any>) => line._aws.CloudWatchMetrics[0].Dimensions;

describe('SLI metrics', () => {
  it('counts every REST request in its route group with its latency and whether it was a server error', async () => {
    const alice = api.newCaller();
    const project = await api.createProject(alice); // a mutation
    expect((await api.invoke('getProject', alice, { params: { projectId: project.id } })).status).toBe(200);
    expect((await api.invoke('getProject', alice, { params: { projectId: randomUUID() } })).status).toBe(404); // not a server error
    const requests = withMetric('RequestServerErrors');
    expect(requests.map((line) => [line.routeGroup, line.RequestServerErrors])).toEqual(
      expect.arrayContaining([['mutations', 0], ['reads', 0], ['reads', 0]]),
    );
    for (const line of requests) {
      expect(dimensionsOf(line)).toEqual([['service', 'routeGroup']]);
      expect(line.service).toBe('taskflow');
      expect(line.RequestLatencyMs).toBeGreaterThan(0);
    }
  });

  it('counts every feed message in the feed group; a failure it cannot help is a server error', async () => {
    const before = withMetric('RequestServerErrors').length;
    const bob = api.newCaller();
    await ws.invokeWebSocket('ping', bob, `conn-${randomUUID()}`, { message: { action: 'ping' } });
    const feed = withMetric('RequestServerErrors').slice(before);
    expect(feed.map((line) => [line.routeGroup, line.RequestServerErrors])).toEqual([['feed', 0]]);
  });

  it('writes each delivery delay as a sample of the delay metric, the service its only dimension', () => {
    sli.recordDelays('NotificationDeliveryMs', [1200, 98_000]);
    const [line] = withMetric('NotificationDeliveryMs');
    expect(line!.NotificationDeliveryMs).toEqual([1200, 98_000]);
    expect(dimensionsOf(line!)).toEqual([['service']]);
    expect(line!._aws.CloudWatchMetrics[0].Metrics).toEqual([{ Name: 'NotificationDeliveryMs', Unit: 'Milliseconds' }]);
  });
});
