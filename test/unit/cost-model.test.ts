import { describe, expect, it } from 'vitest';
import { ASSUMED, consumersUsage, feedEventUsage } from '../../bin/bench-cost';
import { taskflow } from '../../lib/app';
import { addUsage, callsBetween, costPerMillion, dynamoDbWriteCalls, NO_USAGE, usageOfCalls, type CallCounts } from '../../lib/cost/model';
import { PRICES } from '../../lib/cost/prices';

const calls = (entries: Record<string, [calls: number, requestBytes: number, responseBytes?: number]>): CallCounts =>
  new Map(Object.entries(entries).map(([key, [made, requestBytes, responseBytes = 0]]) => [key, { calls: made, requestBytes, responseBytes }]));

describe('cost per million requests', () => {
  it('prices an API Gateway request alone at the floor, $3.50', () => {
    expect(costPerMillion({ ...NO_USAGE, apiGatewayRequests: 1 }).total).toBeCloseTo(3.5, 10);
  });

  it('prices four small rate-limit writes a request at $2.50 (4 write units at $0.625 a million)', () => {
    const usage = usageOfCalls(calls({ 'dynamodb UpdateItem taskflow-rateLimits': [4_000, 4_000 * 300] }), 1_000);
    expect(usage.dynamoDbWriteUnits).toBe(4);
    expect(costPerMillion(usage).parts.dynamoDb).toBeCloseTo(2.5, 10);
  });

  it('bills Lambda at the declared memory for the duration rounded up to the millisecond, plus the request', () => {
    // 10.2 ms → 11 ms at 512 MB: 0.011 s × 0.5 GB × $0.0000133334 × 10⁶ + $0.20.
    const { parts } = costPerMillion({ ...NO_USAGE, lambda: [{ invocations: 1, memoryMb: 512, durationMs: 10.2 }] });
    expect(parts.lambda).toBeCloseTo(0.011 * 0.5 * 0.0000133334 * 1e6 + 0.2, 10);
    expect(parts.lambda).toBeCloseTo(0.27333, 5);
  });

  it('sizes DynamoDB units from the bodies: a write a KB, a read 4 KB, a transaction twice', () => {
    const usage = usageOfCalls(
      calls({
        'dynamodb PutItem taskflow-idempotency': [10, 10 * 1_500],
        'dynamodb GetItem taskflow-idempotency': [10, 10 * 200, 10 * 5_000],
        'dynamodb TransactWriteItems taskflow-connections': [10, 10 * 100],
        'dynamodb DescribeTable taskflow-connections': [10, 10 * 100],
      }),
      10,
    );
    expect(usage.dynamoDbWriteUnits).toBe(2 + 2);
    expect(usage.dynamoDbReadUnits).toBe(2);
  });

  it('counts SQS requests per 64 KB, @connections messages per 32 KB, S3 PUT and GET classes, and DELETE free', () => {
    const usage = usageOfCalls(
      calls({
        'sqs SendMessageBatch TaskFlow-broadcast': [1, 100 * 1024],
        'execute-api PostToConnection api.local': [100, 100 * 1_000],
        's3 PUT files': [2, 0],
        's3 HEAD files': [3, 0],
        's3 DELETE files': [5, 0],
      }),
      1,
    );
    expect(usage).toMatchObject({ sqsRequests: 2, webSocketMessages: 100, s3PutRequests: 2, s3GetRequests: 3 });
    expect(costPerMillion(usage).total).toBeCloseTo(2 * 0.4 + 100 * 1.0 + 2 * 5.0 + 3 * 0.4, 10);
  });

  it('adds usages and reads the prices from the one table', () => {
    const read = addUsage({ ...NO_USAGE, apiGatewayRequests: 1 }, { ...NO_USAGE, dynamoDbReadUnits: 1 });
    expect(costPerMillion(read).total).toBeCloseTo(PRICES.apiGatewayRestPerMillion + PRICES.dynamoDbReadUnitPerMillion, 10);
    expect(costPerMillion(read, { ...PRICES, apiGatewayRestPerMillion: 1 }).total).toBeCloseTo(1.125, 10);
  });
});

describe('counting calls', () => {
  it('takes the calls made between two snapshots, and the writes on one table', () => {
    const before = calls({ 'dynamodb UpdateItem taskflow-rateLimits': [4, 400], 'dynamodb GetItem taskflow-rateLimits': [1, 10, 10] });
    const after = calls({
      'dynamodb UpdateItem taskflow-rateLimits': [10, 1_000],
      'dynamodb GetItem taskflow-rateLimits': [3, 30, 30],
      'dynamodb PutItem taskflow-rateLimits': [1, 100],
      'dynamodb PutItem taskflow-idempotency': [7, 700],
    });
    const made = callsBetween(before, after);
    expect(made.get('dynamodb UpdateItem taskflow-rateLimits')).toEqual({ calls: 6, requestBytes: 600, responseBytes: 0 });
    expect(dynamoDbWriteCalls(made, 'taskflow-rateLimits')).toBe(7);
  });

  it('prices the consumers of the messages a mutation sent at their declared memory', () => {
    const sent = calls({ 'sqs SendMessageBatch TaskFlow-broadcast': [10, 10 * 500], 'sqs SendMessageBatch TaskFlow-unknown': [10, 10 * 500] });
    const usage = consumersUsage({ calls: sent, requests: 10, meanMs: 5, memoryMb: 512 }, taskflow.name, taskflow.queues);
    expect(usage.lambda).toEqual([{ invocations: 1, memoryMb: taskflow.queues.broadcast.consumer.memoryMb ?? 512, durationMs: ASSUMED.consumerMs }]);
    expect(usage.sqsRequests).toBe(2);
    expect(feedEventUsage(100, 512).webSocketMessages).toBe(100);
  });
});
