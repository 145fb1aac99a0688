import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { APIGatewayAuthorizerResult, Context } from 'aws-lambda';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { WebSocketEvent, WebSocketResult } from '../../functions/shared/websocket';
import { DEFAULT_TIMEOUT_SECONDS, webSocketFunctionId, type WebSocketRouteDeclaration } from '../declaration';
import { Invocations } from './lambda';

// API Gateway's WebSocket API on this machine, built from the declaration's `websocket.routes`: the `$connect`
// REQUEST authorizer (token from the query string), the route handlers with the events API Gateway sends them,
// route selection on `$request.body.action`, its limits and timeouts, and the `@connections` management API on
// the same port (what `@aws-sdk/client-apigatewaymanagementapi` calls).

export type WebSocketRouteHandler = (event: WebSocketEvent, context: Context) => Promise<WebSocketResult | undefined | void>;

/** The REQUEST authorizer event API Gateway sends for a WebSocket API's `$connect`. */
export interface WebSocketAuthorizerEvent {
  type: 'REQUEST';
  /** `arn:aws:execute-api:local:000000000000:local/v1/$connect` */
  methodArn: string;
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  queryStringParameters: Record<string, string>;
  multiValueQueryStringParameters: Record<string, string[]>;
  stageVariables: Record<string, string>;
  requestContext: WebSocketEvent['requestContext'] & { extendedRequestId: string; requestTime: string; messageDirection: 'IN' };
}

export type RequestAuthorizer = (event: WebSocketAuthorizerEvent, context: Context) => Promise<APIGatewayAuthorizerResult>;

export interface WebSocketGatewayOptions {
  routes: readonly WebSocketRouteDeclaration[];
  handlerFor(route: WebSocketRouteDeclaration): Promise<WebSocketRouteHandler>;
  /** Runs on `$connect` with the `token` query parameter as its identity source. */
  authorizer: RequestAuthorizer;
  /** 0 (the default) picks a free port. Listens on 127.0.0.1. */
  port?: number;
  /** Closes a connection after this long without a client message (API Gateway: 10 minutes). */
  idleTimeoutMs?: number;
  /** Closes a connection this long after it opened, whatever it does (API Gateway: 2 hours). */
  maxConnectionMs?: number;
  log?: (line: string) => void;
}

export interface WebSocketGateway {
  /** ws://localhost:<port>: where clients connect (`?token=JWT&clientId=…`; any path). */
  url: string;
  /** http://127.0.0.1:<port>: the `@connections` API's endpoint (WEBSOCKET_MANAGEMENT_URL). */
  managementUrl: string;
  port: number;
  /** The ids of the open connections the gateway knows. */
  connections(): string[];
  /**
   * Drops a connection abruptly, like a network failure: the socket is destroyed without a close frame and
   * `$disconnect` runs (1006), as in AWS. Resolves once that invocation has ended; false for an unknown id.
   */
  dropConnection(connectionId: string): Promise<boolean>;
  /** dropConnection for every connection. */
  dropAll(): Promise<void>;
  /**
   * The gateway forgets a connection without closing its socket and without `$disconnect`: `@connections`
   * answers 410 for it from now on and its messages go nowhere, while the registry still lists it (a stale
   * entry). Its socket is closed when the gateway stops, still without `$disconnect`. False for an unknown id.
   */
  forget(connectionId: string): boolean;
  /** Closes every connection (1001 Going away), waits for the `$disconnect` invocations, and stops listening. */
  stop(): Promise<void>;
}

export const STAGE = 'v1';
const API_ID = 'local';
export const IDLE_TIMEOUT_MS = 10 * 60 * 1000;
export const MAX_CONNECTION_MS = 2 * 60 * 60 * 1000;
/**
 * API Gateway's limits: a frame of at most 32 KB, a message of at most 128 KB. `ws` checks a message's length,
 * not its frames'; clients send a message as one frame, so a message over 32 KB is refused the way API
 * Gateway refuses such a frame: close 1009.
 */
