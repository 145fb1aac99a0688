import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import type { RouteDeclaration } from '../declaration';

export interface ProxyRequest {
  route: Pick<RouteDeclaration, 'method' | 'path'>;
  /** The concrete path, e.g. `/tasks/3f…`. */
  path: string;
  pathParameters: Record<string, string> | null;
  headers: Record<string, string>;
  query: URLSearchParams;
  body: string | null;
  sourceIp: string;
  authorizer?: Record<string, string> | null;
}

/** The API Gateway REST proxy event a deployed handler receives for this request. */
export function proxyEvent(request: ProxyRequest): APIGatewayProxyEvent {
  const query = [...request.query.keys()];
  const now = Date.now();
  return {
    resource: request.route.path,
    path: request.path,
    httpMethod: request.route.method,
    headers: request.headers,
    multiValueHeaders: Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, [value]])),
    // A repeated key: API Gateway REST passes the last value.
    queryStringParameters: query.length ? Object.fromEntries(query.map((name) => [name, request.query.getAll(name).at(-1)!])) : null,
    multiValueQueryStringParameters: query.length ? Object.fromEntries(query.map((name) => [name, request.query.getAll(name)])) : null,
    pathParameters: request.pathParameters,
    stageVariables: null,
    body: request.body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: request.authorizer ?? null,
      protocol: 'HTTP/1.1',
      httpMethod: request.route.method,
      path: `/local${request.path}`,
      stage: 'local',
      requestId: randomUUID(),
      requestTimeEpoch: now,
      resourceId: 'local',
      resourcePath: request.route.path,
      identity: {
        sourceIp: request.sourceIp,
        userAgent: request.headers['user-agent'] ?? null,
        accessKey: null, accountId: null, apiKey: null, apiKeyId: null, caller: null, clientCert: null,
        cognitoAuthenticationProvider: null, cognitoAuthenticationType: null, cognitoIdentityId: null,
        cognitoIdentityPoolId: null, principalOrgId: null, user: null, userArn: null,
      },
    },
  };
}

/**
 * A Lambda context for one invocation of `functionName` with `timeoutMs`. Once `stopping` is aborted (the
 * local runtime is shutting down) it reports no time left, so a handler that polls until its deadline ends.
 */
export function lambdaContext(functionName: string, timeoutMs: number, stopping?: AbortSignal): Context {
  const deadline = Date.now() + timeoutMs;
  const awsRequestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: awsRequestId,
    getRemainingTimeInMillis: () => (stopping?.aborted ? 0 : Math.max(0, deadline - Date.now())),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
