import { createServer, type Server } from 'node:http';
import type { Context } from 'aws-lambda';
import type { IntegrationName } from '../../functions/integrations/services';
import { taskflow } from '../app';
import type { LocalServices } from '../capabilities/capability';
import {
  DEFAULT_TIMEOUT_SECONDS,
  type FunctionDeclaration,
  functionId,
  outboxRoutes,
  queueIntegrations,
  type RouteDeclaration,
  webSocketFunctionId,
  type WebSocketRouteDeclaration,
} from '../declaration';
import { openApiDocument } from '../openapi';
import type { SloStatus } from '../slo/report';
import { startDatabase, type LocalDatabase } from './database';
import { LOCAL_CALL_TIMEOUT_MS, startDynamoDb, type LocalDynamoDb } from './dynamodb';
import { forgetEndpoints, recordEndpoints } from './endpoints';
import { keepFunctionLogs } from './function-logs';
import { startEventSources } from './event-sources';
import { localHandler } from './functions';
import { type InvokableFunction, lambdaInvokeEndpoint } from './lambda-invoke';
import { feedProbeClient, LOCAL_AUDIENCE, LOCAL_ISSUER, localIssuer, tokenEndpoint, type LocalIssuer } from './issuer';
import { restGateway, type ProxyHandler, type TokenAuthorizer } from './rest-gateway';
import { startS3, type LocalS3 } from './s3';
import { startServiceGate, type ServiceGate } from './service-gate';
import { SANDBOX_CREDENTIALS, startSandboxes, type Sandboxes } from './sandboxes';
import { scheduleRunEndpoint, startSchedules } from './schedules';
import { countSlis, sloEndpoint } from './slis';
import { startSqs, type LocalSqs } from './sqs';
import { startWebSocketGateway, type RequestAuthorizer, type WebSocketGateway, type WebSocketRouteHandler } from './ws-gateway';

export interface LocalRuntimeOptions {
  /** 0 picks a free port. */
  port: number;
  dataDir: string;
  /** A real PostgreSQL server instead of the embedded PGlite. */
  databaseUrl?: string;
  /** The local SQS's port; default 0, a free one (`npm start`: SQS_PORT, default 9324). */
  sqsPort?: number;
  /** The local S3's port; default 0, a free one (`npm start`: S3_PORT, default 4569). */
  s3Port?: number;
  /** The Slack/SendGrid sandbox server's port; default 0, a free one (`npm start`: SANDBOX_PORT, default 3002). */
  sandboxPort?: number;
  /** The WebSocket API's port (the activity feed and its `@connections` API); default 0, a free one (`npm start`: WS_PORT, default 3001). */
  wsPort?: number;
  /**
   * Run the schedules on their rates, first at start (default true), or only those named. Tests turn this off
   * (or name the ones they rely on) and call runSchedule.
   */
  schedules?: boolean | readonly (keyof typeof taskflow.schedules)[];
  /** Overrides the queues' visibility timeout, so tests need not wait minutes for a redelivery. */
  visibilityTimeoutSeconds?: number;
  /**
   * Multiplies every rate limit and the hourly request quota (RATE_LIMIT_SCALE; default: the variable's
   * value, else 1). Only for load tests, which make more requests a minute than one user or organization
   * may; never set in AWS.
   */
  rateLimitScale?: number;
  /**
   * The @connections endpoint the functions post to and close connections on (WEBSOCKET_MANAGEMENT_URL), instead of
   * the WebSocket API's own: the feed benchmark's endpoint that stands in for 10,000 clients (bin/bench-feed.ts).
   */
  managementUrl?: string;
  log?: (line: string) => void;
}

