import { awsJson, AwsError } from './aws-json';

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
 * DynamoDB's JSON API for the handful of item operations TaskFlow needs, retried as the SDK would.
 * `timeoutMs` and `attempts` (default 3 s and 3) are for callers on the request path that would rather
 * give up early (the rate limiter).
 */
export function dynamoDb(env: NodeJS.ProcessEnv = process.env, { timeoutMs = 3_000, attempts = ATTEMPTS } = {}) {
  const send = awsJson({ service: 'dynamodb', endpointVariable: 'AWS_ENDPOINT_URL_DYNAMODB', targetPrefix: 'DynamoDB_20120810', timeoutMs }, env);

  return async function call<T = Record<string, unknown>>(operation: string, input: object): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await send<T>(operation, input);
      } catch (failure) {
        if (!(failure instanceof AwsError)) throw failure;
        const error = new DynamoDbError(failure.name, failure.message, failure.status, failure.payload.Item as never);
        const retryable = THROTTLED.has(failure.name) || (failure.status >= 500 && REPEATABLE.has(operation));
        if (attempt >= attempts || !retryable) throw error;
        // Full jitter, as the SDK's standard retry mode.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 50 * 2 ** attempt));
      }
    }
  };
}
