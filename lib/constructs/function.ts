import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { type ICommandHooks, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { DEFAULT_TIMEOUT_SECONDS, tableNameVariable, type Capability, type FunctionDeclaration } from '../declaration';
import { Database } from './database';
import { SERVICE_NAME } from '../../functions/shared/telemetry';
import { acknowledgeNag } from './nag';

/** The repository root: handler entries in the declaration are relative to it. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The Lambda Node.js runtime's CA bundle; it holds the RDS certificate authorities (Node 20+ no longer loads it by default). */
const LAMBDA_CA_BUNDLE = '/var/runtime/ca-cert.pem';

/** `pg` is CommonJS (and requires Node built-ins): give the ESM bundle a `require`. */
const ESM_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

export interface TaskFlowFunctionProps {
  /** What to run and what it needs (an entry of `lib/app.ts`). */
  readonly declaration: FunctionDeclaration;
  /** Required when the declaration needs `database` or `database-admin`. */
  readonly database?: Database;
  /** Required when the declaration needs `idempotency`. */
  readonly idempotencyTable?: dynamodb.ITable;
  /** Extra environment, on top of the defaults and the capabilities' variables. */
  readonly environment?: Record<string, string>;
  /** Bundling hooks (the migrate function copies its SQL files beside the bundle). */
  readonly commandHooks?: ICommandHooks;
  /** @default one month */
  readonly logRetention?: logs.RetentionDays;
}

interface CapabilityConfig {
  environment: Record<string, string>;
  placement: { vpc?: ec2.IVpc; vpcSubnets?: ec2.SubnetSelection; securityGroups?: ec2.ISecurityGroup[] };
  paramsAndSecrets?: lambda.ParamsAndSecretsLayerVersion;
}

/**
 * A handler from the declaration as a Lambda function with TaskFlow's defaults: Node.js 22 on arm64,
 * an ESM bundle built by the local esbuild (minified, source maps, AWS SDK v3 bundled), its own log group
 * with retention, X-Ray active tracing, Powertools settings; and what its `needs` ask for:
 * - `database`: in the application subnets, may reach RDS Proxy, connects as `taskflow_app` with IAM auth.
 * - `database-admin`: in the application subnets, may reach the instance directly, reads both secrets
 *   through the AWS Parameters and Secrets Lambda Extension (no SDK client in the bundle).
 * - `idempotency`: reads and writes the idempotency table, named in IDEMPOTENCY_TABLE_NAME.
 */
export class TaskFlowFunction extends NodejsFunction {
  readonly declaration: FunctionDeclaration;

  constructor(scope: Construct, id: string, props: TaskFlowFunctionProps) {
    const { declaration } = props;
    const capabilities = TaskFlowFunction.capabilities(declaration.needs, props);
    super(scope, id, {
      entry: path.join(PROJECT_ROOT, declaration.entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      description: declaration.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: declaration.memoryMb ?? 512,
      timeout: Duration.seconds(declaration.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS),
      tracing: lambda.Tracing.ACTIVE,
      logGroup: new logs.LogGroup(scope, `${id}LogGroup`, {
        retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.RETAIN,
      }),
      environment: {
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
        ...capabilities.environment,
        ...props.environment,
      },
      ...capabilities.placement,
      ...(capabilities.paramsAndSecrets ? { paramsAndSecrets: capabilities.paramsAndSecrets } : {}),
      bundling: {
        format: OutputFormat.ESM,
        minify: true,
        sourceMap: true,
        target: 'node22',
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        // Only pg's optional native binding stays out; the AWS SDK v3 is bundled (pinned, tree-shaken).
        externalModules: ['pg-native'],
        forceDockerBundling: false,
        ...(props.commandHooks ? { commandHooks: props.commandHooks } : {}),
      },
    });
    this.declaration = declaration;

    const needs = new Set<Capability>(declaration.needs);
    if (needs.has('database')) props.database!.proxy.grantConnect(this, Database.APP_USER);
    if (needs.has('idempotency')) props.idempotencyTable!.grantReadWriteData(this);
    if (needs.has('database-admin')) {
      props.database!.masterSecret.grantRead(this);
      props.database!.appSecret.grantRead(this);
    }

    acknowledgeNag(
      this,
      {
        id: 'AwsSolutions-IAM4',
        reason:
          'AWSLambdaBasicExecutionRole (write to its own log group) and, for functions in the VPC, ' +
          'AWSLambdaVPCAccessExecutionRole (manage its ENIs) are the AWS-maintained minimum for a Lambda function.',
        appliesTo: [
          'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
          ...(capabilities.placement.vpc
            ? ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole']
            : []),
        ],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, ' +
          'so CDK grants them on "*".',
        appliesTo: ['Resource::*'],
      },
      {
        id: 'AwsSolutions-L1',
        reason:
          'The runtime is pinned to nodejs22.x by design (DESIGN.md): the bundles target node22, and moving to a newer ' +
          'runtime is a deliberate change made together with the esbuild target and the Node.js version used locally.',
      },
    );
  }

  /** Environment and VPC placement from the declared needs. */
  private static capabilities(needs: readonly Capability[], props: TaskFlowFunctionProps): CapabilityConfig {
    const config: CapabilityConfig = { environment: {}, placement: {} };
    const { database, idempotencyTable } = props;
    if (needs.some((need) => need.startsWith('database')) && !database) {
      throw new Error(`A function that needs ${needs.join(', ')} requires the database construct`);
    }
    if (needs.includes('idempotency') && !idempotencyTable) throw new Error('A function that needs idempotency requires the idempotency table');
    if (needs.includes('database') && needs.includes('database-admin')) {
      throw new Error('A function needs either database (through the proxy) or database-admin (the instance), not both');
    }
    for (const need of needs) {
      switch (need) {
        case 'idempotency':
          config.environment[tableNameVariable('idempotency')] = idempotencyTable!.tableName;
          break;
        case 'database':
          if (!database) break;
          config.placement = { vpc: database.vpc, vpcSubnets: database.clientSubnets, securityGroups: [database.proxyClients] };
          Object.assign(config.environment, {
            DB_HOST: database.proxy.endpoint,
            DB_PORT: String(Database.PORT),
            DB_NAME: Database.DATABASE_NAME,
            DB_USER: Database.APP_USER,
            NODE_EXTRA_CA_CERTS: LAMBDA_CA_BUNDLE,
          });
          break;
        case 'database-admin':
          if (!database) break;
          config.placement = { vpc: database.vpc, vpcSubnets: database.clientSubnets, securityGroups: [database.adminClients] };
          // The handler reads the secrets from the extension's localhost endpoint; no caching, so a
          // rotated master password is seen at once.
          config.paramsAndSecrets = lambda.ParamsAndSecretsLayerVersion.fromVersion(lambda.ParamsAndSecretsVersions.V1_0_103, {
            cacheEnabled: false,
            secretsManagerTimeout: Duration.seconds(10),
          });
          Object.assign(config.environment, {
            DB_HOST: database.instance.dbInstanceEndpointAddress,
            DB_PORT: database.instance.dbInstanceEndpointPort,
            DB_NAME: Database.DATABASE_NAME,
            DB_MASTER_SECRET_ARN: database.masterSecret.secretArn,
            DB_APP_SECRET_ARN: database.appSecret.secretArn,
            NODE_EXTRA_CA_CERTS: LAMBDA_CA_BUNDLE,
          });
          break;
        default: {
          const unknown: never = need;
          throw new Error(`Unknown capability ${String(unknown)}`);
        }
      }
    }
    return config;
  }
}
