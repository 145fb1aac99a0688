import { HttpRequest } from '@smithy/protocol-http';
import { sigv4 } from './sigv4';

/** A DynamoDB error response: `name` is the exception's short name, e.g. ConditionalCheckFailedException. */
export class DynamoDbError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly status: number,
    readonly item?: Record<string, AttributeValue>,
  ) {
    super(message);
  }
}

export type AttributeValue = { S: string } | { N: string } | { BOOL: boolean } | { NULL: true };

// Throttling refuses a request before it is applied: always worth another try. A server error may
// come after the write landed, so only operations that can be repeated safely are retried on it.
const THROTTLED = new Set(['ThrottlingException', 'ProvisionedThroughputExceededException', 'RequestLimitExceeded']);
const REPEATABLE = new Set(['GetItem', 'DeleteItem', 'UpdateItem']);
const ATTEMPTS = 3;

/**
 * DynamoDB's JSON API (the wire protocol the SDK speaks), signed with SigV4, for the handful of item
 * operations TaskFlow needs. The endpoint honours AWS_ENDPOINT_URL_DYNAMODB like the SDK does, so
 * the local runtime's dynalite is reached unchanged.
 */
export function dynamoDb(env: NodeJS.ProcessEnv = process.env) {
  const region = env.AWS_REGION;
  if (!region) throw new Error('AWS_REGION is not set');
  const endpoint = new URL(env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL ?? `https://dynamodb.${region}.amazonaws.com`);
  const signer = sigv4('dynamodb', region, env);

  return async function call<T = Record<string, unknown>>(operation: string, input: object): Promise<T> {
    const body = JSON.stringify(input);
    for (let attempt = 1; ; attempt += 1) {
      const signed = await signer.sign(
        new HttpRequest({
          method: 'POST',
          protocol: endpoint.protocol,
          hostname: endpoint.hostname,
          ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
          path: endpoint.pathname,
          headers: {
            host: endpoint.host,
            'content-type': 'application/x-amz-json-1.0',
            'x-amz-target': `DynamoDB_20120810.${operation}`,
          },
          body,
        }),
      );
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: signed.headers,
        body,
        signal: AbortSignal.timeout(3_000),
      });
      const payload = (await response.json()) as Record<string, unknown>;
      if (response.ok) return payload as T;
      const name = String(payload.__type ?? 'UnknownError').split('#').pop()!;
      const error = new DynamoDbError(name, String(payload.message ?? payload.Message ?? name), response.status, payload.Item as never);
      const retryable = THROTTLED.has(name) || (response.status >= 500 && REPEATABLE.has(operation));
      if (attempt >= ATTEMPTS || !retryable) throw error;
      // Full jitter, as the SDK's standard retry mode.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 50 * 2 ** attempt));
    }
  };
}
