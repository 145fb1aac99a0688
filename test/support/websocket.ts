import { randomUUID } from 'node:crypto';
import { taskflow } from '../../lib/app';
import { loadHandler } from '../../lib/local/invoke';
import { lambdaContext } from '../../lib/local/proxy-event';
import type { WebSocketEvent, WebSocketResult } from '../../functions/shared/websocket';
import type { Caller } from './api';

type RouteKey = (typeof taskflow.websocket.routes)[number]['route'];

/**
 * Invokes a WebSocket route's handler directly, as API Gateway would for a connection whose `$connect`
 * the authorizer allowed for `caller`: `message` is the client's frame (an object is sent as JSON).
 */
export async function invokeWebSocket(
  routeKey: RouteKey,
  caller: Caller,
  connectionId: string,
  { message, query }: { message?: unknown; query?: Record<string, string> } = {},
): Promise<WebSocketResult> {
  const route = taskflow.websocket.routes.find((candidate) => candidate.route === routeKey)!;
  const handler = await loadHandler<(event: WebSocketEvent, context: unknown) => Promise<WebSocketResult>>(route.function.entry);
  const eventType = routeKey === '$connect' ? 'CONNECT' : routeKey === '$disconnect' ? 'DISCONNECT' : 'MESSAGE';
  const event: WebSocketEvent = {
    requestContext: {
      routeKey,
      eventType,
      connectionId,
      domainName: 'localhost',
      stage: 'v1',
      requestId: randomUUID(),
      apiId: 'local',
      connectedAt: Date.now(),
      requestTimeEpoch: Date.now(),
      identity: { sourceIp: '127.0.0.1' },
      authorizer: { principalId: caller.userId, orgId: caller.orgId, userId: caller.userId, role: caller.role ?? 'member' },
    },
    ...(query ? { queryStringParameters: query } : {}),
    body: message === undefined ? null : typeof message === 'string' ? message : JSON.stringify(message),
    isBase64Encoded: false,
  };
  return handler(event, lambdaContext(route.function.entry, 10_000));
}

/** A route's answer frame, parsed. */
export async function ask(routeKey: RouteKey, caller: Caller, connectionId: string, message: unknown): Promise<any> {
  const result = await invokeWebSocket(routeKey, caller, connectionId, { message });
  return JSON.parse(result.body!);
}
