import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { taskflow } from '../../lib/app';
import { functionId, type RouteDeclaration } from '../../lib/declaration';
import { lambdaContext, proxyEvent } from '../../lib/local/proxy-event';
import type { ProxyHandler } from '../../lib/local/rest-gateway';

export type OperationId = (typeof taskflow.routes)[number]['operationId'];

export interface Caller {
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

export function route(operationId: OperationId): RouteDeclaration {
  return taskflow.routes.find((r) => r.operationId === operationId)!;
}

/**
 * Invokes a route's deployed handler directly with the proxy event API Gateway would send after
 * the authorizer allowed `caller`: the integration tests' way in, without HTTP.
 */
export async function invoke<T = any>(operationId: OperationId, caller: Caller | null, call: Call = {}): Promise<Response<T>> {
  const declared = route(operationId);
  const entry = declared.function.entry;
  if (!handlers.has(entry)) {
    handlers.set(entry, import(pathToFileURL(resolve(root, entry)).href).then((m: { handler: ProxyHandler }) => m.handler));
  }
  const handler = await handlers.get(entry)!;
  const path = declared.path.replace(/\{(\w+)\}/g, (_, name: string) => call.params?.[name] ?? '');
  const body = call.body === undefined ? null : typeof call.body === 'string' ? call.body : JSON.stringify(call.body);
  const result: APIGatewayProxyResult = await handler(
    proxyEvent({
      route: declared,
      path,
      pathParameters: call.params ?? null,
      headers: { ...(body !== null ? { 'content-type': 'application/json' } : {}), ...call.headers },
      query: new URLSearchParams(call.query),
      body,
      sourceIp: '127.0.0.1',
      authorizer: caller ? { principalId: caller.userId, orgId: caller.orgId, userId: caller.userId, role: caller.role ?? 'member' } : null,
    }),
    lambdaContext(functionId(declared), 10_000),
  );
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return { status: result.statusCode, headers, body: result.body ? JSON.parse(result.body) : undefined };
}

/** A caller in a fresh organization, so tests never see each other's data. */
export function newCaller(role: 'member' | 'admin' = 'member'): Caller {
  return { orgId: `org_${randomUUID()}`, userId: `user_${randomUUID()}`, role };
}

export function memberOf(caller: Caller): Caller {
  return { orgId: caller.orgId, userId: `user_${randomUUID()}` };
}

export async function createProject(caller: Caller, name = 'Project'): Promise<any> {
  const response = await invoke('createProject', caller, { body: { name } });
  if (response.status !== 201) throw new Error(`createProject: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

export async function createTask(caller: Caller, projectId: string, body: Record<string, unknown> = {}): Promise<any> {
  const response = await invoke('createTask', caller, { params: { projectId }, body: { title: 'Task', ...body } });
  if (response.status !== 201) throw new Error(`createTask: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}
