import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { SyntheticCall, SyntheticClient, SyntheticResponse, UploadForm } from '../domain/synthetic-transaction';
import { signedService } from '../shared/sigv4';
import { TRACE_SAMPLING } from '../shared/telemetry';

/** The canary's requests are always traced (review M2): the sampling rules match its User-Agent and the debug header. */
const CANARY_TRACE_HEADERS = {
  'User-Agent': `${TRACE_SAMPLING.canaryUserAgentPrefix}/synthetic-transaction`,
  [TRACE_SAMPLING.debugHeader]: TRACE_SAMPLING.debugValue,
};

/** The caller the authorizer would have allowed: the invoked function takes it from the request context. */
export interface SyntheticIdentity {
  orgId: string;
  userId: string;
}

/** A browser's upload: the presigned POST's fields, then the file. */
async function uploadForm(form: UploadForm, file: { bytes: Uint8Array; contentType: string; fileName: string }, signal: AbortSignal): Promise<void> {
  const body = new FormData();
  for (const [name, value] of Object.entries(form.fields)) body.append(name, value);
  body.append('file', new Blob([file.bytes], { type: file.contentType }), file.fileName);
  const response = await fetch(form.url, { method: 'POST', body, signal });
  if (!response.ok) throw new Error(`the upload answered ${response.status} ${(await response.text()).slice(0, 200)}`);
}

const render = (call: SyntheticCall) => call.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(call.params?.[name] ?? ''));

/**
 * The transaction over the REST API, as a user makes it (the scheduled canary): a bearer token, JSON, an
 * Idempotency-Key on every mutation.
 */
export function httpClient(apiUrl: string, token: string, signal: AbortSignal): SyntheticClient {
  return {
    async call(call) {
      const query = call.query ? `?${new URLSearchParams(call.query)}` : '';
      const response = await fetch(`${apiUrl.replace(/\/$/, '')}${render(call)}${query}`, {
        method: call.method,
        headers: {
          Authorization: `Bearer ${token}`,
          ...CANARY_TRACE_HEADERS,
          ...(call.method !== 'GET' ? { 'Idempotency-Key': randomUUID() } : {}),
          ...(call.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        },
        ...(call.body !== undefined ? { body: JSON.stringify(call.body) } : {}),
        signal,
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
    upload: (form, file) => uploadForm(form, file, signal),
  };
}

/**
 * The transaction by invoking the route functions directly (the pre-traffic hook), with the proxy event API Gateway
 * sends once the authorizer has allowed `identity`: `functionOf` says which function (and qualifier) serves each
 * operation, so the one being deployed is reached at its new version, before any traffic moves to it.
 */
export function invokeClient(functionOf: (call: SyntheticCall) => string, identity: SyntheticIdentity, deadline: number, env: NodeJS.ProcessEnv = process.env): SyntheticClient {
  const lambda = signedService('lambda', 'AWS_ENDPOINT_URL_LAMBDA', env);
  return {
    async call(call): Promise<SyntheticResponse> {
      const body = JSON.stringify(proxyEvent(call, identity));
      const path = `/2015-03-31/functions/${encodeURIComponent(functionOf(call))}/invocations`;
      const response = await lambda.send('POST', path, { 'content-type': 'application/json' }, body, timeLeft(deadline));
      const payload = response.body;
      if (response.status < 200 || response.status >= 300) throw new Error(`Lambda Invoke of ${functionOf(call)} answered ${response.status} ${payload.slice(0, 200)}`);
      if (response.headers['x-amz-function-error']) throw new Error(`${functionOf(call)} failed: ${payload.slice(0, 300)}`);
      const result = JSON.parse(payload) as { statusCode: number; body?: string };
      return { status: result.statusCode, body: result.body ? JSON.parse(result.body) : undefined };
    },
    upload: (form, file) => uploadForm(form, file, AbortSignal.timeout(timeLeft(deadline))),
  };
}

const timeLeft = (deadline: number) => Math.max(1, deadline - Date.now());

/** The REST proxy event of `call`, as API Gateway sends it after the authorizer allowed `identity`. */
function proxyEvent(call: SyntheticCall, identity: SyntheticIdentity): APIGatewayProxyEvent {
  const body = call.body === undefined ? null : JSON.stringify(call.body);
  const headers: Record<string, string> = {
    ...(body !== null ? { 'content-type': 'application/json' } : {}),
    ...(call.method !== 'GET' ? { 'idempotency-key': randomUUID() } : {}),
    ...Object.fromEntries(Object.entries(CANARY_TRACE_HEADERS).map(([name, value]) => [name.toLowerCase(), value])),
  };
  const query = call.query ?? null;
  return {
    resource: call.path,
    path: render(call),
    httpMethod: call.method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    queryStringParameters: query,
    multiValueQueryStringParameters: query ? Object.fromEntries(Object.entries(query).map(([name, value]) => [name, [value]])) : null,
    pathParameters: call.params ?? null,
    stageVariables: null,
    body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '',
      apiId: 'synthetic',
      authorizer: { principalId: identity.userId, orgId: identity.orgId, userId: identity.userId, role: 'admin', email: '', name: 'Synthetic transaction' },
      protocol: 'HTTP/1.1',
      httpMethod: call.method,
      path: render(call),
      stage: 'synthetic',
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: 'synthetic',
      resourcePath: call.path,
      identity: {
        sourceIp: '127.0.0.1',
        userAgent: CANARY_TRACE_HEADERS['User-Agent'],
        accessKey: null, accountId: null, apiKey: null, apiKeyId: null, caller: null, clientCert: null,
        cognitoAuthenticationProvider: null, cognitoAuthenticationType: null, cognitoIdentityId: null,
        cognitoIdentityPoolId: null, principalOrgId: null, user: null, userArn: null,
      },
    },
  };
}
