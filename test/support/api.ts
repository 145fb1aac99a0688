import { createHash, randomUUID } from 'node:crypto';
import { taskflow } from '../../lib/app';
import type { RouteDeclaration } from '../../lib/declaration';
import { invokeRoute, type Call, type Identity, type Response } from '../../lib/local/invoke';

export type { Call, Response };
export type Caller = Identity;
export type OperationId = (typeof taskflow.routes)[number]['operationId'];

export function route(operationId: OperationId): RouteDeclaration {
  return taskflow.routes.find((r) => r.operationId === operationId)!;
}

/**
 * Invokes a route's deployed handler directly, as API Gateway would after the authorizer allowed `caller`,
 * from the caller's organization's own address (`call.sourceIp` to choose one).
 */
export function invoke<T = any>(operationId: OperationId, caller: Caller | null, call: Call = {}): Promise<Response<T>> {
  return invokeRoute<T>(route(operationId), caller, { sourceIp: addressOf(caller), ...call });
}

/**
 * A private address per organization: the suite's organizations are different customers, and customers
 * call from different addresses. Were every request of the run from one address, the per-address limit
 * (500 a minute, review S1) would refuse the suite; the rate-limit tests choose addresses themselves.
 */
export function addressOf(caller: Caller | null): string {
  if (!caller) return '127.0.0.1';
  const hash = createHash('sha256').update(caller.orgId).digest();
  return `10.${hash[0]}.${hash[1]}.${hash[2]}`;
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