export const MAX_FRAME_BYTES = 32 * 1024;
/** What `@connections` POST accepts (PayloadTooLargeException past it). */
export const MAX_POST_BYTES = 128 * 1024;
const AUTHORIZER_TIMEOUT_MS = 10_000;
/** How long stop() waits for clients to answer the close frame before dropping them. */
const CLOSE_GRACE_MS = 1_000;

interface Connection {
  id: string;
  socket: WebSocket;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
  authorizer: Record<string, string>;
  idleTimer: NodeJS.Timeout;
  ageTimer: NodeJS.Timeout;
  /** The close the gateway started (timeouts, DELETE, stop, drop), which `$disconnect` reports. */
  closing?: { code: number; reason: string };
  forgotten: boolean;
  /** Settles once the `$disconnect` invocation has ended (at once when there is none). */
  disconnected: Promise<void>;
}

/** A connection id shaped like API Gateway's (`L0SM9cOFvHcCIhw=`): 15 letters and digits and `=`. */
function connectionId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(15)].map((byte) => alphabet[byte % alphabet.length]).join('') + '=';
}

/** API Gateway's requestTime format: `20/Jul/2023:23:29:25 +0000`. */
function requestTime(epoch: number): string {
  const date = new Date(epoch);
  const month = date.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${month}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

const toBuffer = (data: RawData): Buffer => (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));

