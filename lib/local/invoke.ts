import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { functionId, type RouteDeclaration } from '../declaration';
import { lambdaContext, proxyEvent } from './proxy-event';
import type { ProxyHandler } from './rest-gateway';

export interface Identity {
  orgId: string;
  userId: string;
  role?: 'member' | 'admin';
}

export interface Call {
  params?: Record<string, string>;
  query?: Record<string, string>;
  /** An object is sent as JSON; a string is sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Response<T = any> {
  status: number;
  headers: Record<string, string>;
  body: T;
}

const root = resolve(import.meta.dirname, '../..');
const handlers = new Map<string, Promise<ProxyHandler>>();

/**
 * Invokes a route's handler in this process with the proxy event API Gateway sends once the
 * authorizer has allowed `caller` (null: no authorizer context). The tests' and the benchmark's way in.
 */
export async function invokeRoute<T = any>(route: RouteDeclaration, caller: Identity | null, call: Call = {}): Promise<Response<T>> {
  const entry = route.function.entry;
  if (!handlers.has(entry)) {
    handlers.set(entry, import(pathToFileURL(resolve(root, entry)).href).then((m: { handler: ProxyHandler }) => m.handler));
  }
  const handler = await handlers.get(entry)!;
  const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => call.params?.[name] ?? '');
  const body = call.body === undefined ? null : typeof call.body === 'string' ? call.body : JSON.stringify(call.body);
  const result: APIGatewayProxyResult = await handler(
    proxyEvent({
      route,
      path,
      pathParameters: call.params ?? null,
      headers: { ...(body !== null ? { 'content-type': 'application/json' } : {}), ...call.headers },
      query: new URLSearchParams(call.query),
      body,
      sourceIp: '127.0.0.1',
      authorizer: caller ? { principalId: caller.userId, orgId: caller.orgId, userId: caller.userId, role: caller.role ?? 'member' } : null,
    }),
    lambdaContext(functionId(route), (route.function.timeoutSeconds ?? 10) * 1000),
  );
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return { status: result.statusCode, headers, body: result.body ? JSON.parse(result.body) : undefined };
}
