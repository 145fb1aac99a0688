import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { APIGatewayAuthorizerResult } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { WebSocketEvent, WebSocketResult } from '../../functions/shared/websocket';
import type { WebSocketRouteDeclaration } from '../../lib/declaration';
import {
  MAX_FRAME_BYTES,
  MAX_POST_BYTES,
  startWebSocketGateway,
  type WebSocketAuthorizerEvent,
  type WebSocketGateway,
  type WebSocketGatewayOptions,
  type WebSocketRouteHandler,
} from '../../lib/local/ws-gateway';

// The local API Gateway WebSocket API, driven with test routes and a fake authorizer (not the feed's
// handlers): the handshake, route selection, replies, $disconnect, timeouts, faults and @connections
// through the real management API client.

const declare = (route: string, replies: boolean): WebSocketRouteDeclaration => ({
  route,
  replies,
  summary: route,
  function: { entry: `test/none/${route}.ts`, description: route, needs: [], timeoutSeconds: 2 },
});

const routes = [
  declare('$connect', false),
  declare('$disconnect', false),
  declare('echo', true),
  declare('silent', false),
  declare('boom', true),
  declare('$default', true),
];

let authorizerEvents: WebSocketAuthorizerEvent[] = [];
let events: WebSocketEvent[] = [];
const ofRoute = (routeKey: string, connectionId?: string) =>
  events.filter((e) => e.requestContext.routeKey === routeKey && (!connectionId || e.requestContext.connectionId === connectionId));

const frame = (body: unknown): WebSocketResult => ({ statusCode: 200, body: JSON.stringify(body) });

const handlers: Record<string, WebSocketRouteHandler> = {
  async $connect(event) {
    events.push(event);
    if (event.queryStringParameters?.full) return { statusCode: 429, body: JSON.stringify({ message: 'Too many connections' }) };
    return { statusCode: 200 };
  },
  async $disconnect(event) {
    events.push(event);
    return { statusCode: 200 };
  },
  async echo(event) {
    events.push(event);
    return frame({ type: 'echo', body: event.body });
  },
  async silent(event) {
    events.push(event);
    return frame({ type: 'never sent' });
  },
  async boom(event) {
    events.push(event);
    throw new Error('boom');
  },
  async $default(event) {
    events.push(event);
    return frame({ type: 'default', body: event.body, isBase64Encoded: event.isBase64Encoded });
  },
};

const identity = { orgId: 'org_ws', userId: 'user_ws', role: 'member', email: 'ws@example.com', name: 'W S' };

async function authorizer(event: WebSocketAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  authorizerEvents.push(event);
  const token = event.queryStringParameters.token;
  if (token !== 'good' && token !== 'deny') throw new Error('Unauthorized');
  return {
    principalId: identity.userId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: token === 'good' ? 'Allow' : 'Deny', Resource: event.methodArn }],
    },
    context: identity,
  };
}

const start = (options: Partial<WebSocketGatewayOptions> = {}) =>
  startWebSocketGateway({
    routes,
    handlerFor: async (route) => handlers[route.route]!,
    authorizer,
    port: 0,
    ...options,
  });

let gateway: WebSocketGateway;
const open: WebSocket[] = [];

beforeAll(async () => {
  gateway = await start();
});

afterAll(async () => {
  for (const socket of open) socket.terminate();
  await gateway?.stop();
});

beforeEach(() => {
  authorizerEvents = [];
  events = [];
});

/** Resolves once `check` holds (polled every 10 ms, for at most 2 s). */
async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Client {
  socket: WebSocket;
  connectionId: string;
  /** The next frame not yet taken, parsed. */
  next(): Promise<any>;
  closed: Promise<{ code: number; reason: string }>;
}

let connects = 0;

