import type { $ZodType as ZodType } from 'zod/v4/core';

/**
 * What a function needs from its surroundings; CDK and the local runtime turn each into grants and environment:
 * - `database`: PostgreSQL through RDS Proxy (in the VPC);
 * - `database-admin`: the instance itself, with the master secret (migrations);
 * - `idempotency`: the idempotency table;
 * - `files`: the files bucket (`FILES_BUCKET_NAME`): attachments under `pending/` and `attachments/`;
 * - `rate-limits`: the rate-limit table (token buckets and hourly request counts), which every JWT route's
 *   function checks before it serves a request (`httpHandler`);
 * - `slack`: Slack's Web API (`SLACK_API_URL`, the bot token); `sendgrid`: SendGrid's v3 API
 *   (`SENDGRID_API_URL`, the API key, `NOTIFICATION_FROM_EMAIL`). Both reach the internet, so such a
 *   function stays out of the VPC (which has no NAT) and must not need the database.
 * - `github`: GitHub's REST API (`GITHUB_API_URL`, a token with read access to the linked repositories' issues);
 *   `google-calendar`: Google Calendar's API (`GOOGLE_CALENDAR_API_URL`, a service account's key, JSON, with
 *   access to the linked calendars). Out of the VPC like `slack`, so never with the database.
 * - `reports`: reads the files bucket's `reports/` prefix (`FILES_BUCKET_NAME`): the weekly reports' download
 *   links; `reports-writer`: writes there too (the weekly job).
 * - `read-replica`: the database's read replica where the stack has one (`DB_READ_HOST`; `DATABASE_READ_URL`
 *   locally), for long reads that would otherwise load the primary; without one, reads go to the primary.
 * - `connections`: the connections table (`CONNECTIONS_TABLE_NAME`): the WebSocket connection registry,
 *   each organization's feed head and the clients' acknowledged positions.
 * - `websocket`: posts to and closes WebSocket connections through the `@connections` management API
 *   (`WEBSOCKET_MANAGEMENT_URL`). That endpoint is public and no VPC endpoint serves it, so such a function
 *   stays out of the VPC and must not need the database either.
 * - `integrations`: the integrations table (`INTEGRATIONS_TABLE_NAME`): each third-party service's circuit
 *   breaker, shared by every Lambda environment, and its last success and failure. Written by the functions
 *   that call a service (`slack`, `sendgrid`, `github`, `google-calendar`), read by the others (the degraded header, the health).
 * - `queue-status`: reads the depth of every declared queue and its dead-letter queue (`QUEUE_STATUS`: their
 *   URLs by queue name), for the integrations' health.
 * - `feed-probe`: the synthetic feed probe's settings: the public WebSocket and REST URLs
 *   (`WEBSOCKET_URL`, `API_URL`) and the OAuth client credentials it gets a token with
 *   (`FEED_PROBE_CREDENTIALS`, a secret). Out of the VPC: it connects as a browser would.
 */
export type Capability =
  | 'database'
  | 'database-admin'
  | 'idempotency'
  | 'rate-limits'
  | 'files'
  | 'slack'
  | 'sendgrid'
  | 'github'
  | 'google-calendar'
  | 'reports'
  | 'reports-writer'
  | 'read-replica'
  | 'connections'
  | 'websocket'
  | 'feed-probe'
  | 'integrations'
  | 'queue-status';

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
  integration?: 'slack' | 'sendgrid' | 'github' | 'googleCalendar';
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
