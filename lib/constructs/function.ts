import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { type ICommandHooks, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { DEFAULT_TIMEOUT_SECONDS, type Capability, type FunctionDeclaration } from '../declaration';
import { queueUrlVariable, tableNameVariable } from '../../functions/shared/resource-variables';
import { Database } from './database';
import { INTEGRATION_URLS, SERVICE_NAME } from '../../functions/shared/telemetry';
import { acknowledgeNag } from './nag';

/** The repository root: handler entries in the declaration are relative to it. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The Lambda Node.js runtime's CA bundle; it holds the RDS certificate authorities (Node 20+ no longer loads it by default). */
const LAMBDA_CA_BUNDLE = '/var/runtime/ca-cert.pem';

/** `pg` is CommonJS (and requires Node built-ins): give the ESM bundle a `require`. */
const ESM_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/** The queues a function with a `sendsTo` may send to (the Queues construct provides them). */
export interface OutboxQueues {
  /** The declared queues by name (not their dead-letter queues). */
  readonly queues: Readonly<Record<string, sqs.IQueue>>;
  /** Event type → names of the queues it goes to: OUTBOX_ROUTES. */
  readonly routes: Readonly<Record<string, readonly string[]>>;
  /** The SQS interface endpoint: functions in the VPC (which has no NAT) reach SQS through it. */
  readonly endpoint: ec2.IConnectable;
  /** Their dead-letter queues by the same names (for `queue-status`). */
  readonly deadLetterQueues?: Readonly<Record<string, sqs.IQueue>>;
  /** Queue name → the integration its consumer calls (for `queue-status`). */
  readonly integrations?: Readonly<Record<string, string>>;
}

/** The third-party credentials and settings the `slack`, `sendgrid` and `feed-probe` capabilities hand out. */
export interface IntegrationSettings {
  /** The Slack bot token (xoxb-…), the secret's whole SecretString. */
  readonly slackBotToken: secretsmanager.ISecret;
  /** The SendGrid API key, the secret's whole SecretString. */
  readonly sendgridApiKey: secretsmanager.ISecret;
  /** The From address of notification e-mails (a verified SendGrid sender). */
  readonly notificationFromEmail: string;
  /** The feed probe's OAuth client credentials, JSON `{"tokenUrl","clientId","clientSecret","audience"}`. */
  readonly feedProbeCredentials: secretsmanager.ISecret;
  /** The GitHub token, the secret's whole SecretString. */
  readonly githubToken: secretsmanager.ISecret;
  /** A Google service account's JSON key. */
  readonly googleCalendarCredentials: secretsmanager.ISecret;
}

/** The WebSocket API's stage, for the `websocket` and `feed-probe` capabilities (the WebSocketApi construct provides it). */
export interface WebSocketSettings {
  /** `wss://{apiId}.execute-api.{region}.amazonaws.com/{stage}`: where clients connect. */
  readonly url: string;
  /** `https://{apiId}.execute-api.{region}.amazonaws.com/{stage}`: the @connections management API. */
  readonly managementUrl: string;
  /** execute-api ARNs of the stage's `@connections/*` (POST, GET and DELETE): what posting to and closing connections needs. */
  readonly manageConnectionsArns: readonly string[];
}

/**
 * The Parameters and Secrets extension for third-party credentials, caching each for 5 minutes: a warm
 * function does not call Secrets Manager per message, and the extension sees a replaced value within 5 minutes.
 */
const INTEGRATION_SECRETS_EXTENSION = lambda.ParamsAndSecretsLayerVersion.fromVersion(lambda.ParamsAndSecretsVersions.V1_0_103, {
  cacheEnabled: true,
  secretsManagerTtl: Duration.seconds(300),
  secretsManagerTimeout: Duration.seconds(5),
});

/** The third-party services a capability calls: the variable of its base URL, and its credential's secret. */
type ThirdParty = 'slack' | 'sendgrid' | 'github' | 'google-calendar';
const THIRD_PARTY: Record<ThirdParty, { urlVariable: keyof typeof INTEGRATION_URLS; secretVariable: string; secret: 'slackBotToken' | 'sendgridApiKey' | 'githubToken' | 'googleCalendarCredentials' }> = {
  slack: { urlVariable: 'SLACK_API_URL', secretVariable: 'SLACK_BOT_TOKEN', secret: 'slackBotToken' },
  sendgrid: { urlVariable: 'SENDGRID_API_URL', secretVariable: 'SENDGRID_API_KEY', secret: 'sendgridApiKey' },
  github: { urlVariable: 'GITHUB_API_URL', secretVariable: 'GITHUB_TOKEN', secret: 'githubToken' },
  'google-calendar': { urlVariable: 'GOOGLE_CALENDAR_API_URL', secretVariable: 'GOOGLE_CALENDAR_CREDENTIALS', secret: 'googleCalendarCredentials' },
};
/** Whether a function calls a third-party service (and so records its breaker's outcomes). */
const callsThirdParty = (needs: ReadonlySet<Capability>) => [...needs].some((need) => Object.hasOwn(THIRD_PARTY, need));

export interface TaskFlowFunctionProps {
  /** What to run and what it needs (an entry of `lib/app.ts`). */
  readonly declaration: FunctionDeclaration;
  /** Required when the declaration needs `database` or `database-admin`. */
  readonly database?: Database;
  /** Required when the declaration needs `idempotency`. */
  readonly idempotencyTable?: dynamodb.ITable;
  /** Required when the declaration needs `rate-limits`. */
  readonly rateLimitTable?: dynamodb.ITable;
  /** Required when the declaration needs `files`. */
  readonly filesBucket?: s3.IBucket;
  /** Required when the declaration has a non-empty `sendsTo`; it must declare each queue named there. */
  readonly queues?: OutboxQueues;
  /** Required when the declaration needs `slack`, `sendgrid` or `feed-probe`. */
  readonly integrations?: IntegrationSettings;
  /** Required when the declaration needs `connections`. */
  readonly connectionsTable?: dynamodb.ITable;
  /** Required when the declaration needs `integrations`. */
  readonly integrationsTable?: dynamodb.ITable;
  /** Required when the declaration needs `websocket` or `feed-probe`. */
  readonly webSocket?: WebSocketSettings;
  /** The REST API's base URL; required when the declaration needs `feed-probe`. */
  readonly apiUrl?: string;
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
 * - `rate-limits`: may get and update items (nothing else) of the rate-limit table, named in RATELIMITS_TABLE_NAME.
 * - `slack` / `sendgrid` / `github` / `google-calendar`: the API base URL and the ARN of the secret holding the
 *   token / API key / service account key, read through the Parameters and Secrets extension (cached 5 minutes);
 *   out of the VPC, which has no internet route, so never together with `database` or `database-admin`.
 * - `reports` / `reports-writer`: FILES_BUCKET_NAME, reads (and writes) under `reports/` only.
 * - `read-replica`: with `database`; DB_READ_HOST and IAM connect to the read replica when the stack has one.
 * - `connections`: reads and writes the connections table, named in CONNECTIONS_TABLE_NAME.
 * - `websocket`: the stage's management endpoint (WEBSOCKET_MANAGEMENT_URL) and execute-api:ManageConnections on
 *   its `@connections/*` only; out of the VPC (no VPC endpoint serves @connections), so never with the database.
 * - `feed-probe`: the public WebSocket and REST URLs (WEBSOCKET_URL, API_URL) and the ARN of its OAuth client
 *   credentials (FEED_PROBE_CREDENTIALS_SECRET_ARN, read through the extension); out of the VPC like a browser.
 *
 * And for its `sendsTo`, the queues it publishes to and only those: `<NAME>_QUEUE_URL` and sqs:SendMessage for
 * each, OUTBOX_ROUTES (which event goes where), and, in the VPC, a way into the SQS interface endpoint. Least
 * privilege: an API function may not send to the Slack or e-mail queues, whose workers send what they are given.
 */
export class TaskFlowFunction extends NodejsFunction {
  readonly declaration: FunctionDeclaration;

  constructor(scope: Construct, id: string, props: TaskFlowFunctionProps) {
    const { declaration } = props;
    const capabilities = TaskFlowFunction.capabilities(declaration.needs, props);
    const sendsTo = TaskFlowFunction.sendsTo(declaration, props.queues);
    for (const name of sendsTo) capabilities.environment[queueUrlVariable(name)] = props.queues!.queues[name]!.queueUrl;
    if (sendsTo.length > 0) capabilities.environment.OUTBOX_ROUTES = JSON.stringify(props.queues!.routes);
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
        // pg's optional native binding, and pgpass, which pg loads only for a connection without a password
        // (ours always have one: an IAM token, or the migrate function's secret), stay out; the AWS SDK v3
        // is bundled (pinned, tree-shaken).
        externalModules: ['pg-native', 'pgpass'],
        forceDockerBundling: false,
        ...(props.commandHooks ? { commandHooks: props.commandHooks } : {}),
      },
    });
    this.declaration = declaration;

    const needs = new Set<Capability>(declaration.needs);
    if (needs.has('database')) props.database!.proxy.grantConnect(this, Database.APP_USER);
    if (needs.has('idempotency')) props.idempotencyTable!.grantReadWriteData(this);
    // Conditional updates and a consistent read: all the limiter does.
    if (needs.has('rate-limits')) props.rateLimitTable!.grant(this, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    if (needs.has('files')) {
      // Uploads are signed for pending/ (presigned POST), confirmed ones copied to attachments/.
      for (const prefix of ['pending/*', 'attachments/*']) {
        props.filesBucket!.grantRead(this, prefix);
        props.filesBucket!.grantPut(this, prefix);
        props.filesBucket!.grantDelete(this, prefix);
      }
      const stack = Stack.of(this);
      const bucketId = stack.resolve(stack.getLogicalId(props.filesBucket!.node.defaultChild as s3.CfnBucket)) as string;
      acknowledgeNag(this, {
        id: 'AwsSolutions-IAM5',
        reason:
          'CDK\'s bucket grants, limited to the two attachment prefixes: object keys are per upload, so the resource ' +
          'is a prefix; the action groups (GetObject*, DeleteObject*, List*...) are what HEAD, copy, presigned GET and delete need.',
        appliesTo: [
          'Action::s3:Abort*', 'Action::s3:DeleteObject*', 'Action::s3:GetBucket*', 'Action::s3:GetObject*', 'Action::s3:List*',
          `Resource::<${bucketId}.Arn>/pending/*`, `Resource::<${bucketId}.Arn>/attachments/*`,
        ],
      });
    }
    if (needs.has('database-admin')) {
      props.database!.masterSecret.grantRead(this);
      props.database!.appSecret.grantRead(this);
    }
    if (sendsTo.length > 0) {
      for (const name of sendsTo) props.queues!.queues[name]!.grantSendMessages(this);
      // Security group rules are deduplicated: every function in the same group adds the same one.
      if (capabilities.placement.vpc) props.queues!.endpoint.connections.allowDefaultPortFrom(this, 'TaskFlow functions to SQS');
    }
    for (const [need, service] of Object.entries(THIRD_PARTY)) {
      if (needs.has(need as ThirdParty)) props.integrations![service.secret].grantRead(this);
    }
    if (needs.has('feed-probe')) props.integrations!.feedProbeCredentials.grantRead(this);
    if (needs.has('reports') || needs.has('reports-writer')) {
      // Downloaded through presigned links; written by the weekly job only.
      props.filesBucket!.grantRead(this, 'reports/*');
      if (needs.has('reports-writer')) props.filesBucket!.grantPut(this, 'reports/*');
      const stack = Stack.of(this);
      const bucketId = stack.resolve(stack.getLogicalId(props.filesBucket!.node.defaultChild as s3.CfnBucket)) as string;
      acknowledgeNag(this, {
        id: 'AwsSolutions-IAM5',
        reason:
          'CDK\'s bucket grants, limited to the reports/ prefix: one object per project and week, so the resource is a prefix; ' +
          'GetObject* and List* are what a presigned GET needs.',
        appliesTo: ['Action::s3:Abort*', 'Action::s3:GetBucket*', 'Action::s3:GetObject*', 'Action::s3:List*', `Resource::<${bucketId}.Arn>/reports/*`],
      });
    }
    if (needs.has('read-replica') && props.database!.readReplica) {
      props.database!.readReplica.grantConnect(this, Database.READ_USER);
    }
    if (needs.has('connections')) props.connectionsTable!.grantReadWriteData(this);
    if (needs.has('integrations')) {
      // Only the functions that call a service record its breaker's outcomes; the others read its state.
      if (callsThirdParty(needs)) props.integrationsTable!.grantReadWriteData(this);
      else props.integrationsTable!.grantReadData(this);
    }
    if (needs.has('queue-status')) {
      for (const [name, queue] of Object.entries(props.queues!.queues)) {
        for (const watched of [queue, props.queues!.deadLetterQueues?.[name]]) watched?.grant(this, 'sqs:GetQueueAttributes');
      }
      if (capabilities.placement.vpc) props.queues!.endpoint.connections.allowDefaultPortFrom(this, 'TaskFlow functions to SQS');
    }
    if (needs.has('websocket')) {
      const resources = [...props.webSocket!.manageConnectionsArns];
      this.addToRolePolicy(new iam.PolicyStatement({ actions: ['execute-api:ManageConnections'], resources }));
      acknowledgeNag(this, {
        id: 'AwsSolutions-IAM5',
        reason:
          'Posting to and closing WebSocket connections: connection ids are per connection, so the resource is the stage\'s ' +
          '@connections/* for each method the worker uses (POST, GET, DELETE), on this API and stage only.',
        appliesTo: resources.map((arn) => `Resource::${nagReference(Stack.of(this).resolve(arn))}`),
      });
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

  /** The declared queues a function sends to, each once; refuses a name that is not a declared queue. */
  private static sendsTo(declaration: FunctionDeclaration, queues: OutboxQueues | undefined): string[] {
    const names = [...new Set(declaration.sendsTo ?? [])];
    if (names.length === 0) return [];
    if (!queues) throw new Error(`${declaration.entry} sends to ${names.join(', ')}: it requires the queues construct`);
    const declared = Object.keys(queues.queues);
    const unknown = names.filter((name) => !Object.hasOwn(queues.queues, name));
    if (unknown.length > 0) {
      throw new Error(
        `${declaration.entry} sends to ${unknown.join(', ')}, which ${unknown.length === 1 ? 'is not a declared queue' : 'are not declared queues'} ` +
          `(declared: ${declared.join(', ') || 'none'})`,
      );
    }
    return names;
  }

  /** Environment and VPC placement from the declared needs. */
  private static capabilities(needs: readonly Capability[], props: TaskFlowFunctionProps): CapabilityConfig {
    const config: CapabilityConfig = { environment: {}, placement: {} };
    const { database, idempotencyTable, rateLimitTable, filesBucket, integrations, connectionsTable, integrationsTable, webSocket, apiUrl } = props;
    if (needs.some((need) => need.startsWith('database')) && !database) {
      throw new Error(`A function that needs ${needs.join(', ')} requires the database construct`);
    }
    if (needs.includes('idempotency') && !idempotencyTable) throw new Error('A function that needs idempotency requires the idempotency table');
    if (needs.includes('rate-limits') && !rateLimitTable) throw new Error('A function that needs rate-limits requires the rate-limit table');
    if (needs.includes('files') && !filesBucket) throw new Error('A function that needs files requires the files bucket');
    if ((needs.includes('reports') || needs.includes('reports-writer')) && !filesBucket) throw new Error('A function that needs reports requires the files bucket');
    if (needs.includes('read-replica') && !needs.includes('database')) {
      throw new Error('A function that needs read-replica needs database too: without a replica, its reads go to the primary');
    }
    if (needs.includes('database') && needs.includes('database-admin')) {
      throw new Error('A function needs either database (through the proxy) or database-admin (the instance), not both');
    }
    if (needs.includes('connections') && !connectionsTable) throw new Error('A function that needs connections requires the connections table');
    if (needs.includes('integrations') && !integrationsTable) throw new Error('A function that needs integrations requires the integrations table');
    const internet = needs.filter((need) => Object.hasOwn(THIRD_PARTY, need));
    if (internet.length > 0 && !integrations) throw new Error(`A function that needs ${internet.join(', ')} requires the integration settings`);
    const feed = needs.filter((need) => need === 'websocket' || need === 'feed-probe');
    if (feed.length > 0 && !webSocket) throw new Error(`A function that needs ${feed.join(', ')} requires the WebSocket settings`);
    if (needs.includes('feed-probe') && (!integrations || apiUrl === undefined)) {
      throw new Error('A function that needs feed-probe requires the integration settings (its credentials) and the REST API URL');
    }
    const inVpc = needs.filter((need) => need === 'database' || need === 'database-admin');
    if (internet.length > 0 && inVpc.length > 0) {
      throw new Error(
        `A function cannot need both ${inVpc.join(', ')} and ${internet.join(', ')}: the database is only reachable ` +
          'inside the VPC, which has no route to the internet (no NAT). Split it: one function reads the database and ' +
          'queues a message, another calls the third-party API.',
      );
    }
    if (feed.length > 0 && inVpc.length > 0) {
      throw new Error(
        `A function cannot need both ${inVpc.join(', ')} and ${feed.join(', ')}: the database is only reachable inside ` +
          'the VPC, and from the VPC neither the WebSocket API\'s @connections endpoint (no VPC endpoint serves it) nor the ' +
          'public WebSocket and REST URLs are reachable (no NAT). Split it: one function reads the database and queues a ' +
          'message, another posts to the connections.',
      );
    }
    for (const need of needs) {
      switch (need) {
        case 'idempotency':
          config.environment[tableNameVariable('idempotency')] = idempotencyTable!.tableName;
          break;
        case 'rate-limits':
          config.environment[tableNameVariable('rateLimits')] = rateLimitTable!.tableName;
          break;
        case 'files':
          config.environment.FILES_BUCKET_NAME = filesBucket!.bucketName;
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
        case 'slack':
        case 'sendgrid':
        case 'github':
        case 'google-calendar': {
          const service = THIRD_PARTY[need];
          config.paramsAndSecrets = INTEGRATION_SECRETS_EXTENSION;
          Object.assign(config.environment, {
            [service.urlVariable]: INTEGRATION_URLS[service.urlVariable],
            [`${service.secretVariable}_SECRET_ARN`]: integrations![service.secret].secretArn,
          });
          if (need === 'sendgrid') config.environment.NOTIFICATION_FROM_EMAIL = integrations!.notificationFromEmail;
          break;
        }
        case 'reports':
        case 'reports-writer':
          config.environment.FILES_BUCKET_NAME = filesBucket!.bucketName;
          break;
        case 'read-replica':
          // Without a replica the reads go to the primary through the proxy (DB_HOST).
          if (database?.readReplica) {
            config.environment.DB_READ_HOST = database.readReplica.dbInstanceEndpointAddress;
            config.environment.DB_READ_USER = Database.READ_USER;
          }
          break;
        case 'connections':
          config.environment[tableNameVariable('connections')] = connectionsTable!.tableName;
          break;
        case 'integrations':
          config.environment[tableNameVariable('integrations')] = integrationsTable!.tableName;
          break;
        case 'queue-status':
          if (!props.queues) throw new Error('A function that needs queue-status requires the queues construct');
          // Queue URLs are tokens without quotes: they stay intact inside the JSON and CloudFormation joins them.
          config.environment.QUEUE_STATUS = JSON.stringify(
            Object.fromEntries(
              Object.entries(props.queues.queues).map(([name, queue]) => [
                name,
                { url: queue.queueUrl, deadLetterUrl: props.queues!.deadLetterQueues?.[name]?.queueUrl ?? null, integration: props.queues!.integrations?.[name] ?? null },
              ]),
            ),
          );
          break;
        case 'websocket':
          config.environment.WEBSOCKET_MANAGEMENT_URL = webSocket!.managementUrl;
          break;
        case 'feed-probe':
          config.paramsAndSecrets = INTEGRATION_SECRETS_EXTENSION;
          Object.assign(config.environment, {
            WEBSOCKET_URL: webSocket!.url,
            API_URL: apiUrl!,
            FEED_PROBE_CREDENTIALS_SECRET_ARN: integrations!.feedProbeCredentials.secretArn,
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

/**
 * A resolved value as cdk-nag writes it in a finding (`Resource::…`): `{Ref: X}` is `<X>`, `{Fn::GetAtt: [X, A]}`
 * is `<X.A>`, joins are flattened. Acknowledgments name the exact resource, not a pattern.
 */
function nagReference(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = value as { 'Fn::Join'?: [string, unknown[]]; 'Fn::GetAtt'?: [string, string]; Ref?: string };
  if (node['Fn::Join']) return node['Fn::Join'][1].map(nagReference).join(node['Fn::Join'][0]);
  if (node['Fn::GetAtt']) return `<${node['Fn::GetAtt'][0]}.${node['Fn::GetAtt'][1]}>`;
  if (node.Ref) return `<${node.Ref}>`;
  throw new Error(`Cannot name ${JSON.stringify(value)} as cdk-nag does`);
}
