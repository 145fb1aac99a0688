import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DATABASE_NAME } from './database-names';
import { LAMBDA_CA_BUNDLE } from './database';
import { type CapabilityModule, required } from './capability';

/**
 * The PostgreSQL instance itself, with the master secret: the deploy-time migrations. In the application subnets,
 * in the group the instance (and the Secrets Manager endpoint) lets in; both secrets are read through the Parameters
 * and Secrets extension without caching, so a rotated master password is seen at once.
 */
export const databaseAdmin: CapabilityModule = {
  summary: 'The PostgreSQL instance itself, with the master and application secrets (deploy-time migrations; in the VPC)',
  network: 'vpc',
  aws(platform) {
    const db = required(platform.database, 'database-admin', 'the database construct');
    return {
      placement: { vpc: db.vpc, vpcSubnets: db.clientSubnets, securityGroups: [db.adminClients] },
      paramsAndSecrets: lambda.ParamsAndSecretsLayerVersion.fromVersion(lambda.ParamsAndSecretsVersions.V1_0_103, {
        cacheEnabled: false,
        secretsManagerTimeout: Duration.seconds(10),
      }),
      environment: {
        DB_HOST: db.instanceEndpointAddress,
        DB_PORT: db.instanceEndpointPort,
        DB_NAME: DATABASE_NAME,
        DB_MASTER_SECRET_ARN: db.masterSecret.secretArn,
        DB_APP_SECRET_ARN: db.appSecret.secretArn,
        NODE_EXTRA_CA_CERTS: LAMBDA_CA_BUNDLE,
      },
      grant(fn) {
        db.masterSecret.grantRead(fn);
        db.appSecret.grantRead(fn);
      },
    };
  },
  // Locally the migrations run at start, as the database's owner (lib/local/database.ts).
  local: ({ database }) => ({ DATABASE_URL: database.url }),
};
