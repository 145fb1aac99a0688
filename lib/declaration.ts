import type { $ZodType as ZodType } from 'zod/v4/core';

/** What a function needs from its surroundings; CDK turns each into grants and environment. */
export type Capability = 'database' | 'database-admin' | 'idempotency';

export interface FunctionDeclaration {
  /** Handler module, relative to the repository root; it exports `handler`. */
  entry: string;
  description: string;
  memoryMb?: number;
  timeoutSeconds?: number;
  needs: readonly Capability[];
}

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface RouteDeclaration {
  method: HttpMethod;
  /** API Gateway resource path, e.g. `/tasks/{taskId}`. */
  path: string;
  operationId: string;
  summary: string;
  /** `jwt`: the Lambda authorizer runs first; `none`: public (health checks). */
  auth: 'jwt' | 'none';
  function: FunctionDeclaration;
  request?: { body?: ZodType; query?: ZodType; headers?: Record<string, string> };
  /** Success status and body schema (no schema: an empty body). */
  response: { status: number; body?: ZodType; headers?: Record<string, string> };
  /** Error codes this route can answer with, beyond the ones every route has. */
  errors?: readonly number[];
}

export interface TableDeclaration {
  partitionKey: string;
  timeToLiveAttribute?: string;
  description: string;
}

export interface AppDeclaration {
  name: string;
  /** Functions that are not behind a route (authorizer, deploy-time jobs). */
  functions: Record<string, FunctionDeclaration>;
  routes: readonly RouteDeclaration[];
  tables: Record<string, TableDeclaration>;
}

/** `createProject` → `CreateProject`: the construct id of a route's function. */
export function functionId(route: Pick<RouteDeclaration, 'operationId'>): string {
  return route.operationId.charAt(0).toUpperCase() + route.operationId.slice(1);
}

/** `idempotency` → IDEMPOTENCY_TABLE_NAME: the variable that names a declared table to its functions. */
export const tableNameVariable = (name: string) => `${name.toUpperCase()}_TABLE_NAME`;
