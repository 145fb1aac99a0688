import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent, APIGatewayProxyResult, APIGatewayTokenAuthorizerEvent, Context } from 'aws-lambda';
import { CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CORS_ALLOW_ORIGIN, CORS_RESPONSE_HEADERS } from '../../functions/shared/cors';
import { Problem, problemBody } from '../../functions/shared/problem';
import { acceptedRequestId } from '../../functions/shared/request-id';
import { DEFAULT_TIMEOUT_SECONDS, functionId, type RouteDeclaration } from '../declaration';
import { lambdaContext, proxyEvent } from './proxy-event';

export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
export type TokenAuthorizer = (event: APIGatewayTokenAuthorizerEvent, context: Context) => Promise<APIGatewayAuthorizerResult>;

export interface RestGatewayOptions {
  routes: readonly RouteDeclaration[];
  handlerFor(route: RouteDeclaration): Promise<ProxyHandler>;
  authorizer: TokenAuthorizer;
  /** Local-only documents served as JSON (the OpenAPI document, the issuer's JWKS). */
  documents: Record<string, () => unknown>;
  log?: (line: string) => void;
}

// API Gateway's own limit on a request payload.
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

interface CompiledRoute {
  route: RouteDeclaration;
  pattern: RegExp;
  names: string[];
}

/**
 * API Gateway REST emulation built from the declaration: route matching, the TOKEN authorizer,
 * proxy events, and gateway-made errors as problem+json (the same bodies the deployed gateway sends).
 */