export interface LocalRuntime {
  url: string;
  databaseUrl: string;
  embeddedDatabase: boolean;
  appliedMigrations: string[];
  issuer: LocalIssuer;
  sqs: LocalSqs;
  /** Where the functions' log lines are kept, as CloudWatch Logs would (`<dataDir>/logs/functions.jsonl`; `npm run trace` reads it). */
  logFile: string;
  /** The files bucket (s3rver, kept under `<dataDir>/s3`), behind SigV4 and POST-policy checks. */
  s3: LocalS3;
  sandboxes: Sandboxes;
  /** ws://localhost:<port>: the activity feed (`?token=JWT&clientId=…`). */
  websocketUrl: string;
  /** The WebSocket API: its connections, and faults (dropConnection, dropAll, forget). */
  websocket: WebSocketGateway;
  /** What the capabilities give functions here (lib/capabilities/): the addresses of the local services. */
  services: LocalServices;
  /**
   * The third-party credentials the functions are given, as the secrets hold them in AWS (the sandboxes' own to start
   * with). Replacing one plays an operator storing a wrong key: the functions use it from their next invocation.
   */
  credentials: Record<IntegrationName, string>;
  /** Each SLO's compliance and error budget left, counted from what this runtime served (what `GET /_local/slo` answers). */
  slos(): SloStatus[];
  /** Runs a schedule's function now; resolves when that run ends. Rejects with UnknownSchedule for an undeclared name. */
  runSchedule(name: string): Promise<void>;
  /**
   * Fault injection (GameDays, tests): the database and the DynamoDB emulator are reached through a gate each
   * (lib/local/service-gate.ts) that can take them away (`down()`: connections reset) and bring them back (`restore()`).
   */
  outages: { database: ServiceGate; dynamodb: ServiceGate };
  /**
   * A deploy in the middle of traffic: the API stops taking connections (those it has are given a few seconds to
   * finish, then cut), the queues' consumers and the schedules stop after the invocations under way, every function's
   * environment goes (its database pool, its handler), and all starts again on the same port with new ones (cold
   * starts). The managed services (database, DynamoDB, SQS, S3, the WebSocket API) stay up, as in AWS.
   */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * TaskFlow on this machine, from the same declaration and handler code that deploys: PostgreSQL
 * (embedded or real), DynamoDB (dynalite), SQS (local-aws-sqs) with the queues' event-source mappings,
 * S3 (s3rver, SigV4 and POST policies checked), the schedules, the Slack and SendGrid sandboxes, the local
 * token issuer, the REST API emulation and the WebSocket API emulation (with its `@connections` API).
 */
export async function startLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const started: { stop(): Promise<void> }[] = [];
  // Whatever has started is stopped again, last first, if a later part fails (e.g. EADDRINUSE).
  const stopStarted = async () => {
    for (const part of started.reverse()) await part.stop().catch(() => undefined);
  };
  let database: LocalDatabase, dynamo: LocalDynamoDb, sqs: LocalSqs, s3: LocalS3, sandboxes: Sandboxes, issuer: LocalIssuer;
  let credentials: Record<IntegrationName, string>;
  let websocket: WebSocketGateway;
  let databaseGate: ServiceGate, dynamoGate: ServiceGate;
  // Known once every service has started; no function is invoked before.
  let services: LocalServices | undefined;
  const handlers = new Map<string, unknown>();
  const handlerOf = <H extends (event: never, context: Context) => Promise<unknown>>(name: string, declaration: FunctionDeclaration): H => {
    if (!services) throw new Error(`${name} invoked before the local runtime started`);
    if (!handlers.has(name)) handlers.set(name, localHandler(name, declaration, services));
    return handlers.get(name) as H;
  };
  // The one authorizer function, for both APIs (a TOKEN event from REST, a REQUEST event at $connect).
  const authorizer = (event: never, context: Context) => handlerOf('Authorizer', taskflow.functions.authorizer)(event, context);
  const server = createServer();
  let logs: { file: string; stop(): Promise<void> };
  try {
    logs = await keepFunctionLogs(options.dataDir);
    started.push(logs);
    database = await startDatabase({ dataDir: options.dataDir, ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}) });
    started.push(database);
    dynamo = await startDynamoDb(taskflow.tables, options.dataDir);
    started.push(dynamo);
    databaseGate = await startServiceGate(hostAndPort(database.url));
    started.push({ stop: () => databaseGate.close() });
    dynamoGate = await startServiceGate(hostAndPort(dynamo.endpoint));
    started.push({ stop: () => dynamoGate.close() });
    sqs = await startSqs(taskflow, {
      port: options.sqsPort ?? 0,
      ...(options.visibilityTimeoutSeconds !== undefined ? { visibilityTimeoutSeconds: options.visibilityTimeoutSeconds } : {}),
    });
    started.push(sqs);
    s3 = await startS3({ port: options.s3Port ?? 0, dataDir: options.dataDir });
    started.push(s3);
    sandboxes = await startSandboxes({ port: options.sandboxPort ?? 0 });
    started.push(sandboxes);
    credentials = { ...sandboxes.credentials };
    websocket = await startWebSocketGateway({
      routes: taskflow.websocket.routes,
      handlerFor: async (route: WebSocketRouteDeclaration) => handlerOf<WebSocketRouteHandler>(webSocketFunctionId(route), route.function),
      // Invoked at the first handshake, once the services below are known.
      authorizer: (event, context) => (authorizer as RequestAuthorizer)(event, context),
      port: options.wsPort ?? 0,
      ...(options.log ? { log: options.log } : {}),
    });
    started.push(websocket);
    issuer = await localIssuer(options.dataDir);
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(options.port, '127.0.0.1', () => {
        server.off('error', fail);
        done();
      });
    });
    started.push({ stop: () => closeServer(server) });
  } catch (error) {
    await stopStarted();
    throw error;
  }
  const port = (server.address() as { port: number }).port;
  const probeClient = feedProbeClient();
  const url = `http://localhost:${port}`;
  const databaseUrl = throughGate(database.url, databaseGate);

  // What each function's capabilities give it (lib/capabilities/): every invocation sees its own function's
  // variables only, as in Lambda (lib/local/functions.ts).
  services = {
    database: { url: databaseUrl },
    dynamodb: { endpoint: throughGate(dynamo.endpoint, dynamoGate).replace(/\/$/, ''), tableName: dynamo.tableName, callTimeoutMs: LOCAL_CALL_TIMEOUT_MS },
    sqs: { endpoint: sqs.endpoint, queueUrl: sqs.queueUrl, names: Object.keys(taskflow.queues), routes: outboxRoutes(taskflow.queues), integrations: queueIntegrations(taskflow.queues) },
    s3: { endpoint: s3.endpoint, bucket: s3.bucket },
    sandboxes: { urls: sandboxes.urls, credentials, notificationFromEmail: SANDBOX_CREDENTIALS.NOTIFICATION_FROM_EMAIL },
    websocket: { url: `ws://127.0.0.1:${websocket.port}`, managementUrl: options.managementUrl ?? websocket.managementUrl },
    api: { url: `http://127.0.0.1:${port}` },
    lambda: { endpoint: `http://127.0.0.1:${port}` },
    // The address the server listens on, whatever `localhost` resolves to here.
    auth: { issuer: LOCAL_ISSUER, audience: LOCAL_AUDIENCE, jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json` },
    // The probe signs in as a client-credentials application of the local issuer (Auth0 in AWS).
    feedProbeCredentials: JSON.stringify({
      tokenUrl: `http://127.0.0.1:${port}/oauth/token`,
      clientId: probeClient.clientId,
      clientSecret: probeClient.clientSecret,
      audience: LOCAL_AUDIENCE,
    }),
  };
  const scaleBefore = process.env.RATE_LIMIT_SCALE;
  if (options.rateLimitScale !== undefined) process.env.RATE_LIMIT_SCALE = String(options.rateLimitScale);
  const openapi = openApiDocument(taskflow);
  const gateway = restGateway({
    routes: taskflow.routes,
    authorizer: authorizer as TokenAuthorizer,
    handlerFor: async (route: RouteDeclaration) => handlerOf<ProxyHandler>(functionId(route), route.function),
    documents: { '/openapi.json': () => openapi, '/.well-known/jwks.json': () => issuer.jwks },
    ...(options.log ? { log: options.log } : {}),
  });

  // After the REST server: the consumers and the schedules use what the handlers use.
  const startConsumers = () => ({
    eventSources: startEventSources({ app: taskflow, sqs, handlerFor: handlerOf, ...(options.log ? { log: options.log } : {}) }),
    schedules: startSchedules({ app: taskflow, timers: options.schedules ?? true, handlerFor: handlerOf, ...(options.log ? { log: options.log } : {}) }),
  });
  let { eventSources, schedules } = startConsumers();
  // Counting from now: the SLIs of this runtime's own requests, deliveries and outbox (GET /_local/slo).
  const slis = countSlis(taskflow.slos);
  // Lambda's Invoke API for the route functions (the canary's pre-traffic hook invokes them by name).
  const routeFunctions = new Map<string, InvokableFunction>(
    (taskflow.routes as readonly RouteDeclaration[]).map((route) => [
      functionId(route),
      {
        invoke: (event, context) => handlerOf<ProxyHandler>(functionId(route), route.function)(event as never, context),
        timeoutMs: (route.function.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
      },
    ]),
  );
  // The schedules as they are at each request (a restart replaces them).
  const currentSchedules = { names: schedules.names, run: (name: string) => schedules.run(name) };
  const invokeEndpoint = lambdaInvokeEndpoint((name) => routeFunctions.get(name), sloEndpoint(slis, scheduleRunEndpoint(currentSchedules, gateway, options.log)));
  server.on('request', tokenEndpoint(issuer, [probeClient], invokeEndpoint));
  await recordEndpoints(options.dataDir, { api: url, sqs: sqs.endpoint, s3: s3.endpoint, sandboxes: sandboxes.url, websocket: websocket.url });

  return {
    url,
    databaseUrl,
    embeddedDatabase: !options.databaseUrl,
    appliedMigrations: database.applied,
    logFile: logs.file,
    issuer,
    sqs,
    s3,
    sandboxes,
    websocketUrl: websocket.url,
    websocket,
    services,
    credentials,
    runSchedule: (name) => schedules.run(name),
    slos: () => slis.statuses(),
    outages: { database: databaseGate, dynamodb: dynamoGate },
    async restart() {
      await Promise.all([closeServer(server, RESTART_GRACE_MS), schedules.stop(), eventSources.stop()]);
      const { closeDatabase } = await import('../../functions/shared/db');
      await closeDatabase();
      handlers.clear();
      await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
      ({ eventSources, schedules } = startConsumers());
    },
    async stop() {
      await forgetEndpoints(options.dataDir);
      slis.stop();
      // First what invokes handlers on its own, waiting for the invocations under way.
      await Promise.all([schedules.stop(), eventSources.stop()]);
      // Then the WebSocket API: it closes every connection and waits for their $disconnect invocations.
      await websocket.stop();
      await closeServer(server);
      const { closeDatabase } = await import('../../functions/shared/db');
      await closeDatabase();
      await databaseGate.close();
      await database.stop();
      await dynamoGate.close();
      await dynamo.stop();
      await sqs.stop();
      await s3.stop();
      await sandboxes.stop();
      await logs.stop();
      if (options.rateLimitScale !== undefined) {
        if (scaleBefore === undefined) delete process.env.RATE_LIMIT_SCALE;
        else process.env.RATE_LIMIT_SCALE = scaleBefore;
      }
    },
  };
}

/** How long a restart lets the requests under way finish before it cuts their connections. */
const RESTART_GRACE_MS = 5_000;

/** Closes `server`: its connections are cut at once, or after `graceMs` (idle ones at once). */
function closeServer(server: Server, graceMs = 0): Promise<void> {
  return new Promise((done, fail) => {
    const cut = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close((error) => {
      clearTimeout(cut);
      if (error) fail(error);
      else done();
    });
    if (graceMs === 0) server.closeAllConnections();
    else server.closeIdleConnections();
  });
}

function hostAndPort(address: string): { host: string; port: number } {
  const url = new URL(address);
  return { host: url.hostname, port: Number(url.port || (url.protocol === 'http:' ? 80 : 5432)) };
}

/** `address` with the gate's loopback port in place of the service's own. */
function throughGate(address: string, gate: ServiceGate): string {
  const url = new URL(address);
  url.hostname = '127.0.0.1';
  url.port = String(gate.port);
  return url.href;
}
