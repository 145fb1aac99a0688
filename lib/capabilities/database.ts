import { DATABASE_NAME, DATABASE_PORT, DATABASE_USERS } from './database-names';
import { type CapabilityModule, required } from './capability';

/** The Lambda Node.js runtime's CA bundle; it holds the RDS certificate authorities (Node 20+ no longer loads it by default). */
export const LAMBDA_CA_BUNDLE = '/var/runtime/ca-cert.pem';

/**
 * PostgreSQL through RDS Proxy: in the application subnets, in the group the proxy lets in, connecting as
 * `taskflow_app` with IAM authentication (a token per new connection) over verified TLS.
 */
export const database: CapabilityModule = {
  summary: 'PostgreSQL through RDS Proxy, as taskflow_app with IAM authentication (in the VPC)',
  network: 'vpc',
  settings: ['DB_POOL_MAX', 'DB_CONNECT_TIMEOUT_MS', 'DB_QUERY_TIMEOUT_MS'],
  aws(platform) {
    const db = required(platform.database, 'database', 'the database construct');
    return {
      placement: { vpc: db.vpc, vpcSubnets: db.clientSubnets, securityGroups: [db.proxyClients] },
      environment: {
        DB_HOST: db.proxyEndpoint,
        DB_PORT: String(DATABASE_PORT),
        DB_NAME: DATABASE_NAME,
        DB_USER: DATABASE_USERS.app,
        NODE_EXTRA_CA_CERTS: LAMBDA_CA_BUNDLE,
      },
      grant: (fn) => db.grantProxyConnect(fn, DATABASE_USERS.app),
    };
  },
  // One process stands in for many Lambda environments, so it may hold a few connections.
  local: ({ database }) => ({ DATABASE_URL: database.url, DB_POOL_MAX: '4' }),
};
