import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskflow } from '../../lib/app';
import { cloudWatchStatuses } from '../../lib/slo/cloudwatch';

// `npm run slo -- --aws`: GetMetricData over CloudWatch's JSON protocol, signed, with the alarms' metric math over each
// SLO's window, against a stand-in endpoint that answers as CloudWatch does.

let server: Server;
let endpoint: string;
const requests: { headers: IncomingHttpHeaders; body: any }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const body = JSON.parse(raw);
      requests.push({ headers: req.headers, body });
      const isAvailability = body.MetricDataQueries.some((q: any) => q.Id === 'e2');
      // Availability: CloudWatch split the window in two periods (1,000 requests at 1 % bad, 3,000 at 0 %); the rest
      // had no traffic at all.
      const results = isAvailability
        ? [
            { Id: 'bad', Values: [0.01, 0], StatusCode: 'Complete' },
            { Id: 'total', Values: [1000, 3000], StatusCode: 'Complete' },
          ]
        : [
            { Id: 'bad', Values: [], StatusCode: 'Complete' },
            { Id: 'total', Values: [], StatusCode: 'Complete' },
          ];
      res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify({ MetricDataResults: results, Messages: [] }));
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => new Promise<void>((done) => server.close(() => done())));

describe('the SLOs from CloudWatch', () => {
  it('asks GetMetricData for each SLO over its window and weighs the periods by their events', async () => {
    const now = new Date('2026-12-05T03:00:00Z');
    const env = { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_ENDPOINT_URL_CLOUDWATCH: endpoint };
    const statuses = await cloudWatchStatuses(taskflow.slos, now, env);

    expect(requests).toHaveLength(Object.keys(taskflow.slos).length);
    const [first] = requests;
    expect(first!.headers['x-amz-target']).toBe('GraniteServiceVersion20100801.GetMetricData');
    expect(first!.headers['content-type']).toBe('application/x-amz-json-1.0');
    expect(first!.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/monitoring\/aws4_request/);
    const window = 30 * 86400;
    expect(first!.body.EndTime - first!.body.StartTime).toBe(window);
    expect(first!.body.EndTime).toBe(now.getTime() / 1000);
    const queries = first!.body.MetricDataQueries as any[];
    expect(queries.filter((q) => q.MetricStat).every((q) => q.MetricStat.Period === window && q.ReturnData === false)).toBe(true);
    expect(queries.find((q) => q.Id === 'total').Expression).toBe('FILL(n0, 0) + FILL(n1, 0) + FILL(n2, 0)');

    const availability = statuses.find((s) => s.name === 'availability')!;
    expect(availability.total).toBe(4000);
    expect(availability.good).toBeCloseTo(3990);
    expect(availability.compliance).toBeCloseTo(0.9975);
    expect(availability.errorBudgetRemaining).toBeCloseTo(0.5); // 0.25 % of a 0.5 % budget
    // No traffic: nothing went wrong.
    expect(statuses.find((s) => s.name === 'outboxLag')).toMatchObject({ total: 0, compliance: 1, errorBudgetRemaining: 1 });
  });
});
