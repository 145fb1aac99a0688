import { safeParse } from 'zod/mini';
import type { $ZodType as ZodType, output } from 'zod/v4/core';
import type { Identity } from './auth';
import { lambdaHandler } from './handler';
import { logger } from './logger';
import { recordRequest } from './sli';

/**
 * What API Gateway's WebSocket API sends a route's Lambda proxy integration. The `$connect` authorizer's
 * context (the verified identity) comes with every route of that connection.
 */
export interface WebSocketEvent {
  requestContext: {
    routeKey: string;
    eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
    connectionId: string;
    domainName: string;
    stage: string;
    requestId: string;
    apiId: string;
    connectedAt: number;
    requestTimeEpoch: number;
    identity: { sourceIp: string };
    authorizer?: { principalId?: string; orgId?: string; userId?: string; role?: string; email?: string; name?: string };
    disconnectStatusCode?: number;
    disconnectReason?: string;
  };
  /** `$connect` only. */
  queryStringParameters?: Record<string, string | undefined> | null;
  headers?: Record<string, string | undefined>;
  /** Messages only: the client's frame. */
  body?: string | null;
  isBase64Encoded: boolean;
}

/** A route's answer: on `$connect`, a status other than 200 refuses the handshake; on a two-way route, `body` is the frame. */
export interface WebSocketResult {
  statusCode: number;
  body?: string;
}

export interface WebSocketRequest<Message> {
  connectionId: string;
  identity: Identity;
  message: Message;
  event: WebSocketEvent;
}

/** A frame the client gets when its message cannot be served. */
export const errorFrame = (code: 'BAD_REQUEST' | 'UNKNOWN_ACTION' | 'UNAVAILABLE', detail: string) => ({ type: 'error', code, detail });

/**
 * A WebSocket route's handler: logging with the connection, the identity from the authorizer context,
 * the message checked against its schema (a bad one answers an error frame, never an exception), and the
 * answer as a frame. A failure the client can do nothing about is an `UNAVAILABLE` frame, logged.
 */
export function webSocketHandler<S extends ZodType>(schema: S, handle: (request: WebSocketRequest<output<S>>) => Promise<unknown>) {
  return lambdaHandler<WebSocketEvent, WebSocketResult>(async (event) => {
    const started = performance.now();
    const answer = await answerMessage(schema, handle, event);
    recordRequest('feed', performance.now() - started, answer.failed);
    return answer.result;
  });
}

/** A message's answer, and whether it failed on the feed's side (a server error of the feed's SLI). */
async function answerMessage<S extends ZodType>(
  schema: S,
  handle: (request: WebSocketRequest<output<S>>) => Promise<unknown>,
  event: WebSocketEvent,
): Promise<{ result: WebSocketResult; failed: boolean }> {
  const identity = enter(event);
  if (!identity) return { result: frame(errorFrame('UNAVAILABLE', 'The connection has no verified identity; reconnect')), failed: true };
  let body: unknown;
  try {
    body = event.body ? JSON.parse(event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body) : {};
  } catch {
    return { result: frame(errorFrame('BAD_REQUEST', 'A message must be a JSON object')), failed: false };
  }
  const parsed = safeParse(schema, body);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'message'}: ${issue.message}`).join('; ');
    return { result: frame(errorFrame('BAD_REQUEST', detail)), failed: false };
  }
  try {
    return { result: frame(await handle({ connectionId: event.requestContext.connectionId, identity, message: parsed.data, event })), failed: false };
  } catch (error) {
    logger.error('WebSocket route failed', { error });
    return { result: frame(errorFrame('UNAVAILABLE', 'The feed is unavailable; retry shortly')), failed: true };
  }
}

/**
 * A `$connect` or `$disconnect` handler: no message, the identity from the authorizer context (none:
 * 401), and a status for the handshake. A failure is a 500: the handshake fails and the client retries.
 */
export function connectionHandler(handle: (identity: Identity, event: WebSocketEvent) => Promise<WebSocketResult>) {
  return lambdaHandler<WebSocketEvent, WebSocketResult>(async (event) => {
    const started = performance.now();
    const result = await answerConnection(handle, event);
    recordRequest('feed', performance.now() - started, result.statusCode >= 500);
    return result;
  });
}

async function answerConnection(handle: (identity: Identity, event: WebSocketEvent) => Promise<WebSocketResult>, event: WebSocketEvent): Promise<WebSocketResult> {
  const identity = enter(event);
  if (!identity) return { statusCode: 401, body: 'Unauthorized' };
  try {
    return await handle(identity, event);
  } catch (error) {
    logger.error('WebSocket route failed', { error });
    return { statusCode: 500, body: 'Internal server error' };
  }
}

/** Every route's start: the connection and request in each log line, and the verified identity (logged when missing). */
function enter(event: WebSocketEvent): Identity | undefined {
  const { connectionId, requestId, routeKey } = event.requestContext;
  logger.setCorrelationId(requestId);
  logger.appendKeys({ connectionId, routeKey });
  const identity = identityOf(event);
  if (identity) logger.appendKeys({ orgId: identity.orgId });
  else logger.error('no authorizer context on a WebSocket route');
  return identity;
}

/** The identity the `$connect` authorizer verified, from the route's authorizer context. */
export function identityOf(event: WebSocketEvent): Identity | undefined {
  const context = event.requestContext.authorizer;
  if (!context?.orgId || !context.userId) return undefined;
  return {
    orgId: context.orgId,
    userId: context.userId,
    role: context.role === 'admin' ? 'admin' : 'member',
    ...(context.email ? { email: context.email } : {}),
    ...(context.name ? { name: context.name } : {}),
  };
}

const frame = (body: unknown): WebSocketResult => ({ statusCode: 200, body: JSON.stringify(body) });