export function restGateway(options: RestGatewayOptions): RequestListener {
  const compiled: CompiledRoute[] = options.routes
    .map((route) => {
      const names: string[] = [];
      const source = route.path.replace(/\{(\w+)\}/g, (_, name: string) => (names.push(name), '([^/]+)'));
      return { route, names, pattern: new RegExp(`^${source}$`) };
    })
    // Literal segments win over parameters, as in API Gateway.
    .sort((a, b) => a.names.length - b.names.length);

  return (req, res) => {
    const started = performance.now();
    // The handlers' rule: a sane id is echoed, anything else replaced (also in the answers made here).
    const requestId = acceptedRequestId(req.headers['x-request-id']?.toString()) ?? randomUUID();
    void serve(req, res, requestId)
      .catch((error: unknown) => {
        options.log?.(`gateway error: ${(error as Error).stack ?? String(error)}`);
        if (!res.headersSent) problem(res, requestId, 502, 'INTERNAL_ERROR', 'Internal server error');
        else res.destroy();
      })
      .finally(() => options.log?.(`${req.method} ${req.url} → ${res.statusCode} ${Math.round(performance.now() - started)} ms`));
  };

  async function serve(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const document = options.documents[url.pathname];
    if (document && method === 'GET') return json(res, 200, document());

    const candidates = compiled.flatMap((entry) => {
      const match = entry.pattern.exec(url.pathname);
      const values = match?.slice(1).map(decodePathSegment);
      return values && !values.includes(null) ? [{ ...entry, values: values as string[] }] : [];
    });
    if (method === 'OPTIONS') {
      // Every path has a preflight, as on the deployed API (its `{proxy+}` answers unknown ones): a browser must get
      // past it to send the request, and then reads the 404 problem instead of a network error.
      res.writeHead(204, {
        'Access-Control-Allow-Origin': CORS_ALLOW_ORIGIN,
        'Access-Control-Allow-Methods': (candidates.length ? candidates.map((c) => c.route.method) : CORS_ALLOW_METHODS).join(', '),
        'Access-Control-Allow-Headers': CORS_ALLOW_HEADERS.join(', '),
        'Access-Control-Max-Age': '600',
      });
      return void res.end();
    }
    if (candidates.length === 0) return problem(res, requestId, 404, 'NOT_FOUND', `No route for ${url.pathname}`);
    const matched = candidates.find((candidate) => candidate.route.method === method);
    // API Gateway cannot tell a missing method from a missing path either.
    if (!matched) return problem(res, requestId, 404, 'NOT_FOUND', `No route for ${method} ${url.pathname}`);

    const body = await readBody(req);
    if (body === 'too-large') {
      // The rest of the body is never read, so this connection cannot carry another request.
      res.setHeader('Connection', 'close');
      return problem(res, requestId, 413, 'PAYLOAD_TOO_LARGE', 'Request payload is too large');
    }
    const headers = Object.fromEntries(
      Object.entries(req.headers).flatMap(([name, value]) => (value === undefined ? [] : [[name, String(value)]])),
    ) as Record<string, string>;
    headers['x-request-id'] = requestId;

    let authorizer: Record<string, string> | null = null;
    if (matched.route.auth === 'jwt') {
      const authorization = headers.authorization;
      if (!authorization) return problem(res, requestId, 401, 'UNAUTHORIZED', 'Unauthorized');
      const decision = await authorize(authorization, matched.route, url.pathname);
      if (decision === 'unauthorized') return problem(res, requestId, 401, 'UNAUTHORIZED', 'Unauthorized');
      if (decision === 'denied') return problem(res, requestId, 403, 'FORBIDDEN', 'User is not authorized to access this resource');
      authorizer = decision;
    }

    const event = proxyEvent({
      route: matched.route,
      path: url.pathname,
      pathParameters: matched.names.length ? Object.fromEntries(matched.names.map((name, i) => [name, matched.values[i]!])) : null,
      headers,
      query: url.searchParams,
      body,
      sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
      authorizer,
    });
    const handler = await options.handlerFor(matched.route);
    const timeoutMs = (matched.route.function.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
    const result = await withTimeout(handler(event, lambdaContext(functionId(matched.route), timeoutMs)), timeoutMs);
    if (!result || typeof result.statusCode !== 'number') {
      return problem(res, requestId, 502, 'INTERNAL_ERROR', 'Internal server error');
    }
    const payload = result.isBase64Encoded ? Buffer.from(result.body, 'base64') : Buffer.from(result.body ?? '');
    res.writeHead(result.statusCode, { ...flatHeaders(result), 'Content-Length': payload.length });
    res.end(payload);
  }

  async function authorize(token: string, route: RouteDeclaration, path: string): Promise<Record<string, string> | 'unauthorized' | 'denied'> {
    const methodArn = `arn:aws:execute-api:local:000000000000:local/local/${route.method}${path}`;
    try {
      const result = await options.authorizer({ type: 'TOKEN', authorizationToken: token, methodArn }, lambdaContext('Authorizer', 10_000));
      const allowed = result.policyDocument.Statement.some((statement) => statement.Effect === 'Allow');
      if (!allowed) return 'denied';
      return Object.fromEntries(
        Object.entries({ principalId: result.principalId, ...result.context }).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])),
      );
    } catch {
      return 'unauthorized';
    }
  }
}

/** A percent-encoded path segment, or null when it is not valid UTF-8 (no route matches then). */
function decodePathSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

function flatHeaders(result: APIGatewayProxyResult): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) headers[name] = values.map(String).join(', ');
  return headers;
}

async function readBody(req: IncomingMessage): Promise<string | null | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_PAYLOAD_BYTES) return 'too-large';
    chunks.push(chunk as Buffer);
  }
  return size === 0 ? null : Buffer.concat(chunks).toString('utf8');
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`function timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A document (the OpenAPI document, the JWKS): a page on another origin may read it too. */
function json(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), ...CORS_RESPONSE_HEADERS });
  res.end(payload);
}

/** A gateway-made error, shaped like the deployed gateway's responses (see lib/constructs/api). */
function problem(res: ServerResponse, requestId: string, status: number, code: string, title: string): void {
  const payload = JSON.stringify(problemBody(new Problem(status, code, title), requestId));
  res.writeHead(status, {
    'Content-Type': 'application/problem+json',
    'Content-Length': Buffer.byteLength(payload),
    ...CORS_RESPONSE_HEADERS,
    'X-Request-Id': requestId,
  });
  res.end(payload);
}
