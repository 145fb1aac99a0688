import type { $ZodType as ZodType } from 'zod/v4/core';
import type { IntegrationName } from '../functions/integrations/services';
import type { Capability } from './capabilities';

/** What a function needs from its surroundings: each capability is a module of lib/capabilities/ (its variables, grants, placement and local provision). */
export type { Capability };

export interface FunctionDeclaration {
  /** Handler module, relative to the repository root; it exports `handler`. */
  entry: string;
  description: string;
  memoryMb?: number;
  timeoutSeconds?: number;
  needs: readonly Capability[];
  /**
   * The declared queues this function publishes outbox entries to, and only those: it gets their
   * `<NAME>_QUEUE_URL`, `OUTBOX_ROUTES`, and may send to them.
   */
  sendsTo?: readonly string[];
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

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
  /** A string sort key, for tables read with Query. */
  sortKey?: string;
  timeToLiveAttribute?: string;
  description: string;
}

/** An SQS queue, its dead-letter queue and the function that consumes it (one queue per consumer). */
export interface QueueDeclaration {
  description: string;
  /** Domain event types the outbox routes here: one outbox entry per event and queue. */
  events?: readonly string[];
  consumer: FunctionDeclaration;
  /** Messages per invocation; the consumer answers with partial batch failures. */
  batchSize: number;
  /** Receives before a message moves to the dead-letter queue. */
  maxReceiveCount: number;
  /** Concurrent invocations at most (the event source's maximum concurrency): a bulkhead for what it calls. */
  maxConcurrency: number;
  /** The third-party service its consumer calls: the queue is that integration's backlog in its health. */
  integration?: IntegrationName;
  /** What an operator does when its dead-letter queue alarms, a file under docs/runbooks/; default: dlq-redrive.md. */
  runbook?: string;
}

/** A function run on a fixed rate by EventBridge. */
export interface ScheduleDeclaration {
  description: string;
  function: FunctionDeclaration;
  everyMinutes: number;
}

/**
 * A route of the WebSocket API: `$connect` (the authorizer runs first, with the token from the query string),
 * `$disconnect`, `$default` (a message naming no known action), or the `action` a client message names.
 */
export interface WebSocketRouteDeclaration {
  route: string;
  summary: string;
  function: FunctionDeclaration;
  /** Two-way: the function's answer (its `body`) goes back to the client as one frame. */
  replies: boolean;
}

export interface AppDeclaration {
  name: string;
  /** Functions that are not behind a route (authorizer, deploy-time jobs). */
  functions: Record<string, FunctionDeclaration>;
  routes: readonly RouteDeclaration[];
  /** The WebSocket API (the activity feed); messages are JSON routed on their `action` field. */
  websocket: { routes: readonly WebSocketRouteDeclaration[] };
  tables: Record<string, TableDeclaration>;
  queues: Record<string, QueueDeclaration>;
  schedules: Record<string, ScheduleDeclaration>;
  /** The service's objectives: they drive the burn-rate alarms, the dashboards, the canary's rollback and `npm run slo`. */
  slos: Record<string, SloDeclaration>;
}

/** Where an SLI is counted: the REST routes by method (GET reads, the rest mutations), the WebSocket feed. */
export type RouteGroup = 'reads' | 'mutations' | 'feed';

/**
 * What counts as a good event, out of all of them:
 * - `errors`: a request of the route group that did not answer 5xx;
 * - `latency`: a request of the route group answered within `thresholdMs`;
 * - `delay`: a measured delay (`metric`, in milliseconds or seconds as its name says) within `thresholdMs`.
 */
export type SliDeclaration =
  | { kind: 'errors'; routeGroups: readonly RouteGroup[] }
  | { kind: 'latency'; routeGroups: readonly RouteGroup[]; thresholdMs: number }
  | { kind: 'delay'; metric: 'FeedDeliveryMs' | 'OutboxOldestUnpublishedAgeSeconds' | 'NotificationDeliveryMs'; thresholdMs: number };

export interface SloDeclaration {
  description: string;
  sli: SliDeclaration;
  /** The fraction of good events over the window, e.g. 0.999. */
  objective: number;
  /** The compliance window (the error budget's period). */
  windowDays: number;
  /** What an operator does when it burns: a file under docs/runbooks/. */
  runbook: string;
}

/** `createProject` → `CreateProject`: the construct id of a route's function. */
export function functionId(route: Pick<RouteDeclaration, 'operationId'>): string {
  return route.operationId.charAt(0).toUpperCase() + route.operationId.slice(1);
}

/** `$connect` → `WsConnect`, `resume` → `WsResume`: the construct id of a WebSocket route's function. */
export function webSocketFunctionId(route: Pick<WebSocketRouteDeclaration, 'route'>): string {
  const name = route.route.replace(/^\$/, '');
  return `Ws${name.charAt(0).toUpperCase()}${name.slice(1)}`;
}

/** `notifications` → `TaskFlow-notifications` (and `-dlq`): queue names, the same in AWS and locally. */
export const queueName = (app: string, name: string, deadLetter = false) => `${app}-${name}${deadLetter ? '-dlq' : ''}`;

/** AWS's advice for an SQS event source: at least six times the consumer's timeout. */
export const visibilityTimeoutSeconds = (queue: QueueDeclaration) => 6 * (queue.consumer.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS);

export const DEFAULT_TIMEOUT_SECONDS = 10;

/** A function's memory when it declares none (what Lambda bills its duration at, with the CPU share it buys). */
export const DEFAULT_MEMORY_MB = 512;

/** The queues some event type goes to: where the API's mutations publish. */
export const eventQueues = (queues: Record<string, QueueDeclaration>) => [...new Set(Object.values(outboxRoutes(queues)).flat())];

/**
 * OUTBOX_ROUTES: which queues each event type goes to, as JSON (`{"task.created":["notifications"]}`),
 * for the functions that write events. Built from the queues' `events`.
 */
export function outboxRoutes(queues: Record<string, QueueDeclaration>): Record<string, string[]> {
  const routes: Record<string, string[]> = {};
  for (const [name, queue] of Object.entries(queues)) {
    for (const type of queue.events ?? []) (routes[type] ??= []).push(name);
  }
  return routes;
}

/** Queue name → the integration its consumer calls (the queue is that integration's backlog in its health). */
export function queueIntegrations(queues: Record<string, QueueDeclaration>): Record<string, IntegrationName> {
  return Object.fromEntries(Object.entries(queues).flatMap(([name, queue]) => (queue.integration ? [[name, queue.integration]] : [])));
}
