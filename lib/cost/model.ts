import type { AwsCallCount } from '../../functions/shared/aws-calls';
import { PRICES, type Prices } from './prices';

/** What one request uses of each billed thing, on average (fractions allowed). */
export interface RequestUsage {
  apiGatewayRequests: number;
  webSocketMessages: number;
  lambda: LambdaRun[];
  dynamoDbReadUnits: number;
  dynamoDbWriteUnits: number;
  sqsRequests: number;
  s3PutRequests: number;
  s3GetRequests: number;
}

/** Invocations of one function at its declared memory; Lambda bills the duration rounded up to the millisecond. */
export interface LambdaRun {
  invocations: number;
  memoryMb: number;
  durationMs: number;
}

export const NO_USAGE: RequestUsage = {
  apiGatewayRequests: 0, webSocketMessages: 0, lambda: [], dynamoDbReadUnits: 0, dynamoDbWriteUnits: 0, sqsRequests: 0, s3PutRequests: 0, s3GetRequests: 0,
};

export type CostParts = Record<'apiGateway' | 'lambda' | 'dynamoDb' | 'sqs' | 's3', number>;

/** Dollars per million such requests at `prices`, in total and by service. */
export function costPerMillion(usage: RequestUsage, prices: Prices = PRICES): { total: number; parts: CostParts } {
  const lambda = usage.lambda.reduce(
    (sum, run) => sum + run.invocations * (prices.lambdaRequestPerMillion + (Math.ceil(run.durationMs) / 1000) * (run.memoryMb / 1024) * prices.lambdaArmGbSecond * 1e6),
    0,
  );
  const parts: CostParts = {
    apiGateway: usage.apiGatewayRequests * prices.apiGatewayRestPerMillion + usage.webSocketMessages * prices.webSocketMessagePerMillion,
    lambda,
    dynamoDb: usage.dynamoDbReadUnits * prices.dynamoDbReadUnitPerMillion + usage.dynamoDbWriteUnits * prices.dynamoDbWriteUnitPerMillion,
    sqs: usage.sqsRequests * prices.sqsRequestPerMillion,
    s3: usage.s3PutRequests * prices.s3PutPerMillion + usage.s3GetRequests * prices.s3GetPerMillion,
  };
  return { total: Object.values(parts).reduce((a, b) => a + b, 0), parts };
}

export const addUsage = (...usages: RequestUsage[]): RequestUsage =>
  usages.reduce((sum, usage) => ({
    apiGatewayRequests: sum.apiGatewayRequests + usage.apiGatewayRequests,
    webSocketMessages: sum.webSocketMessages + usage.webSocketMessages,
    lambda: [...sum.lambda, ...usage.lambda],
    dynamoDbReadUnits: sum.dynamoDbReadUnits + usage.dynamoDbReadUnits,
    dynamoDbWriteUnits: sum.dynamoDbWriteUnits + usage.dynamoDbWriteUnits,
    sqsRequests: sum.sqsRequests + usage.sqsRequests,
    s3PutRequests: sum.s3PutRequests + usage.s3PutRequests,
    s3GetRequests: sum.s3GetRequests + usage.s3GetRequests,
  }), NO_USAGE);

export type CallCounts = Map<string, AwsCallCount>;

/** A copy of the counters now, to subtract from later. */
export const snapshotCalls = (calls: CallCounts): CallCounts => new Map([...calls].map(([key, count]) => [key, { ...count }]));

/** The calls made between `before` and `after`. */
export function callsBetween(before: CallCounts, after: CallCounts): CallCounts {
  const made: CallCounts = new Map();
  for (const [key, count] of after) {
    const earlier = before.get(key) ?? { calls: 0, requestBytes: 0, responseBytes: 0 };
    if (count.calls > earlier.calls) {
      made.set(key, { calls: count.calls - earlier.calls, requestBytes: count.requestBytes - earlier.requestBytes, responseBytes: count.responseBytes - earlier.responseBytes });
    }
  }
  return made;
}

export const DYNAMODB_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
const DYNAMODB_READS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);

const parse = (key: string) => {
  const [service = '', operation = '', target = ''] = key.split(' ');
  return { service, operation, target };
};

/** DynamoDB write calls on `table` among `calls` (each attempt counted, as each is billed). */
export function dynamoDbWriteCalls(calls: CallCounts, table: string): number {
  let writes = 0;
  for (const [key, count] of calls) {
    const { service, operation, target } = parse(key);
    if (service === 'dynamodb' && target === table && DYNAMODB_WRITES.has(operation)) writes += count.calls;
  }
  return writes;
}

/**
 * The AWS usage of the calls counted at the wire, per request over `requests` requests. Sizes come from the bodies
 * (assumption: a DynamoDB item is no larger than the request that writes it, or the answer that reads it, JSON
 * included, so units are if anything over-counted; reads as strongly consistent; transactions at twice the units).
 */
export function usageOfCalls(calls: CallCounts, requests: number): RequestUsage {
  const usage = { ...NO_USAGE, lambda: [] as LambdaRun[] };
  for (const [key, { calls: made, requestBytes, responseBytes }] of calls) {
    const { service, operation } = parse(key);
    const units = (bytes: number, unitBytes: number) => made * Math.max(1, Math.ceil(bytes / made / unitBytes));
    const transactional = operation.startsWith('Transact') ? 2 : 1;
    if (service === 'dynamodb' && DYNAMODB_WRITES.has(operation)) usage.dynamoDbWriteUnits += transactional * units(requestBytes, 1024);
    else if (service === 'dynamodb' && DYNAMODB_READS.has(operation)) usage.dynamoDbReadUnits += transactional * units(responseBytes, 4096);
    else if (service === 'sqs') usage.sqsRequests += units(requestBytes, 64 * 1024);
    else if (service === 'execute-api' && operation === 'PostToConnection') usage.webSocketMessages += units(requestBytes, 32 * 1024);
    else if (service === 's3' && (operation === 'PUT' || operation === 'POST')) usage.s3PutRequests += made;
    else if (service === 's3' && (operation === 'GET' || operation === 'HEAD')) usage.s3GetRequests += made;
  }
  const per = (n: number) => n / requests;
  return {
    ...usage,
    dynamoDbReadUnits: per(usage.dynamoDbReadUnits),
    dynamoDbWriteUnits: per(usage.dynamoDbWriteUnits),
    sqsRequests: per(usage.sqsRequests),
    webSocketMessages: per(usage.webSocketMessages),
    s3PutRequests: per(usage.s3PutRequests),
    s3GetRequests: per(usage.s3GetRequests),
  };
}
