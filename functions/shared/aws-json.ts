import { countAwsCall } from './aws-calls';
import { signedService } from './sigv4';
import { span, type SpanKind } from './spans';

/** An AWS JSON-protocol error: `name` is the exception's short name, e.g. ConditionalCheckFailedException. */
export class AwsError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly status: number,
    readonly payload: Record<string, unknown>,
  ) {
    super(message);
  }
}

/**
 * An AWS service's JSON API (the wire protocol the SDK speaks: `X-Amz-Target`, x-amz-json-1.0 or 1.1), signed
 * with SigV4. The endpoint honours AWS_ENDPOINT_URL_<SERVICE> like the SDK does, so the local
 * runtime's emulators are reached unchanged.
 */
export function awsJson(options: { service: string; endpointVariable: string; targetPrefix: string; timeoutMs: number; jsonVersion?: '1.0' | '1.1' }, env: NodeJS.ProcessEnv = process.env) {
  const service = signedService(options.service, options.endpointVariable, env);

  // Each call a span (review M2): DynamoDB's and SQS's operations, with the table or queue they touched; the
  // deploy-time callers' (CodeDeploy, Lambda, SSM) as `aws`.
  const kind: SpanKind = options.service === 'dynamodb' || options.service === 'sqs' ? options.service : 'aws';
  return <T = Record<string, unknown>>(operation: string, input: object): Promise<T> => {
    const target = targetOf(input);
    return span(kind, `${options.service} ${operation}${target ? ` ${target}` : ''}`, { operation, target }, () => call<T>(operation, target, input));
  };

  function call<T>(operation: string, target: string | undefined, input: object): Promise<T> {
    const headers = { 'content-type': `application/x-amz-json-${options.jsonVersion ?? '1.0'}`, 'x-amz-target': `${options.targetPrefix}.${operation}` };
    return exchange<T>(service, { operation, target }, 'POST', service.endpoint.pathname, headers, JSON.stringify(input), options.timeoutMs, (_, payload) =>
      String(payload.__type ?? 'UnknownError').split('#').pop()!,
    );
  }
}

/**
 * An AWS service's REST-JSON API (the operation is the method and path, e.g. AWS Backup's
 * `PUT /restore-jobs/{id}/validations`), signed with SigV4; errors as awsJson's.
 */
export function awsRestJson(options: { service: string; endpointVariable: string; timeoutMs: number }, env: NodeJS.ProcessEnv = process.env) {
  const service = signedService(options.service, options.endpointVariable, env);
  return <T = Record<string, unknown>>(method: 'GET' | 'PUT' | 'POST', path: string, input?: object): Promise<T> =>
    span('aws', `${options.service} ${method} ${path.split('/')[1] ?? ''}`, { operation: `${method} ${path}` }, () =>
      exchange<T>(service, { operation: `${method}/${path.split('/')[1] ?? ''}` }, method, path, { 'content-type': 'application/json' }, input === undefined ? undefined : JSON.stringify(input), options.timeoutMs, (response, payload) =>
        String(response.headers['x-amzn-errortype'] ?? payload.__type ?? payload.code ?? 'UnknownError').split(/[#:]/)[0]!,
      ),
    );
}

type SignedService = ReturnType<typeof signedService>;

/**
 * One signed JSON exchange, counted at the wire (aws-calls.ts: the benchmark's cost model reads the counts): the
 * answer's payload, or an AwsError named as the protocol names it (`errorName`).
 */
async function exchange<T>(
  service: SignedService,
  counted: { operation: string; target?: string | undefined },
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
  errorName: (response: { headers: Record<string, string> }, payload: Record<string, unknown>) => string,
): Promise<T> {
  const answered = countAwsCall(service.name, counted.operation, counted.target, body === undefined ? 0 : Buffer.byteLength(body));
  const response = await service.send(method, path, headers, body, timeoutMs);
  answered(Buffer.byteLength(response.body));
  const payload = payloadOf(response.body);
  if (response.status >= 200 && response.status < 300) return payload as T;
  const name = errorName(response, payload);
  throw new AwsError(name, String(payload.message ?? payload.Message ?? name), response.status, payload);
}

/** An answer's JSON body; one that is not JSON (a proxy's error page) as its start, for the error message. */
function payloadOf(text: string): Record<string, unknown> {
  try {
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    return { message: text.slice(0, 200) };
  }
}

/** The table or queue a call names (its name, not its items). */
function targetOf(input: object): string | undefined {
  const { TableName, QueueUrl } = input as { TableName?: unknown; QueueUrl?: unknown };
  if (typeof TableName === 'string') return TableName;
  return typeof QueueUrl === 'string' ? QueueUrl.split('/').pop() : undefined;
}
