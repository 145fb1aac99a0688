import { dynamoDb } from './dynamodb';

// The rate-limits table's client, shared by the rate limiter (rate-limit-state.ts) and the removed-member marker on
// the same table (removed-members.ts): one per environment, made again when AWS_ENDPOINT_URL_DYNAMODB changes (tests cut it).

type Call = ReturnType<typeof dynamoDb>;
let client: { endpoint: string | undefined; call: Call } | undefined;

/**
 * A short timeout (1 s; DynamoDB answers in milliseconds): past it a check fails open, since a limiter that waits
 * seconds for DynamoDB costs more availability than it protects. RATE_LIMIT_TIMEOUT_MS overrides it for the local
 * emulator.
 */
export function rateLimitsTable(): Call {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (!client || client.endpoint !== endpoint) {
    const timeoutMs = Number(process.env.RATE_LIMIT_TIMEOUT_MS) || 1_000;
    client = { endpoint, call: dynamoDb(process.env, { timeoutMs, attempts: 2 }) };
  }
  return client.call;
}