/** Starts the WebSocket API on 127.0.0.1; `@connections` is served on the same port. */
export async function startWebSocketGateway(options: WebSocketGatewayOptions): Promise<WebSocketGateway> {
  const routes = new Map(options.routes.map((route) => [route.route, route]));
  const idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  const maxConnectionMs = options.maxConnectionMs ?? MAX_CONNECTION_MS;
  const log = (line: string) => options.log?.(`ws ${line}`);
  const invocations = new Invocations();
  const open = new Map<string, Connection>();
  const all = new Set<Connection>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  const server = createServer((req, res) => {
    void manage(req, res).catch((error: unknown) => {
      log(`@connections error: ${(error as Error).stack ?? String(error)}`);
      if (!res.headersSent) awsError(res, 500, 'InternalServerErrorException', 'Internal server error');
      else res.destroy();
    });
  });
  let stopping = false;
  let port = 0;

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    void handshake(req, socket, head).catch((error: unknown) => {
      log(`handshake error: ${(error as Error).stack ?? String(error)}`);
      refuse(socket, 500, { message: 'Internal server error' });
    });
  });

  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', fail);
      done();
    });
  });
  port = (server.address() as { port: number }).port;
  const domainName = `localhost:${port}`;

  function invoke(route: WebSocketRouteDeclaration, event: WebSocketEvent): Promise<WebSocketResult | undefined | void> {
    const timeoutMs = (route.function.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
    return invocations.invoke(() => options.handlerFor(route), event, webSocketFunctionId(route), timeoutMs);
  }

  function requestContext(
    connection: Pick<Connection, 'id' | 'connectedAt' | 'sourceIp'>,
    routeKey: string,
    eventType: WebSocketEvent['requestContext']['eventType'],
    authorizer?: Record<string, string>,
  ) {
    const now = Date.now();
    return {
      routeKey,
      eventType,
      extendedRequestId: randomUUID(),
      requestTime: requestTime(now),
      messageDirection: 'IN' as const,
      connectionId: connection.id,
      domainName,
      stage: STAGE,
      requestId: randomUUID(),
      apiId: API_ID,
      connectedAt: connection.connectedAt,
      requestTimeEpoch: now,
      identity: { sourceIp: connection.sourceIp },
      ...(authorizer ? { authorizer } : {}),
    };
  }

  async function handshake(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (stopping) return refuse(socket, 503, { message: 'Service Unavailable' });
    const url = new URL(req.url ?? '/', 'http://localhost');
    const key = req.headers['sec-websocket-key'];
    // What handleUpgrade would refuse, refused before $connect runs (it would register a connection that never opens).
    if (req.method !== 'GET' || req.headers.upgrade?.toLowerCase() !== 'websocket' || !key || req.headers['sec-websocket-version'] !== '13') {
      return refuse(socket, 400, { message: 'Bad Request' });
    }
    const started = performance.now();
    const headers = Object.fromEntries(
      Object.entries(req.headers).flatMap(([name, value]) => (value === undefined ? [] : [[name, String(value)]])),
    ) as Record<string, string>;
    const query = Object.fromEntries([...url.searchParams.keys()].map((name) => [name, url.searchParams.getAll(name).at(-1)!]));
    const connection = {
      id: connectionId(),
      connectedAt: Date.now(),
      sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
    };
    const done = (status: number) => log(`$connect ${connection.id} → ${status} ${Math.round(performance.now() - started)} ms`);

    // The identity source is the `token` query parameter: without it the authorizer is not invoked.
    if (!query.token) return (done(401), refuse(socket, 401, { message: 'Unauthorized' }));
    let authorizer: Record<string, string>;
    try {
      const result = await invocations.invoke(
        async () => options.authorizer,
        {
          type: 'REQUEST',
          methodArn: `arn:aws:execute-api:local:000000000000:${API_ID}/${STAGE}/$connect`,
          headers,
          multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
          queryStringParameters: query,
          multiValueQueryStringParameters: Object.fromEntries([...url.searchParams.keys()].map((name) => [name, url.searchParams.getAll(name)])),
          stageVariables: {},
          requestContext: requestContext(connection, '$connect', 'CONNECT'),
        } satisfies WebSocketAuthorizerEvent,
        'Authorizer',
        AUTHORIZER_TIMEOUT_MS,
      );
      if (!result.policyDocument.Statement.some((statement) => statement.Effect === 'Allow')) {
        return (done(403), refuse(socket, 403, { message: 'Forbidden' }));
      }
      authorizer = Object.fromEntries(
        Object.entries({ ...result.context, principalId: result.principalId }).flatMap(([k, v]) => (v === undefined || v === null ? [] : [[k, String(v)]])),
      );
    } catch {
      return (done(401), refuse(socket, 401, { message: 'Unauthorized' }));
    }

    const connect = routes.get('$connect');
    if (connect) {
      const event: WebSocketEvent = {
        requestContext: requestContext(connection, '$connect', 'CONNECT', authorizer),
        headers,
        ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
        isBase64Encoded: false,
      };
      let result: WebSocketResult | undefined | void;
      try {
        result = await invoke(connect, event);
      } catch (error) {
        log(`$connect ${connection.id} failed: ${(error as Error).stack ?? String(error)}`);
        return (done(500), refuse(socket, 500, { message: 'Internal server error' }));
      }
      const status = result && typeof result.statusCode === 'number' ? result.statusCode : 502;
      if (status !== 200) {
        done(status);
        return refuse(socket, status, typeof result?.body === 'string' && result.body ? result.body : { message: STATUS_CODES[status] ?? 'Error' });
      }
    }
    if (stopping || !socket.readable || !socket.writable) {
      // $connect registered it, but the client went away meanwhile: it ends like any other connection.
      done(200);
      socket.destroy();
      return void disconnect({ ...connection, authorizer }, 1006, 'Connection closed abnormally');
    }
    wss.handleUpgrade(req, socket, head, (socket) => {
      done(101);
      accept({ ...connection, socket, authorizer, userAgent: headers['user-agent'] ?? '' });
    });
  }

  function accept(init: Pick<Connection, 'id' | 'socket' | 'connectedAt' | 'sourceIp' | 'userAgent' | 'authorizer'>): void {
    let closed!: () => void;
    const conn: Connection = {
      ...init,
      lastActiveAt: init.connectedAt,
      forgotten: false,
      idleTimer: setTimeout(() => close(conn, 1001, 'Going away'), idleTimeoutMs),
      ageTimer: setTimeout(() => close(conn, 1001, 'Going away'), Math.max(0, maxConnectionMs - (Date.now() - init.connectedAt))),
      disconnected: new Promise<void>((done) => (closed = done)),
    };
    open.set(conn.id, conn);
    all.add(conn);
    const { socket } = conn;
    socket.on('error', (error) => log(`${conn.id} socket error: ${error.message}`));
    socket.on('message', (data, isBinary) => {
      if (conn.forgotten) return;
      conn.lastActiveAt = Date.now();
      conn.idleTimer.refresh();
      void message(conn, toBuffer(data), isBinary);
    });
    socket.on('close', (code, reason) => {
      clearTimeout(conn.idleTimer);
      clearTimeout(conn.ageTimer);
      if (open.get(conn.id) === conn) open.delete(conn.id);
      const finished = () => {
        all.delete(conn);
        closed();
      };
      if (conn.forgotten) return finished();
      const status = conn.closing ?? { code, reason: reason.toString('utf8') || closeReason(code) };
      void disconnect(conn, status.code, status.reason).finally(finished);
    });
  }

  async function disconnect(conn: Pick<Connection, 'id' | 'connectedAt' | 'sourceIp' | 'authorizer'>, code: number, reason: string): Promise<void> {
    const route = routes.get('$disconnect');
    if (!route) return;
    const started = performance.now();
    try {
      await invoke(route, {
        requestContext: { ...requestContext(conn, '$disconnect', 'DISCONNECT', conn.authorizer), disconnectStatusCode: code, disconnectReason: reason },
        headers: { Host: domainName, 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' },
        isBase64Encoded: false,
      });
      log(`$disconnect ${conn.id} (${code}) ${Math.round(performance.now() - started)} ms`);
    } catch (error) {
      log(`$disconnect ${conn.id} failed: ${(error as Error).stack ?? String(error)}`);
    }
  }

  async function message(conn: Connection, data: Buffer, isBinary: boolean): Promise<void> {
    const started = performance.now();
    const text = isBinary ? null : data.toString('utf8');
    const route = routes.get(selectRoute(text)) ?? routes.get('$default');
    const context = requestContext(conn, route?.route ?? '$default', 'MESSAGE', conn.authorizer);
    const reply = (frame: string) => {
      if (conn.socket.readyState === conn.socket.OPEN && !conn.forgotten) conn.socket.send(frame);
    };
    if (!route) {
      reply(JSON.stringify({ message: 'Forbidden', connectionId: conn.id, requestId: context.requestId }));
      return;
    }
    try {
      const result = await invoke(route, {
        requestContext: { ...context, messageId: randomUUID() } as WebSocketEvent['requestContext'],
        body: text ?? data.toString('base64'),
        isBase64Encoded: isBinary,
      });
      if (route.replies && result && typeof result.body === 'string') reply(result.body);
      log(`${route.route} ${conn.id} → ${result?.statusCode ?? '-'} ${Math.round(performance.now() - started)} ms`);
    } catch (error) {
      log(`${route.route} ${conn.id} failed: ${(error as Error).stack ?? String(error)}`);
      reply(JSON.stringify({ message: 'Internal server error', connectionId: conn.id, requestId: context.requestId }));
    }
  }

  /** `$request.body.action`: a JSON object's `action` when it names a declared route, else `$default`. */
  function selectRoute(text: string | null): string {
    if (text === null) return '$default';
    try {
      const body: unknown = JSON.parse(text);
      if (body && typeof body === 'object' && !Array.isArray(body)) {
        const action = (body as { action?: unknown }).action;
        if (typeof action === 'string' && !action.startsWith('$') && routes.has(action)) return action;
      }
    } catch {
      // Not JSON: $default.
    }
    return '$default';
  }

  function close(conn: Connection, code: number, reason: string, disconnectReason = reason): void {
    conn.closing ??= { code, reason: disconnectReason };
    if (conn.socket.readyState === conn.socket.OPEN || conn.socket.readyState === conn.socket.CONNECTING) conn.socket.close(code, reason);
  }

  function drop(conn: Connection): Promise<void> {
    conn.closing ??= { code: 1006, reason: 'Connection dropped' };
    conn.socket.terminate();
    return conn.disconnected;
  }

  /** The `@connections` API: POST/GET/DELETE `[/v1]/@connections/{connectionId}`. */
  async function manage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = new RegExp(`^(?:/${STAGE})?/@connections/([^/]+)/?$`).exec(url.pathname);
    const id = match ? safeDecode(match[1]!) : null;
    res.on('finish', () => log(`${req.method} ${url.pathname} → ${res.statusCode} ${Math.round(performance.now() - started)} ms`));
    if (id === null) return awsError(res, 403, 'ForbiddenException', 'Forbidden');
    const conn = open.get(id);
    const live = conn && !conn.forgotten && conn.socket.readyState === conn.socket.OPEN ? conn : undefined;
    switch (req.method) {
      case 'POST': {
        const body = await readBody(req, MAX_POST_BYTES);
        if (body === 'too-large') {
          res.setHeader('Connection', 'close');
          return awsError(res, 413, 'PayloadTooLargeException', `Message size exceeds the ${MAX_POST_BYTES / 1024} KB limit`);
        }
        if (!live) return gone(res, id);
        const sent = await new Promise<boolean>((done) => live.socket.send(body, { binary: false }, (error) => done(!error)));
        if (!sent) return gone(res, id);
        return reply(res, 200);
      }
      case 'GET':
        if (!live) return gone(res, id);
        return reply(res, 200, {
          // The wire names are camelCase (the SDK's output is ConnectedAt, Identity, LastActiveAt).
          connectedAt: new Date(live.connectedAt).toISOString(),
          identity: { sourceIp: live.sourceIp, userAgent: live.userAgent },
          lastActiveAt: new Date(live.lastActiveAt).toISOString(),
        });
      case 'DELETE':
        if (!live) return gone(res, id);
        // What API Gateway reports to $disconnect for a DeleteConnection.
        close(live, 1000, '', 'Connection Closed Normally');
        return reply(res, 204);
      default:
        return awsError(res, 403, 'ForbiddenException', 'Forbidden');
    }
  }

  return {
    url: `ws://localhost:${port}`,
    managementUrl: `http://127.0.0.1:${port}`,
    port,
    connections: () => [...open.values()].filter((conn) => !conn.forgotten).map((conn) => conn.id),
    async dropConnection(connectionId) {
      const conn = open.get(connectionId);
      if (!conn) return false;
      await drop(conn);
      return true;
    },
    async dropAll() {
      await Promise.all([...open.values()].map(drop));
    },
    forget(connectionId) {
      const conn = open.get(connectionId);
      if (!conn) return false;
      conn.forgotten = true;
      clearTimeout(conn.idleTimer);
      clearTimeout(conn.ageTimer);
      open.delete(connectionId);
      return true;
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      const closed = new Promise<void>((done) => server.close(() => done()));
      server.closeAllConnections();
      for (const conn of all) close(conn, 1001, 'Going away');
      const everyDisconnect = () => Promise.all([...all].map((conn) => conn.disconnected));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([everyDisconnect(), new Promise((done) => (timer = setTimeout(done, CLOSE_GRACE_MS)))]);
      clearTimeout(timer);
      for (const conn of all) conn.socket.terminate();
      await everyDisconnect();
      await invocations.stop();
      await new Promise<void>((done) => wss.close(() => done()));
      await closed;
    },
  };
}

