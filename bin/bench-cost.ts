// The benchmark's cost model: what a read, a mutation, a mutation whose events are consumed, and a feed event to
// 100 clients cost per million at list prices (lib/cost/prices.ts), from the AWS calls counted at the wire
// (functions/shared/aws-calls.ts) while the benchmark ran them, next to API Gateway's own price, the floor.
import { DEFAULT_MEMORY_MB, queueName, type QueueDeclaration } from '../lib/declaration';
import { addUsage, costPerMillion, NO_USAGE, usageOfCalls, type CallCounts, type RequestUsage } from '../lib/cost/model';
import { PRICES } from '../lib/cost/prices';

/**
 * What is not observed here, so assumed (printed beside the figures):
 * - the authorizer: its answer is cached 5 minutes per token (lib/constructs/api.ts), so under steady load its
 *   invocations per request are taken as 0;
 * - a queue consumer's invocation: one message a batch (the most invocations), billed `consumerMs`, plus a
 *   ReceiveMessage and a DeleteMessageBatch on the queue;
 * - a feed event: one broadcast invocation per 100 clients billed `broadcastMs`, reading the connection registry
 *   (`registryItemBytes` an item, strongly consistent), one @connections post per client.
 */
export const ASSUMED = { consumerMs: 100, consumerSqsRequests: 2, broadcastMs: 200, registryItemBytes: 400 };

export interface ObservedRequests {
  /** The AWS calls made while `requests` such requests ran. */
  calls: CallCounts;
  requests: number;
  /** The handler's mean measured duration (what a bill sums, unlike a percentile), taken as each invocation's. */
  meanMs: number;
  memoryMb: number;
}

/** One API request: API Gateway, its function's invocation at the measured duration, and the calls it made. */
export const apiRequestUsage = ({ calls, requests, meanMs, memoryMb }: ObservedRequests): RequestUsage =>
  addUsage(usageOfCalls(calls, requests), { ...NO_USAGE, apiGatewayRequests: 1, lambda: [{ invocations: 1, memoryMb, durationMs: meanMs }] });

/** What consuming the messages a request sent costs: per message, the queue's consumer invocation and its SQS requests. */
export function consumersUsage({ calls, requests }: ObservedRequests, app: string, queues: Record<string, QueueDeclaration>): RequestUsage {
  const runs: RequestUsage[] = [];
  for (const [key, count] of calls) {
    const [service, operation, target] = key.split(' ');
    if (service !== 'sqs' || operation !== 'SendMessageBatch') continue;
    const queue = Object.entries(queues).find(([name]) => queueName(app, name) === target)?.[1];
    if (!queue) continue;
    // The fast path sends one request's entries for a queue in one batch: a call per message here.
    const messages = count.calls / requests;
    runs.push({
      ...NO_USAGE,
      sqsRequests: messages * ASSUMED.consumerSqsRequests,
      lambda: [{ invocations: messages, memoryMb: queue.consumer.memoryMb ?? DEFAULT_MEMORY_MB, durationMs: ASSUMED.consumerMs }],
    });
  }
  return addUsage(...runs);
}

/** One event delivered to `clients` feed connections (after its mutation, counted apart). */
export const feedEventUsage = (clients: number, broadcastMemoryMb: number): RequestUsage => ({
  ...NO_USAGE,
  webSocketMessages: clients,
  sqsRequests: ASSUMED.consumerSqsRequests,
  dynamoDbReadUnits: Math.max(1, Math.ceil((clients * ASSUMED.registryItemBytes) / 4096)),
  lambda: [{ invocations: Math.ceil(clients / 100), memoryMb: broadcastMemoryMb, durationMs: ASSUMED.broadcastMs }],
});

export interface CostFigures {
  read: number;
  mutation: number;
  mutationNotifying: number;
  feedEvent100: number;
  floor: number;
}

const GOALS = { read: 1.3, mutation: 2 } as const;

/** The AWS calls a request made, on average, as counted at the wire: `dynamodb UpdateItem taskflow-rateLimits ×4.00`. */
export const callsPerRequest = ({ calls, requests }: Pick<ObservedRequests, 'calls' | 'requests'>) =>
  [...calls].map(([key, count]) => `${key} ×${(count.calls / requests).toFixed(3)}`).join(', ') || 'none';

export function printCosts(kinds: { read: RequestUsage; mutation: RequestUsage; mutationNotifying: RequestUsage; feedEvent100: RequestUsage }): CostFigures {
  const floor = PRICES.apiGatewayRestPerMillion;
  const money = (n: number) => `$${n.toFixed(3)}`.padStart(8);
  console.log(`\nCost per million requests at list prices (${PRICES.region}, on-demand, read ${PRICES.readOn}: lib/cost/prices.ts), from the AWS calls counted at the wire`);
  console.log(`${'request'.padEnd(30)} ${'$/M'.padStart(8)} ${'× floor'.padStart(8)} ${'API GW'.padStart(8)} ${'Lambda'.padStart(8)} ${'DynamoDB'.padStart(8)} ${'SQS'.padStart(8)} ${'S3'.padStart(8)}   goal`);
  const labels = { read: 'read (getTask)', mutation: 'mutation (updateTask)', mutationNotifying: 'mutation, events consumed', feedEvent100: 'feed event to 100 clients' };
  const figures = { floor } as CostFigures;
  for (const kind of ['read', 'mutation', 'mutationNotifying', 'feedEvent100'] as const) {
    const { total, parts } = costPerMillion(kinds[kind]);
    figures[kind] = total;
    const goal = kind === 'read' || kind === 'mutation' ? GOALS[kind] : undefined;
    const check = goal === undefined ? '' : `${total <= goal * floor ? '✓' : '✗'} ≤ ${goal}× floor`;
    console.log(
      `${labels[kind].padEnd(30)} ${money(total)} ${(total / floor).toFixed(2).padStart(8)} ${money(parts.apiGateway)} ${money(parts.lambda)} ${money(parts.dynamoDb)} ${money(parts.sqs)} ${money(parts.s3)}   ${check}`,
    );
  }
  console.log(`${'floor: API Gateway REST'.padEnd(30)} ${money(floor)}`);
  console.log(
    `Assumed, not observed: Lambda billed at the declared memory for the mean measured duration rounded up to 1 ms (Arm); the authorizer cached (0 a request); ` +
      `a consumer ${ASSUMED.consumerMs} ms and ${ASSUMED.consumerSqsRequests} SQS requests a message; a feed event ${ASSUMED.broadcastMs} ms of broadcast ` +
      `per 100 clients and ${ASSUMED.registryItemBytes} B a registry item; DynamoDB units sized from the request and answer bodies. Not counted: logs, metrics, traces, data transfer, the database.`,
  );
  return figures;
}