/** Connects with `query`; resolves once open, with the connection id $connect saw. */
async function connect(query: Record<string, string> = { token: 'good' }, url = gateway.url): Promise<Client> {
  const tag = `c${++connects}`;
  const socket = new WebSocket(`${url}/v1?${new URLSearchParams({ ...query, tag })}`);
  open.push(socket);
  const frames: string[] = [];
  const waiting: ((frame: string) => void)[] = [];
  socket.on('message', (data) => {
    const text = data.toString();
    const waiter = waiting.shift();
    if (waiter) waiter(text);
    else frames.push(text);
  });
  const closed = new Promise<{ code: number; reason: string }>((done) => socket.on('close', (code, reason) => done({ code, reason: reason.toString() })));
  await new Promise<void>((done, fail) => {
    socket.once('open', () => done());
    socket.once('error', fail);
  });
  const connectionId = ofRoute('$connect').find((e) => e.queryStringParameters?.tag === tag)!.requestContext.connectionId;
  return {
    socket,
    connectionId,
    closed,
    next: () => {
      const text = frames.shift();
      const pending = text !== undefined ? Promise.resolve(text) : new Promise<string>((done) => waiting.push(done));
      return pending.then((t) => JSON.parse(t));
    },
  };
}

/** The HTTP status (and body) a refused handshake answers. */
function refusal(query: Record<string, string>): Promise<{ status: number; body: string }> {
  const socket = new WebSocket(`${gateway.url}/?${new URLSearchParams(query)}`);
  return new Promise((done, fail) => {
    socket.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => done({ status: res.statusCode!, body }));
    });
    socket.on('open', () => fail(new Error('the handshake was accepted')));
    socket.on('error', () => undefined);
  });
}

const management = (endpoint = gateway.managementUrl) =>
  new ApiGatewayManagementApiClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });

describe('the handshake', () => {
  it('refuses without a token (401, the authorizer not invoked), on a thrown authorizer (401) and on a Deny policy (403)', async () => {
    expect(await refusal({ clientId: 'tab' })).toMatchObject({ status: 401 });
    expect(authorizerEvents).toHaveLength(0);
    expect(await refusal({ token: 'forged' })).toEqual({ status: 401, body: '{"message":"Unauthorized"}' });
    expect((await refusal({ token: 'deny' })).status).toBe(403);
    expect(ofRoute('$connect')).toHaveLength(0);
    expect(gateway.connections()).toEqual([]);
  });

  it('refuses with the status $connect answers (429), and that connection never disconnects', async () => {
    expect(await refusal({ token: 'good', full: '1' })).toEqual({ status: 429, body: '{"message":"Too many connections"}' });
    expect(ofRoute('$connect')).toHaveLength(1);
    expect(gateway.connections()).toEqual([]);
    await new Promise((r) => setTimeout(r, 50));
    expect(ofRoute('$disconnect')).toHaveLength(0);
  });

  it('gives the authorizer a REQUEST event and $connect the identity, query string and headers', async () => {
    const client = await connect({ token: 'good', clientId: 'tab-1' });
    expect(client.connectionId).toMatch(/^[A-Za-z0-9]{15}=$/);
    expect(gateway.connections()).toContain(client.connectionId);
    const [authorizing] = authorizerEvents;
    expect(authorizing).toMatchObject({
      type: 'REQUEST',
      methodArn: 'arn:aws:execute-api:local:000000000000:local/v1/$connect',
      queryStringParameters: { token: 'good', clientId: 'tab-1', tag: expect.any(String) },
      requestContext: { routeKey: '$connect', eventType: 'CONNECT', connectionId: client.connectionId },
    });
    const [connected] = ofRoute('$connect', client.connectionId);
    expect(connected).toMatchObject({
      queryStringParameters: { token: 'good', clientId: 'tab-1', tag: expect.any(String) },
      headers: { host: expect.stringContaining('localhost') },
      isBase64Encoded: false,
      requestContext: {
        routeKey: '$connect',
        eventType: 'CONNECT',
        connectionId: client.connectionId,
        domainName: `localhost:${gateway.port}`,
        stage: 'v1',
        apiId: 'local',
        identity: { sourceIp: '127.0.0.1' },
        authorizer: { ...identity, principalId: identity.userId },
      },
    });
    client.socket.close();
    await until(() => ofRoute('$disconnect', client.connectionId).length === 1);
  });
});