/** What API Gateway reports as a `$disconnect`'s reason when the close frame had none. */
function closeReason(code: number): string {
  switch (code) {
    case 1000:
      return 'Connection Closed Normally';
    case 1001:
      return 'Going away';
    case 1006:
      return 'Connection closed abnormally';
    case 1009:
      return 'Message too big';
    default:
      return '';
  }
}

function safeDecode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return 'too-large';
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function reply(res: ServerResponse, status: number, body?: unknown): void {
  const payload = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'x-amzn-RequestId': randomUUID(),
    ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : { 'Content-Length': 0 }),
  });
  res.end(payload);
}

/** An error as API Gateway's restJson1 API sends it: the type in x-amzn-ErrorType, the message in the body. */
function awsError(res: ServerResponse, status: number, type: string, message: string): void {
  const payload = JSON.stringify({ message });
  res.writeHead(status, {
    'x-amzn-RequestId': randomUUID(),
    'x-amzn-ErrorType': type,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

const gone = (res: ServerResponse, id: string) => awsError(res, 410, 'GoneException', `Connection ${id} is gone`);

/** Refuses a WebSocket upgrade with an HTTP answer. */
function refuse(socket: Duplex, status: number, body: unknown): void {
  if (!socket.writable) return void socket.destroy();
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(payload)}\r\n` +
      `x-amzn-RequestId: ${randomUUID()}\r\n` +
      '\r\n' +
      payload,
  );
}
