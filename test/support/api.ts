import { randomUUID } from 'node:crypto';
import { taskflow } from '../../lib/app';
import type { RouteDeclaration } from '../../lib/declaration';
import { invokeRoute, type Call, type Identity, type Response } from '../../lib/local/invoke';

export type { Call, Response };
export type Caller = Identity;
export type OperationId = (typeof taskflow.routes)[number]['operationId'];

export function route(operationId: OperationId): RouteDeclaration {
  return taskflow.routes.find((r) => r.operationId === operationId)!;
}

/** Invokes a route's deployed handler directly, as API Gateway would after the authorizer allowed `caller`. */
export function invoke<T = any>(operationId: OperationId, caller: Caller | null, call: Call = {}): Promise<Response<T>> {
  return invokeRoute<T>(route(operationId), caller, call);
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