describe('messages', () => {
  it('routes on the action, to $default otherwise, and sends two-way routes\' answers back', async () => {
    const client = await connect();
    client.socket.send(JSON.stringify({ action: 'echo', n: 1 }));
    expect(await client.next()).toEqual({ type: 'echo', body: '{"action":"echo","n":1}' });
    const [echoed] = ofRoute('echo', client.connectionId);
    expect(echoed).toMatchObject({
      body: '{"action":"echo","n":1}',
      isBase64Encoded: false,
      requestContext: { eventType: 'MESSAGE', stage: 'v1', domainName: `localhost:${gateway.port}`, authorizer: { orgId: 'org_ws', userId: 'user_ws' } },
    });
    expect(echoed!.requestContext.connectedAt).toBe(ofRoute('$connect', client.connectionId)[0]!.requestContext.connectedAt);

    for (const message of ['{"action":"nope"}', 'not json', '{"action":"$connect"}', '["echo"]', '{"action":7}']) {
      client.socket.send(message);
      expect(await client.next()).toEqual({ type: 'default', body: message, isBase64Encoded: false });
    }
    expect(ofRoute('$connect', client.connectionId)).toHaveLength(1);

    client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await client.next()).toEqual({ type: 'default', body: 'AQID', isBase64Encoded: true });

    // One-way: the answer is not sent (the echo's is the next frame).
    client.socket.send('{"action":"silent"}');
    client.socket.send('{"action":"echo"}');
    expect(await client.next()).toEqual({ type: 'echo', body: '{"action":"echo"}' });
    expect(ofRoute('silent', client.connectionId)).toHaveLength(1);
    client.socket.close();
  });

  it('answers a failed handler with API Gateway\'s Internal server error frame', async () => {
    const client = await connect();
    client.socket.send('{"action":"boom"}');
    const answer = await client.next();
    expect(answer).toEqual({ message: 'Internal server error', connectionId: client.connectionId, requestId: ofRoute('boom')[0]!.requestContext.requestId });
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
    client.socket.close();
  });

  it('closes with 1009 on a frame over 32 KB', async () => {
    const client = await connect();
    client.socket.send(JSON.stringify({ action: 'echo', pad: 'x'.repeat(MAX_FRAME_BYTES) }));
    expect((await client.closed).code).toBe(1009);
    await until(() => ofRoute('$disconnect', client.connectionId).length === 1);
    expect(ofRoute('echo')).toHaveLength(0);
  });
});

describe('$disconnect', () => {
  it('runs once when the client closes, with its code and reason', async () => {
    const client = await connect();
    client.socket.close(1000, 'bye');
    await client.closed;
    await until(() => ofRoute('$disconnect', client.connectionId).length > 0);
    await new Promise((r) => setTimeout(r, 30));
    const disconnects = ofRoute('$disconnect', client.connectionId);
    expect(disconnects).toHaveLength(1);
    expect(disconnects[0]!.requestContext).toMatchObject({
      eventType: 'DISCONNECT',
      disconnectStatusCode: 1000,
      disconnectReason: 'bye',
      authorizer: { orgId: 'org_ws' },
    });
    expect(gateway.connections()).not.toContain(client.connectionId);
  });

  it('runs once when the connection drops (dropConnection, dropAll)', async () => {
    const client = await connect();
    expect(await gateway.dropConnection(client.connectionId)).toBe(true);
    expect(ofRoute('$disconnect', client.connectionId)).toHaveLength(1);
    expect(ofRoute('$disconnect', client.connectionId)[0]!.requestContext.disconnectStatusCode).toBe(1006);
    expect((await client.closed).code).toBe(1006);
    expect(await gateway.dropConnection(client.connectionId)).toBe(false);

    const [a, b] = await Promise.all([connect(), connect()]);
    await gateway.dropAll();
    for (const dropped of [client, a!, b!]) expect(ofRoute('$disconnect', dropped.connectionId)).toHaveLength(1);
    expect(a!.connectionId).not.toBe(b!.connectionId);
    expect(gateway.connections()).toEqual([]);
  });

  it('closes idle connections and old ones with 1001 Going away', async () => {
    const short = await start({ idleTimeoutMs: 150, maxConnectionMs: 400 });
    try {
      const idle = await connect(undefined, short.url);
      const busy = await connect(undefined, short.url);
      const keepBusy = setInterval(() => busy.socket.send('{"action":"silent"}'), 50);
      try {
        expect(await idle.closed).toEqual({ code: 1001, reason: 'Going away' });
        expect(busy.socket.readyState).toBe(WebSocket.OPEN);
        expect(await busy.closed).toEqual({ code: 1001, reason: 'Going away' });
      } finally {
        clearInterval(keepBusy);
      }
      const connectedAt = ofRoute('$connect', busy.connectionId)[0]!.requestContext.connectedAt;
      await until(() => ofRoute('$disconnect', busy.connectionId).length === 1);
      const busyDisconnect = ofRoute('$disconnect', busy.connectionId)[0]!;
      expect(busyDisconnect.requestContext.requestTimeEpoch - connectedAt).toBeGreaterThanOrEqual(390);
      await until(() => ofRoute('$disconnect', idle.connectionId).length === 1);
      expect(ofRoute('$disconnect', idle.connectionId)[0]!.requestContext).toMatchObject({ disconnectStatusCode: 1001, disconnectReason: 'Going away' });
    } finally {
      await short.stop();
    }
  });

  it('runs for every connection when the gateway stops, before stop() resolves', async () => {
    const other = await start();
    const client = await connect(undefined, other.url);
    await other.stop();
    expect(ofRoute('$disconnect', client.connectionId)).toHaveLength(1);
    expect((await client.closed).code).toBe(1001);
  });
});

