import { createServer, type Server } from 'node:http';
import { taskflow } from '../app';
import type { RouteDeclaration, WebSocketRouteDeclaration } from '../declaration';
import { openApiDocument } from '../openapi';
import { startDatabase, type LocalDatabase } from './database';
import { startDynamoDb, type LocalDynamoDb } from './dynamodb';
import { startEventSources } from './event-sources';
import { loadHandler } from './invoke';
import { feedProbeClient, LOCAL_AUDIENCE, LOCAL_ISSUER, localIssuer, tokenEndpoint, type LocalIssuer } from './issuer';
import { restGateway, type ProxyHandler, type TokenAuthorizer } from './rest-gateway';
import { startS3, type LocalS3 } from './s3';
import { startSandboxes, type Sandboxes } from './sandboxes';
import { scheduleRunEndpoint, startSchedules } from './schedules';
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
  log?: (line: string) => void;
}

export interface LocalRuntime {
  url: string;
  databaseUrl: string;
  embeddedDatabase: boolean;
  appliedMigrations: string[];
  issuer: LocalIssuer;
  sqs: LocalSqs;
  /** The files bucket (s3rver, kept under `<dataDir>/s3`), behind SigV4 and POST-policy checks. */
  s3: LocalS3;
  sandboxes: Sandboxes;
  /** ws://localhost:<port>: the activity feed (`?token=JWT&clientId=…`). */
  websocketUrl: string;
  /** The WebSocket API: its connections, and faults (dropConnection, dropAll, forget). */
  websocket: WebSocketGateway;
  /** Runs a schedule's function now; resolves when that run ends. Rejects with UnknownSchedule for an undeclared name. */
  runSchedule(name: string): Promise<void>;
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
  let websocket: WebSocketGateway;
  const server = createServer();
  try {
    database = await startDatabase({ dataDir: options.dataDir, ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}) });
    started.push(database);
    dynamo = await startDynamoDb(taskflow.tables, options.dataDir);
    started.push(dynamo);
    sqs = await startSqs(taskflow, {
      port: options.sqsPort ?? 0,
      ...(options.visibilityTimeoutSeconds !== undefined ? { visibilityTimeoutSeconds: options.visibilityTimeoutSeconds } : {}),
    });
    started.push(sqs);
    s3 = await startS3({ port: options.s3Port ?? 0, dataDir: options.dataDir });
    started.push(s3);
    sandboxes = await startSandboxes({ port: options.sandboxPort ?? 0 });
    started.push(sandboxes);
    websocket = await startWebSocketGateway({
      routes: taskflow.websocket.routes,
      handlerFor: (route: WebSocketRouteDeclaration) => loadHandler<WebSocketRouteHandler>(route.function.entry),
      // Loaded at the first handshake, once the environment below is set (the authorizer reads it as it loads).
      authorizer: async (event, context) => (await loadHandler<RequestAuthorizer>(taskflow.functions.authorizer.entry))(event, context),
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

  // The handlers read their configuration from the environment, as in Lambda.
  Object.assign(process.env, {
    ...dynamo.environment,
    ...sqs.environment,
    // AWS_ENDPOINT_URL_S3 and FILES_BUCKET_NAME.
    ...s3.environment,
    // SLACK_API_URL, SENDGRID_API_URL and the credentials the sandboxes accept.
    ...sandboxes.environment,
    DATABASE_URL: database.url,
    // One process stands in for many Lambda environments, so it may hold a few connections.
    DB_POOL_MAX: process.env.DB_POOL_MAX ?? '4',
    AUTH_ISSUER: LOCAL_ISSUER,
    AUTH_AUDIENCE: LOCAL_AUDIENCE,
    // The address the server listens on, whatever `localhost` resolves to here.
    AUTH_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    // Where the broadcast worker posts to connections (the @connections API).
    WEBSOCKET_MANAGEMENT_URL: websocket.managementUrl,
    // The public URLs, for the feed probe.
    WEBSOCKET_URL: `ws://127.0.0.1:${websocket.port}`,
    API_URL: `http://127.0.0.1:${port}`,
    // The probe signs in as a client-credentials application of the local issuer (Auth0 in AWS).
    FEED_PROBE_CREDENTIALS: JSON.stringify({
      tokenUrl: `http://127.0.0.1:${port}/oauth/token`,
      clientId: probeClient.clientId,
      clientSecret: probeClient.clientSecret,
      audience: LOCAL_AUDIENCE,
    }),
  });
  const scaleBefore = process.env.RATE_LIMIT_SCALE;
  if (options.rateLimitScale !== undefined) process.env.RATE_LIMIT_SCALE = String(options.rateLimitScale);
  const authorizer = await loadHandler<TokenAuthorizer>(taskflow.functions.authorizer.entry).catch(async (error: unknown) => {
    await stopStarted();
    throw error;
  });
  const openapi = openApiDocument(taskflow);
  const gateway = restGateway({
    routes: taskflow.routes,
    authorizer,
    handlerFor: (route: RouteDeclaration) => loadHandler<ProxyHandler>(route.function.entry),
    documents: { '/openapi.json': () => openapi, '/.well-known/jwks.json': () => issuer.jwks },
    ...(options.log ? { log: options.log } : {}),
  });

  // After the REST server: the consumers and the schedules use what the handlers use.
  const eventSources = startEventSources({ app: taskflow, sqs, ...(options.log ? { log: options.log } : {}) });
  const schedules = startSchedules({ app: taskflow, timers: options.schedules ?? true, ...(options.log ? { log: options.log } : {}) });
  server.on('request', tokenEndpoint(issuer, [probeClient], scheduleRunEndpoint(schedules, gateway, options.log)));

  return {
    url,
    databaseUrl: database.url,
    embeddedDatabase: !options.databaseUrl,
    appliedMigrations: database.applied,
    issuer,
    sqs,
    s3,
    sandboxes,
    websocketUrl: websocket.url,
    websocket,
    runSchedule: (name) => schedules.run(name),
    async stop() {
      // First what invokes handlers on its own, waiting for the invocations under way.
      await Promise.all([schedules.stop(), eventSources.stop()]);
      // Then the WebSocket API: it closes every connection and waits for their $disconnect invocations.
      await websocket.stop();
      await closeServer(server);
      const { closeDatabase } = await import('../../functions/shared/db');
      await closeDatabase();
      await database.stop();
      await dynamo.stop();
      await sqs.stop();
      await s3.stop();
      await sandboxes.stop();
      if (options.rateLimitScale !== undefined) {
        if (scaleBefore === undefined) delete process.env.RATE_LIMIT_SCALE;
        else process.env.RATE_LIMIT_SCALE = scaleBefore;
      }
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((done, fail) => {
    server.close((error) => (error ? fail(error) : done()));
    server.closeAllConnections();
  });
}
