import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { Caller } from '../../functions/shared/caller';
import { DEFAULT_TIMEOUT_SECONDS, functionId, type RouteDeclaration } from '../declaration';
import { lambdaContext, proxyEvent } from './proxy-event';
import type { ProxyHandler } from './rest-gateway';

/** The identity the authorizer would have verified. */
export type Identity = Pick<Caller, 'orgId' | 'userId'> & Partial<Pick<Caller, 'role' | 'email' | 'name'>>;

export interface Call {
  params?: Record<string, string>;
  query?: Record<string, string>;
  /** An object is sent as JSON; a string is sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
  /** The function's timeout to emulate; default the declared one. */
  timeoutMs?: number;
  /** The client address API Gateway reports (`requestContext.identity.sourceIp`); default 127.0.0.1. */
  sourceIp?: string;
}

export interface Response<T = any> {
  status: number;
  headers: Record<string, string>;
  body: T;
}

const root = resolve(import.meta.dirname, '../..');
const handlers = new Map<string, Promise<unknown>>();

/**
 * A function's `handler` export, loaded once per process from its declared entry (as Lambda would).
 * A failed load is not remembered: the next invocation tries again (e.g. once the file exists).
 */
export function loadHandler<T>(entry: string): Promise<T> {
  if (!handlers.has(entry)) {
    const loading = import(pathToFileURL(resolve(root, entry)).href).then((module: { handler?: T }) => {
      if (typeof module.handler !== 'function') throw new Error(`${entry} exports no handler function`);
      return module.handler;
    });
    loading.catch(() => handlers.delete(entry));
    handlers.set(entry, loading);
  }
  return handlers.get(entry) as Promise<T>;
}

/**
 * Invokes a route's handler in this process with the proxy event API Gateway sends once the
 * authorizer has allowed `caller` (null: no authorizer context). The tests' and the benchmark's way in.
 */
export async function invokeRoute<T = any>(route: RouteDeclaration, caller: Identity | null, call: Call = {}): Promise<Response<T>> {
  const handler = await loadHandler<ProxyHandler>(route.function.entry);
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
      sourceIp: call.sourceIp ?? '127.0.0.1',
      authorizer: caller
        ? { principalId: caller.userId, orgId: caller.orgId, userId: caller.userId, role: caller.role ?? 'member', email: caller.email ?? '', name: caller.name ?? '' }
        : null,
    }),
    lambdaContext(functionId(route), call.timeoutMs ?? (route.function.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000),
  );
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return { status: result.statusCode, headers, body: result.body ? JSON.parse(result.body) : undefined };
}