describe('@connections', () => {
  it('posts, gets and deletes through the management API client, at the root and under the stage', async () => {
    const client = await connect();
    for (const endpoint of [gateway.managementUrl, `${gateway.managementUrl}/v1`]) {
      await management(endpoint).send(new PostToConnectionCommand({ ConnectionId: client.connectionId, Data: JSON.stringify({ type: 'events', endpoint }) }));
      expect(await client.next()).toEqual({ type: 'events', endpoint });
    }
    const before = Date.now();
    client.socket.send('{"action":"echo"}');
    await client.next();
    const got = await management().send(new GetConnectionCommand({ ConnectionId: client.connectionId }));
    expect(got.ConnectedAt).toBeInstanceOf(Date);
    expect(got.LastActiveAt!.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(got.LastActiveAt!.getTime()).toBeGreaterThanOrEqual(got.ConnectedAt!.getTime());
    expect(got.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: '' });

    const deleted = await management().send(new DeleteConnectionCommand({ ConnectionId: client.connectionId }));
    expect(deleted.$metadata.httpStatusCode).toBe(204);
    expect((await client.closed).code).toBe(1000);
    await until(() => ofRoute('$disconnect', client.connectionId).length === 1);
    expect(ofRoute('$disconnect', client.connectionId)[0]!.requestContext.disconnectStatusCode).toBe(1000);
  });

  it('answers GoneException for a connection that does not exist, PayloadTooLargeException past 128 KB', async () => {
    for (const command of [
      new PostToConnectionCommand({ ConnectionId: 'Nope0000000000A=', Data: 'x' }),
      new GetConnectionCommand({ ConnectionId: 'Nope0000000000A=' }),
      new DeleteConnectionCommand({ ConnectionId: 'Nope0000000000A=' }),
    ]) {
      const error = await management()
        .send(command as PostToConnectionCommand)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GoneException);
      expect((error as GoneException).$metadata.httpStatusCode).toBe(410);
    }
    const client = await connect();
    const error = await management()
      .send(new PostToConnectionCommand({ ConnectionId: client.connectionId, Data: 'x'.repeat(MAX_POST_BYTES + 1) }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadTooLargeException);
    await management().send(new PostToConnectionCommand({ ConnectionId: client.connectionId, Data: 'x'.repeat(MAX_POST_BYTES) }));
    client.socket.close();
  });

  it('forgets a connection without closing it or running $disconnect: 410 from then on', async () => {
    const client = await connect();
    expect(gateway.forget(client.connectionId)).toBe(true);
    expect(gateway.connections()).not.toContain(client.connectionId);
    const error = await management()
      .send(new PostToConnectionCommand({ ConnectionId: client.connectionId, Data: '{}' }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GoneException);
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
    client.socket.close();
    await client.closed;
    await new Promise((r) => setTimeout(r, 50));
    expect(ofRoute('$disconnect', client.connectionId)).toHaveLength(0);
    expect(gateway.forget(client.connectionId)).toBe(false);
  });
});
