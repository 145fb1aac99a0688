/**
 * AWS list prices for what a TaskFlow request uses: us-east-1 (N. Virginia), on-demand, first pricing tier, no
 * free tier, in US dollars per million units. The one place they live: the benchmark's cost model reads them here.
 * Written down on `readOn` as AWS's public pricing pages list them, not fetched by the benchmark: re-check them there
 * before quoting a figure, and change `readOn` with them.
 */
export const PRICES = {
  region: 'us-east-1',
  readOn: '2026-12-05',
  /** API Gateway REST API: $3.50 per million calls (first 333 million a month). */
  apiGatewayRestPerMillion: 3.5,
  /** API Gateway WebSocket: $1.00 per million messages (each 32 KB or part of it), server-sent @connections posts included. */
  webSocketMessagePerMillion: 1.0,
  /** Lambda: $0.20 per million invocations. */
  lambdaRequestPerMillion: 0.2,
  /** Lambda duration on Arm (Graviton, as lib/constructs/function.ts deploys): $0.0000133334 per GB-second. */
  lambdaArmGbSecond: 0.0000133334,
  /** DynamoDB on-demand: $0.625 per million write request units (1 KB each), $0.125 per million read request units (4 KB, strongly consistent). */
  dynamoDbWriteUnitPerMillion: 0.625,
  dynamoDbReadUnitPerMillion: 0.125,
  /** SQS standard queue: $0.40 per million requests (each 64 KB of payload a request). */
  sqsRequestPerMillion: 0.4,
  /** S3 Standard: PUT, COPY, POST, LIST $0.005 per 1,000; GET, HEAD $0.0004 per 1,000; DELETE free. */
  s3PutPerMillion: 5.0,
  s3GetPerMillion: 0.4,
} as const;

export type Prices = { readonly [K in keyof typeof PRICES]: (typeof PRICES)[K] extends number ? number : string };
