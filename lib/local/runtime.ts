import { createServer, type Server } from 'node:http';
import { taskflow } from '../app';
import type { RouteDeclaration } from '../declaration';
import { openApiDocument } from '../openapi';
import { startDatabase } from './database';
import { startDynamoDb } from './dynamodb';
import { loadHandler } from './invoke';
import { LOCAL_AUDIENCE, LOCAL_ISSUER, localIssuer, type LocalIssuer } from './issuer';
import { restGateway, type ProxyHandler, type TokenAuthorizer } from './rest-gateway';

export interface LocalRuntimeOptions {
  /** 0 picks a free port. */
  port: number;
  dataDir: string;
  /** A real PostgreSQL server instead of the embedded PGlite. */
  databaseUrl?: string;
  log?: (line: string) => void;
}

export interface LocalRuntime {
  url: string;
  databaseUrl: string;
  embeddedDatabase: boolean;
  appliedMigrations: string[];
  issuer: LocalIssuer;
  stop(): Promise<void>;
}


/**
 * TaskFlow on this machine, from the same declaration and handler code that deploys: PostgreSQL
 * (embedded or real), the local token issuer and the REST API emulation.
 */
export async function startLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const database = await startDatabase({ dataDir: options.dataDir, ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}) });
  const dynamo = await startDynamoDb(taskflow.tables, options.dataDir);
  const issuer = await localIssuer(options.dataDir);
  const server = createServer();
  try {
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(options.port, '127.0.0.1', done);
    });
  } catch (error) {
    // e.g. EADDRINUSE: leave nothing half-started behind
    await dynamo.stop();
    await database.stop();
    throw error;
  }
  const port = (server.address() as { port: number }).port;
  const url = `http://localhost:${port}`;

  // The handlers read their configuration from the environment, as in Lambda.
  Object.assign(process.env, {
    ...dynamo.environment,
    DATABASE_URL: database.url,
    // One process stands in for many Lambda environments, so it may hold a few connections.
    DB_POOL_MAX: process.env.DB_POOL_MAX ?? '4',
    AUTH_ISSUER: LOCAL_ISSUER,
    AUTH_AUDIENCE: LOCAL_AUDIENCE,
    // The address the server listens on, whatever `localhost` resolves to here.
    AUTH_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
  });
  const authorizer = await loadHandler<TokenAuthorizer>(taskflow.functions.authorizer.entry);
  const openapi = openApiDocument(taskflow);
  server.on(
    'request',
    restGateway({
      routes: taskflow.routes,
      authorizer,
      handlerFor: (route: RouteDeclaration) => loadHandler<ProxyHandler>(route.function.entry),
      documents: { '/openapi.json': () => openapi, '/.well-known/jwks.json': () => issuer.jwks },
      ...(options.log ? { log: options.log } : {}),
    }),
  );

  return {
    url,
    databaseUrl: database.url,
    embeddedDatabase: !options.databaseUrl,
    appliedMigrations: database.applied,
    issuer,
    async stop() {
      await closeServer(server);
      const { closeDatabase } = await import('../../functions/shared/db');
      await closeDatabase();
      await database.stop();
      await dynamo.stop();
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((done, fail) => {
    server.close((error) => (error ? fail(error) : done()));
    server.closeAllConnections();
  });
}
